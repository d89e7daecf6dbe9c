"""Shared pytest set-up: the suite runs once per Keras backend (KERAS_BACKEND)."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
if os.environ["KERAS_BACKEND"] == "jax" and os.environ.get("KERAS_JEPA_TEST_CACHE"):
    # Most tests build the same tiny models, and each new model traces new step
    # functions, which JAX compiles again: XLA compiles are most of the JAX run. JAX's
    # persistent compilation cache keys an executable by the computation, not by the
    # Python function, so a step that an earlier test, the other pytest-xdist worker or
    # a CLI subprocess compiled is read back. Only for tests/run_all_backends.sh (which
    # sets KERAS_JEPA_TEST_CACHE and removes the folder after); set before JAX is
    # imported, so subprocesses inherit it.
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(
        os.environ["KERAS_JEPA_TEST_CACHE"], "jax_compilations"))
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
# Keep TensorFlow (used for tf.data on every backend) quiet and off accelerators.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.backend.backend()}"


def pytest_configure(config):
    # A skip not in tests/allowed_skips.txt fails the run (a missing test dependency
    # must not pass as green).
    import skip_allowlist

    skip_allowlist.register(config, keras.backend.backend())


def pytest_collection_modifyitems(config, items):
    # Tests marked `backend_independent` (numpy masking, theory maths, tf.data sources)
    # give the same result whatever KERAS_BACKEND is, so tests/run_all_backends.sh runs
    # them once: on the backend named by KERAS_JEPA_BACKEND_INDEPENDENT_ON. Without that
    # variable (a plain `pytest` run) every test runs.
    once_on = os.environ.get("KERAS_JEPA_BACKEND_INDEPENDENT_ON")
    if not once_on or once_on == keras.backend.backend():
        return
    kept, deselected = [], []
    for item in items:
        marked = item.get_closest_marker("backend_independent") is not None
        (deselected if marked else kept).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


@pytest.fixture(autouse=True)
def _seeded():
    # Seeding is enough for reproducible tests; clear_session() would cost up to half a
    # second per test on torch.
    keras.utils.set_random_seed(0)
    yield


@pytest.fixture(autouse=True)
def _tensorflow_steps_without_xla(request, monkeypatch):
    # On TensorFlow `compile()` picks XLA by default, on CPU too (what users get).
    # Compiling every tiny test model with XLA would double the TensorFlow run, so
    # tests get the plain tf.function step unless marked `xla_default` (the modules
    # that test the default path: compilation, in-step batch checks, cross-backend
    # equality) or unless they set `jit_compile` themselves. Subprocess runs (the CLI,
    # the distributed steps) keep the default.
    if keras.backend.backend() != "tensorflow" or request.node.get_closest_marker(
            "xla_default") is not None:
        yield
        return
    from keras_jepa.training.tensorflow_trainer import TensorFlowSelfSupervisedModel

    monkeypatch.setattr(TensorFlowSelfSupervisedModel, "_resolve_auto_jit_compile",
                        lambda self: False)
    yield


@pytest.fixture
def mixed_bfloat16():
    """The global dtype policy "mixed_bfloat16" for one test, restored afterwards."""
    previous = keras.config.dtype_policy()
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        yield
    finally:
        keras.mixed_precision.set_dtype_policy(previous)


@pytest.fixture
def backend():
    return keras.backend.backend()


@pytest.fixture
def rng():
    return np.random.default_rng(0)
