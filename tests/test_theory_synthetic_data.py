"""Synthetic (lam, rho) data: exact second moments, seeding, bad input."""

import numpy as np
import pytest

from keras_jepa import theory

# The same on every backend: run once by tests/run_all_backends.sh (tests/conftest.py).
pytestmark = pytest.mark.backend_independent


def _moments(x, y):
    n = x.shape[0]
    return x.T @ x / n, y.T @ x / n, y.T @ y / n


def test_two_view_data_has_exact_second_moments():
    lam = np.array([0.5, 1.0, 3.0, 2.0])
    rho = np.array([1.0, 0.25, 0.6, 1.5])  # the last one needs the rho > 1 form
    x, y = theory.make_two_view_data(lam, rho, num_samples=40, seed=3, dtype="float64")
    xx, yx, yy = _moments(x, y)
    np.testing.assert_allclose(xx, np.diag(lam / rho), atol=1e-12)
    np.testing.assert_allclose(yx, np.diag(lam), atol=1e-12)
    # The static model is symmetric in the two views where rho <= 1.
    np.testing.assert_allclose(np.diag(yy)[:3], (lam / rho)[:3], atol=1e-12)
    np.testing.assert_allclose(yy - np.diag(np.diag(yy)), 0.0, atol=1e-12)
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(theory.estimate_lam_rho(x, y), (lam, rho), rtol=1e-10)
    # A noise-free feature (rho = 1) has identical views.
    np.testing.assert_allclose(x[:, 0], y[:, 0], atol=1e-12)
    # float32 by default, still exact to float32 precision.
    x32, y32 = theory.make_two_view_data(lam, rho, num_samples=40, seed=3)
    assert x32.dtype == np.float32
    np.testing.assert_allclose(theory.estimate_lam_rho(x32, y32)[1], rho, rtol=1e-5)


def test_temporal_data_is_a_near_trajectory_with_exact_moments():
    lam, rho = np.array([0.9, 0.6]), np.array([0.9, 0.3])
    x, y = theory.make_temporal_data(lam, rho, num_samples=4000, seed=0, dtype="float64")
    xx, yx, yy = _moments(x, y)
    np.testing.assert_allclose(xx, np.diag(lam / rho), atol=1e-12)
    np.testing.assert_allclose(yx, np.diag(lam), atol=1e-12)
    np.testing.assert_allclose(yy, np.diag(lam / rho), atol=1e-12)
    # Consecutive pairs still chain: y[k] is (almost) x[k + 1].
    gap = np.abs(y[:-1] - x[1:]).max(axis=0) / np.sqrt(lam / rho)
    assert np.all(gap < 0.2)


def test_seeding():
    a = theory.make_two_view_data(1.0, [0.5, 0.9], num_samples=16, seed=7)
    b = theory.make_two_view_data(1.0, [0.5, 0.9], num_samples=16, seed=7)
    c = theory.make_two_view_data(1.0, [0.5, 0.9], num_samples=16, seed=8)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.allclose(a[0], c[0])
    d = theory.make_temporal_data(1.0, 0.5, num_samples=16, seed=7)
    e = theory.make_temporal_data(1.0, 0.5, num_samples=16, seed=7)
    np.testing.assert_array_equal(d[1], e[1])


def test_synthetic_data_rejects_bad_input():
    with pytest.raises(ValueError, match="`lam` must be > 0"):
        theory.make_two_view_data([1.0, 0.0], 0.5, num_samples=16)
    with pytest.raises(ValueError, match="`rho` must be > 0"):
        theory.make_two_view_data(1.0, -0.5, num_samples=16)
    with pytest.raises(ValueError, match="`num_samples` must be at least 7"):
        theory.make_two_view_data([1.0, 1.0], 0.5, num_samples=6)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        theory.make_temporal_data(1.0, 1.0, num_samples=16)
    with pytest.raises(ValueError, match="same shape"):
        theory.estimate_lam_rho(np.ones((4, 2)), np.ones((4, 3)))
