"""The same weights, batch and masks give the same loss and updated weights everywhere.

The backend under test runs in-process; the two others run the same script in
subprocesses (each backend is fixed per process).
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from cross_backend_step import run_step

# compile()'s default step on TensorFlow is XLA: these tests run it (conftest.py).
pytestmark = pytest.mark.xla_default

BACKENDS = ("jax", "tensorflow", "torch")
HERE = os.path.dirname(os.path.abspath(__file__))


def run_in_subprocess(backend, path):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, os.path.join(HERE, "cross_backend_step.py"), str(path)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{backend} failed:\n{done.stderr[-3000:]}"
    return dict(np.load(path))


def test_loss_and_updated_weights_agree_across_backends(backend, tmp_path):
    # run_all_backends.sh shares a cache folder between its three pytest runs, so each
    # backend's subprocess runs at most once per suite run.
    cache = os.environ.get("KERAS_JEPA_TEST_CACHE") or str(tmp_path)
    here = run_step()
    np.savez(os.path.join(cache, f"cross_backend_{backend}.npz"), **here)
    for other in BACKENDS:
        if other == backend:
            continue
        path = os.path.join(cache, f"cross_backend_{other}.npz")
        there = dict(np.load(path)) if os.path.exists(path) else run_in_subprocess(other, path)
        assert set(there) == set(here)
        assert here["loss"] == pytest.approx(there["loss"], abs=1e-4)
        assert here["fit_loss"] == pytest.approx(there["fit_loss"], abs=1e-4)
        for key in here:
            np.testing.assert_allclose(here[key], there[key], atol=1e-5, err_msg=f"{backend} vs {other}: {key}")
