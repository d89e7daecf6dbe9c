"""The noisy-feature distractor realises the (λ, ρ) it promises."""

import numpy as np
import pytest

from keras_jepa.data.distractors import add_patch_distractor

# The same on every backend: run once by tests/run_all_backends.sh (tests/conftest.py).
pytestmark = pytest.mark.backend_independent


def _amplitudes(distractor, patch_size):
    # The checkerboard sign of the top-left pixel is +1: the amplitude of each patch.
    return distractor[:, ::patch_size, ::patch_size, 0]


def test_variance_and_cross_patch_correlation():
    images = np.zeros((4000, 8, 8, 1), "float32")
    strength, rho = 1.5, 0.3
    distractor = add_patch_distractor(images, patch_size=2, strength=strength,
                                      predictability=rho, seed=1)
    np.testing.assert_allclose(distractor.var(), strength**2, rtol=0.05)
    amplitudes = _amplitudes(distractor, 2).reshape(len(images), -1)
    # Two different patches: covariance strength² ρ (λ), correlation ρ.
    a, b = amplitudes[:, 0], amplitudes[:, 9]
    np.testing.assert_allclose(np.mean(a * b), strength**2 * rho, atol=0.12)
    np.testing.assert_allclose(np.corrcoef(a, b)[0, 1], rho, atol=0.05)
    # Regression coefficient of one patch's amplitude on another's = ρ.
    np.testing.assert_allclose(np.mean(a * b) / np.mean(a * a), rho, atol=0.05)


def test_patch_means_unchanged_and_seeded():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (16, 8, 8, 1)).astype("float32")
    noisy = add_patch_distractor(images, patch_size=2, strength=2.0, seed=3)
    patch_means = lambda x: x.reshape(16, 4, 2, 4, 2).mean(axis=(2, 4))  # noqa: E731
    np.testing.assert_allclose(patch_means(noisy), patch_means(images), atol=1e-5)
    assert not np.allclose(noisy, images)
    np.testing.assert_array_equal(noisy, add_patch_distractor(images, 2, 2.0, seed=3))
    assert not np.allclose(noisy, add_patch_distractor(images, 2, 2.0, seed=4))
    np.testing.assert_array_equal(add_patch_distractor(images, 2, 0.0), images)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"strength": -1.0}, "strength"),
        ({"predictability": 0.0}, "predictability"),
        ({"patch_size": 3}, "patch_size"),
    ],
)
def test_bad_input(kwargs, match):
    arguments = {"patch_size": 2, "strength": 1.0, **kwargs}
    with pytest.raises(ValueError, match=match):
        add_patch_distractor(np.zeros((2, 8, 8, 1)), **arguments)
