"""Skips outside tests/allowed_skips.txt fail the run (issue 15, tests/skip_allowlist.py)."""

import os
import pathlib
import subprocess
import sys
import textwrap

import pytest
import skip_allowlist

HERE = pathlib.Path(__file__).resolve().parent
BACKENDS = {"jax", "tensorflow", "torch"}

# The same on every backend: run once by tests/run_all_backends.sh (tests/conftest.py).
pytestmark = pytest.mark.backend_independent


def test_every_allowed_skip_names_a_test_file_backends_and_a_reason():
    entries = skip_allowlist.read_allowed_skips(skip_allowlist.DEFAULT_FILE)
    assert entries
    for pattern, backends, reason in entries:
        assert pattern.startswith("tests/test_") and "::" in pattern, pattern
        assert backends is None or backends <= BACKENDS, (pattern, backends)
        assert len(reason) > 20, pattern  # a reason, not a word
    # Optional dependencies are never a legitimate reason.
    text = " ".join(reason for _, _, reason in entries).lower()
    assert "not installed" not in text and "needs torch" not in text


def test_patterns_match_parametrized_ids_literally():
    assert skip_allowlist.matches("tests/test_a.py::test_b[20]", "tests/test_a.py::test_b[*]")
    assert not skip_allowlist.matches("tests/test_a.py::test_b", "tests/test_a.py::test_b[*]")
    assert not skip_allowlist.matches("tests/test_a.py::test_bc", "tests/test_a.py::test_b")


def test_malformed_entries_are_a_usage_error(tmp_path):
    path = tmp_path / "allowed.txt"
    path.write_text("tests/test_a.py::test_b | jax\n")
    with pytest.raises(pytest.UsageError, match="allowed.txt:1: expected"):
        skip_allowlist.read_allowed_skips(str(path))


INNER_TESTS = '''
import pytest

def test_passes():
    pass

def test_backend_specific():
    pytest.skip("only on another backend")

def test_needs_an_optional_dependency():
    pytest.importorskip("no_such_module_keras_jepa")

@pytest.mark.xfail(reason="known")
def test_expected_failure():
    raise AssertionError
'''

INNER_CONFTEST = '''
import skip_allowlist

def pytest_configure(config):
    skip_allowlist.register(config, "jax")
'''


def _run_inner(tmp_path, allowed, **env):
    (tmp_path / "test_inner.py").write_text(INNER_TESTS)
    (tmp_path / "conftest.py").write_text(INNER_CONFTEST)
    allow_list = tmp_path / "allowed.txt"
    allow_list.write_text(textwrap.dedent(allowed))
    environment = {key: value for key, value in os.environ.items()
                   if key != "KERAS_JEPA_ALLOW_SKIPS"}
    environment.update({"PYTHONPATH": str(HERE),
                        "KERAS_JEPA_ALLOWED_SKIPS_FILE": str(allow_list), **env})
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_inner.py"],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120)


def test_an_unlisted_skip_fails_the_run_and_is_named(tmp_path):
    result = _run_inner(tmp_path, """\
        test_inner.py::test_backend_specific | jax | runs on another backend only
    """)
    assert result.returncode == 1, result.stdout
    assert "skips outside the allow-list" in result.stdout
    assert "test_inner.py::test_needs_an_optional_dependency (KERAS_BACKEND=jax): " \
           "Skipped: could not import 'no_such_module_keras_jepa'" in result.stdout
    assert "test_backend_specific (KERAS" not in result.stdout  # allowed
    assert "1 passed, 2 skipped, 1 xfailed" in result.stdout


def test_listed_skips_keep_the_run_green(tmp_path):
    result = _run_inner(tmp_path, """\
        # both skips are allowed on jax
        test_inner.py::test_* | jax, torch | allowed for this test of the allow-list
    """)
    assert result.returncode == 0, result.stdout
    assert "skips outside the allow-list" not in result.stdout


def test_an_entry_for_another_backend_does_not_allow_the_skip(tmp_path):
    result = _run_inner(tmp_path, """\
        test_inner.py::test_* | torch | allowed on torch only
    """)
    assert result.returncode == 1, result.stdout


def test_allow_skips_reports_without_failing(tmp_path):
    result = _run_inner(tmp_path, "", KERAS_JEPA_ALLOW_SKIPS="1")
    assert result.returncode == 0, result.stdout
    assert "reported only (KERAS_JEPA_ALLOW_SKIPS=1)" in result.stdout


class _Item:
    def __init__(self, name, marked):
        self.name, self.marked = name, marked

    def get_closest_marker(self, name):
        return object() if self.marked and name == "backend_independent" else None


def _select(monkeypatch, once_on, backend="torch"):
    import conftest

    monkeypatch.setattr(conftest.keras.backend, "backend", lambda: backend)
    if once_on is None:
        monkeypatch.delenv("KERAS_JEPA_BACKEND_INDEPENDENT_ON", raising=False)
    else:
        monkeypatch.setenv("KERAS_JEPA_BACKEND_INDEPENDENT_ON", once_on)
    deselected = []
    config = type("Config", (), {"hook": type("Hook", (), {
        "pytest_deselected": staticmethod(lambda items: deselected.extend(items))})})
    items = [_Item("numpy", True), _Item("model", False)]
    conftest.pytest_collection_modifyitems(config, items)
    return [i.name for i in items], [i.name for i in deselected]


def test_backend_independent_tests_run_on_one_backend_only(monkeypatch):
    # run_all_backends.sh names the first backend: the others skip the marked tests.
    assert _select(monkeypatch, "jax", backend="torch") == (["model"], ["numpy"])
    assert _select(monkeypatch, "torch", backend="torch") == (["numpy", "model"], [])
    # A plain pytest run (no variable) runs everything.
    assert _select(monkeypatch, None) == (["numpy", "model"], [])


def test_run_all_backends_names_the_first_backend():
    script = (HERE / "run_all_backends.sh").read_text()
    assert "KERAS_JEPA_BACKEND_INDEPENDENT_ON=${KERAS_JEPA_BACKEND_INDEPENDENT_ON:-${backends%% *}}" \
        in script
