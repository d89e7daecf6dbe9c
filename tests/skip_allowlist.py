"""A test run fails when a test skips for a reason nobody allowed (issue 15).

A missing optional dependency (torch, transformers, tensorboard) used to make tests
skip while the run stayed green. Every skip is now compared with the entries of
`tests/allowed_skips.txt`; a skip that matches none (its node id, the Keras backend)
is listed at the end of the run and the run's exit status is 1, even when every test
that ran passed. xfails are not skips.

Entries are lines `NODEID-GLOB | BACKENDS | REASON`: a pattern on the node id
(`tests/test_file.py::test_name[param]`; `*` matches any text, the rest is literal), the Keras backends the skip is legitimate on
(comma-separated, or `*`), and why (required). Set `KERAS_JEPA_ALLOW_SKIPS=1` to report
unexpected skips without failing (e.g. on a machine without the test extras), and
`KERAS_JEPA_ALLOWED_SKIPS_FILE` to read another list.

Loaded by `tests/conftest.py`; under pytest-xdist the controlling process, which gets
every worker's reports, decides.
"""

import os
import re

import pytest

DEFAULT_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "allowed_skips.txt")
FORMAT = "NODEID-GLOB | BACKENDS | REASON"


def read_allowed_skips(path):
    """`[(pattern, backends or None for all, reason)]` from an allow-list file."""
    entries = []
    with open(path) as f:
        for number, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = [part.strip() for part in line.split("|")]
            if len(parts) != 3 or not all(parts):
                raise pytest.UsageError(
                    f"{path}:{number}: expected '{FORMAT}' with a reason, got {line!r}")
            pattern, backends, reason = parts
            names = None if backends == "*" else {b.strip() for b in backends.split(",")}
            entries.append((pattern, names, reason))
    return entries


def matches(nodeid, pattern):
    """Whether `nodeid` matches `pattern`, where `*` is any text and all else literal.

    (Not fnmatch: its `[...]` classes would swallow the brackets of parametrized ids.)
    """
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, nodeid) is not None


def is_allowed(nodeid, backend, entries):
    return any(matches(nodeid, pattern) and (names is None or backend in names)
               for pattern, names, _ in entries)


def _skip_reason(report):
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


class SkipAllowList:
    def __init__(self, path, backend):
        self.path = path
        self.backend = backend
        self.entries = read_allowed_skips(path)
        self.unexpected = []

    def pytest_runtest_logreport(self, report):
        if not report.skipped or hasattr(report, "wasxfail"):
            return
        if not is_allowed(report.nodeid, self.backend, self.entries):
            self.unexpected.append((report.nodeid, _skip_reason(report)))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session):
        if self.unexpected and not _allow_all() and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter):
        if not self.unexpected:
            return
        terminalreporter.section("skips outside the allow-list", red=not _allow_all())
        for nodeid, reason in self.unexpected:
            terminalreporter.line(f"{nodeid} (KERAS_BACKEND={self.backend}): {reason}")
        verdict = ("reported only (KERAS_JEPA_ALLOW_SKIPS=1)" if _allow_all() else
                   "the run fails (exit status 1)")
        terminalreporter.line(
            f"{len(self.unexpected)} test(s) skipped for a reason not in {self.path}: "
            f"{verdict}. Install what they need (python -m pip install -e '.[dev]'), or "
            f"add a line '{FORMAT}' if the skip is legitimate.")


def _allow_all():
    return os.environ.get("KERAS_JEPA_ALLOW_SKIPS", "") not in ("", "0")


def register(config, backend):
    """Registers the check on `config` (in the controlling process only, under xdist)."""
    if hasattr(config, "workerinput"):  # a pytest-xdist worker: the controller decides
        return
    path = os.environ.get("KERAS_JEPA_ALLOWED_SKIPS_FILE", DEFAULT_FILE)
    config.pluginmanager.register(SkipAllowList(path, backend), "keras_jepa_skip_allowlist")
