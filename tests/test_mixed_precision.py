"""`mixed_bfloat16`: bf16 compute, float32 weights, optimizer state and EMA target.

Two supported ways: the global policy (`keras.mixed_precision.set_dtype_policy`, set
before the model is built), or `dtype="mixed_bfloat16"` on the encoder and the predictor
(the target encoder copies the encoder's config, policy included).
"""

import keras
import numpy as np
import pytest
from helpers import random_batch
from helpers import set_seeded_weights
from helpers import tiny_ijepa

from keras_jepa.models import IJEPA
from keras_jepa.models import JEPAPredictor
from keras_jepa.models import ViTEncoder

# bf16 keeps 8 significant bits (relative rounding 2^-9 ≈ 0.2% per value); the loss goes
# through matmuls, softmaxes and LayerNorms whose roundings partly cancel in the mean
# (measured: 0.1% on this model). 1% leaves room for other backends' kernels and still
# fails when a part of the loss is computed or compared at the wrong precision or scale.
LOSS_RTOL = 0.01


def loss_of(model, batch):
    return float(keras.ops.convert_to_numpy(model.compute_ssl_loss(batch, training=False)[0]))


def dtypes(variables):
    return {keras.backend.standardize_dtype(v.dtype) for v in variables}


def test_bf16_fit_keeps_float32_state_and_float32_ema(mixed_bfloat16, rng):
    model = tiny_ijepa(momentum=0.8, total_steps=4)
    assert model.context_encoder.compute_dtype == "bfloat16"
    assert model.target_encoder.compute_dtype == "bfloat16"
    assert model.predictor.compute_dtype == "bfloat16"
    set_seeded_weights(model, seed=3)
    target_before = [keras.ops.convert_to_numpy(v) for v in model.target_encoder.weights]
    batch = random_batch(rng)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.5))
    history = model.fit(batch, batch_size=3, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])
    assert dtypes(model.weights) == {"float32"}
    assert dtypes(model.target_encoder.weights) == {"float32"}
    float_state = [v for v in model.optimizer.variables if "int" not in str(v.dtype)]
    assert float_state and dtypes(float_state) == {"float32"}
    # The target update is done in float32: it equals m·t + (1 − m)·c computed in numpy
    # float32 to float32 rounding (bf16 arithmetic would be off by ~1e-3).
    momentum = np.float32(0.8)
    for before, target, context in zip(target_before, model.target_encoder.weights,
                                       model.context_encoder.weights):
        expected = before * momentum + keras.ops.convert_to_numpy(context) * (1 - momentum)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(target), expected,
                                   rtol=1e-6, atol=1e-7)


def test_bf16_loss_is_close_to_float32_on_the_same_weights(rng):
    batch = random_batch(rng)
    reference = tiny_ijepa(total_steps=4)
    set_seeded_weights(reference, seed=5)
    fp32_loss = loss_of(reference, batch)
    previous = keras.config.dtype_policy()
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        mixed = tiny_ijepa(total_steps=4)
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
    set_seeded_weights(mixed, seed=5)  # the same float32 values
    # Per-model policy, under the float32 global policy: same loss as the global policy.
    encoder = ViTEncoder(image_size=8, patch_size=2, hidden_dim=16, depth=2, num_heads=2,
                         num_channels=1, dtype="mixed_bfloat16")
    predictor = JEPAPredictor.for_encoder(encoder, hidden_dim=8, depth=1, num_heads=2,
                                          dtype="mixed_bfloat16")
    per_model = IJEPA(encoder, predictor, total_steps=4)
    assert per_model.target_encoder.compute_dtype == "bfloat16"
    assert dtypes(per_model.weights) == {"float32"}
    set_seeded_weights(per_model, seed=5)

    for model in (mixed, per_model):
        bf16_loss = loss_of(model, batch)
        assert np.isfinite(bf16_loss)
        assert bf16_loss == pytest.approx(fp32_loss, rel=LOSS_RTOL)
        assert bf16_loss != fp32_loss  # bf16 really ran
    assert keras.config.dtype_policy().name == "float32"


def test_policy_is_restored_after_the_mixed_precision_tests():
    # Last in the file: the tests above set mixed_bfloat16 and must have restored it.
    assert keras.config.dtype_policy().name == "float32"
    assert tiny_ijepa(total_steps=1).context_encoder.compute_dtype == "float32"
