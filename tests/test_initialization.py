"""The reference initialisations: the truncated normal of the reference's
`trunc_normal_` and the MAE reference's start (including its patch bias)."""

import math

import keras
import numpy as np
import pytest

from keras_jepa.models import MAE
from keras_jepa.models import MAEDecoder
from keras_jepa.models import ViTEncoder
from keras_jepa.models.initialization import ReferenceTruncatedNormal


def _draw(initializer, shape=(400, 500)):
    return keras.ops.convert_to_numpy(initializer(shape, dtype="float32"))


def test_bounds_far_out_give_the_plain_normal_std_unlike_keras_truncation():
    ours = _draw(ReferenceTruncatedNormal(stddev=0.02, seed=1))
    keras_own = _draw(keras.initializers.TruncatedNormal(stddev=0.02, seed=1))
    assert ours.std() == pytest.approx(0.02, rel=0.01)
    # Keras cuts at ±2σ: std 0.88σ; the reference's ±2 absolute bounds do not cut.
    assert keras_own.std() == pytest.approx(0.02 * 0.8796, rel=0.01)
    assert np.abs(ours).max() > 4 * 0.02


def test_near_bounds_truncate_with_the_truncated_normal_moments():
    values = _draw(ReferenceTruncatedNormal(mean=0.5, stddev=1.0, lower=-0.5, upper=1.5,
                                            seed=3))
    assert values.min() >= -0.5 and values.max() <= 1.5
    # Truncation at ±1σ around the mean: variance 1 − 2φ(1)/(2Φ(1) − 1).
    phi = math.exp(-0.5) / math.sqrt(2 * math.pi)
    mass = math.erf(1 / math.sqrt(2))
    assert values.std() == pytest.approx(math.sqrt(1 - 2 * phi / mass), rel=0.01)
    assert values.mean() == pytest.approx(0.5, abs=0.01)


def test_same_seed_same_draw_and_config_roundtrip():
    init = ReferenceTruncatedNormal(stddev=0.1, lower=-0.15, upper=0.2, seed=7)
    again = ReferenceTruncatedNormal.from_config(init.get_config())
    assert (again.lower, again.upper, again.stddev) == (-0.15, 0.2, 0.1)
    np.testing.assert_array_equal(_draw(init, (50, 50)), _draw(again, (50, 50)))
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(init))
    assert isinstance(restored, ReferenceTruncatedNormal)


@pytest.mark.parametrize("kwargs, match", [
    ({"stddev": 0.0}, "stddev"),
    ({"lower": 1.0, "upper": 1.0}, "lower"),
])
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ReferenceTruncatedNormal(**kwargs)


def test_encoder_kernels_have_the_reference_constructor_std():
    keras.utils.set_random_seed(0)
    encoder = ViTEncoder(image_size=16, patch_size=4, hidden_dim=192, depth=2, num_heads=3,
                         num_channels=3)
    kernels = {v.path: keras.ops.convert_to_numpy(v) for v in encoder.weights
               if v.path.endswith("kernel")}
    stds = {path: value.std() for path, value in kernels.items()}
    patch = [s for p, s in stds.items() if "patch_embedding" in p]
    assert patch[0] == pytest.approx(0.02, rel=0.05)
    # Depth scaling: the residual-writing kernels of block i are 0.02 / sqrt(2 (i + 1)).
    scaled = sorted(s for p, s in stds.items() if s < 0.018)
    expected = sorted([0.02 / math.sqrt(2)] * 2 + [0.02 / 2] * 2)
    np.testing.assert_allclose(scaled, expected, rtol=0.05)


def test_mae_reference_init_draws_the_patch_bias_as_pytorch_conv2d():
    keras.utils.set_random_seed(0)
    encoder = ViTEncoder(image_size=16, patch_size=4, hidden_dim=192, depth=1, num_heads=3,
                         num_channels=3)
    decoder = MAEDecoder.for_encoder(encoder, hidden_dim=32, depth=1, num_heads=2)
    model = MAE(encoder, decoder, init="reference", seed=0)
    bias = keras.ops.convert_to_numpy(model.encoder.patch_embedding.projection.bias)
    limit = 1 / math.sqrt(4 * 4 * 3)
    assert np.abs(bias).max() <= limit
    assert bias.std() == pytest.approx(limit / math.sqrt(3), rel=0.15)
    # Every other bias is zero, as the reference's Linear init sets it.
    others = [v for v in model.trainable_weights
              if v.path.endswith("bias") and "patch_embedding" not in v.path]
    assert others and all(not np.any(keras.ops.convert_to_numpy(v)) for v in others)
