"""SIGReg and VICReg terms, and IJEPA's regularizer options (the study's controls)."""

import numpy as np
import pytest
from helpers import random_batch
from helpers import set_seeded_weights
from helpers import tiny_ijepa
from keras import ops

from keras_jepa.models import IJEPA
from keras_jepa.models import feature_regularizers as fr


def numpy_sigreg(z, directions):
    """The sliced Epps–Pulley statistic, written out from its definition."""
    t = np.linspace(0.0, 4.0, 17)
    step = t[1] - t[0]
    trapezoid = np.full(17, step)
    trapezoid[[0, -1]] = step / 2
    x = z.astype(np.float64) @ directions.astype(np.float64)  # [B, K]
    total = 0.0
    for k in range(x.shape[1]):
        phi = np.exp(1j * np.outer(x[:, k], t)).mean(0)  # empirical characteristic fn
        gap = np.abs(phi - np.exp(-t**2 / 2)) ** 2
        total += 2 * np.sum(gap * np.exp(-t**2 / 2) * trapezoid)
    return len(z) * total / x.shape[1]


def numpy_vicreg(z):
    z = z.astype(np.float64) - z.mean(0)
    covariance = z.T @ z / (len(z) - 1)
    hinge = np.maximum(0.0, 1.0 - np.sqrt(np.diag(covariance) + 1e-4)).mean()
    off = (covariance**2).sum() - (np.diag(covariance) ** 2).sum()
    return hinge + off / z.shape[1]


def test_sigreg_matches_its_definition_and_prefers_a_standard_gaussian():
    rng = np.random.default_rng(0)
    directions = fr.sigreg_directions(16, num_directions=32, seed=3)
    np.testing.assert_allclose(np.linalg.norm(directions, axis=0), 1.0, rtol=1e-5)
    gaussian = rng.standard_normal((256, 16)).astype("float32")
    for z in (gaussian, 0.2 * gaussian + 1.0):
        assert float(fr.sigreg(z, directions)) == pytest.approx(numpy_sigreg(z, directions),
                                                                rel=1e-4)
    # Samples of N(0, I) score O(1); shrunk, shifted or collapsed features score far more.
    healthy = float(fr.sigreg(gaussian, directions))
    assert healthy < 3.0
    for bad in (0.1 * gaussian, gaussian + 2.0, np.zeros_like(gaussian),
                np.repeat(gaussian[:, :1], 16, axis=1)):
        assert float(fr.sigreg(bad, directions)) > 10 * healthy


def test_vicreg_matches_its_definition():
    rng = np.random.default_rng(1)
    for z in (rng.standard_normal((64, 8)), 0.1 * rng.standard_normal((64, 8)),
              np.repeat(rng.standard_normal((64, 1)), 8, axis=1)):
        z = z.astype("float32")
        assert float(fr.vicreg_variance_covariance(z)) == pytest.approx(numpy_vicreg(z),
                                                                        rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("regularizer", ["vicreg", "sigreg"])
def test_ijepa_adds_the_weighted_term_and_logs_both_parts(rng, regularizer):
    batch = random_batch(rng)
    plain = tiny_ijepa()
    set_seeded_weights(plain, seed=2)
    base, _ = plain.compute_ssl_loss(batch, training=False)
    model = tiny_ijepa(regularizer=regularizer, regularizer_weight=0.3, prediction_weight=2.0)
    set_seeded_weights(model, seed=2)
    loss, logs = model.compute_ssl_loss(batch, training=False)
    assert float(logs["prediction_loss"]) == pytest.approx(float(base), rel=1e-6)
    context = model.context_encoder(batch["images"], token_indices=batch["context_indices"])
    pooled = ops.convert_to_numpy(ops.mean(context, axis=1))
    expected_term = (numpy_vicreg(pooled) if regularizer == "vicreg"
                     else numpy_sigreg(pooled, model._sigreg_directions))
    assert float(logs["regularizer_loss"]) == pytest.approx(expected_term, rel=1e-4)
    assert float(loss) == pytest.approx(2.0 * float(base) + 0.3 * expected_term, rel=1e-4)


def test_the_control_ignores_the_prediction(rng):
    batch = random_batch(rng)
    model = tiny_ijepa(regularizer="sigreg", regularizer_weight=0.5, prediction_weight=0.0)
    loss, logs = model.compute_ssl_loss(batch, training=False)
    assert float(loss) == pytest.approx(0.5 * float(logs["regularizer_loss"]), rel=1e-6)
    # Scrambling the targets changes the prediction loss, not the control's loss.
    moved = dict(batch, target_indices=(batch["target_indices"] + 1) % 16)
    loss_moved, logs_moved = model.compute_ssl_loss(moved, training=False)
    assert float(loss_moved) == pytest.approx(float(loss), rel=1e-6)
    assert float(logs_moved["prediction_loss"]) != pytest.approx(
        float(logs["prediction_loss"]), rel=1e-6)


def test_regularizer_options_round_trip_and_bad_values_are_named():
    model = tiny_ijepa(regularizer="sigreg", regularizer_weight=0.05, prediction_weight=0.0)
    clone = IJEPA.from_config(model.get_config())
    assert (clone.regularizer, clone.regularizer_weight, clone.prediction_weight) == (
        "sigreg", 0.05, 0.0)
    np.testing.assert_array_equal(clone._sigreg_directions, model._sigreg_directions)
    with pytest.raises(ValueError, match="`regularizer`"):
        tiny_ijepa(regularizer="barlow")
    with pytest.raises(ValueError, match="`regularizer_weight`"):
        tiny_ijepa(regularizer="sigreg", regularizer_weight=-1.0)
    with pytest.raises(ValueError, match="`prediction_weight`"):
        tiny_ijepa(prediction_weight="1")
    with pytest.raises(ValueError, match="no objective"):
        tiny_ijepa(prediction_weight=0.0)
