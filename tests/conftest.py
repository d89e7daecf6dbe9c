"""Shared pytest set-up: the suite runs once per Keras backend (KERAS_BACKEND)."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
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
def backend():
    return keras.backend.backend()


@pytest.fixture
def rng():
    return np.random.default_rng(0)
