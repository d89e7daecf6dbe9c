"""Every layer and network of keras_jepa through the one harness (tests/harness.py)."""

import numpy as np
import pytest
from harness import run_layer_test
from harness import run_model_test

from keras_jepa import layers
from keras_jepa import models

RNG = np.random.default_rng(0)
IMAGES = RNG.normal(size=(2, 8, 8, 1)).astype("float32")
TOKENS = RNG.normal(size=(2, 16, 16)).astype("float32")
CONTEXT = RNG.normal(size=(2, 5, 16)).astype("float32")
CONTEXT_INDICES = np.stack([RNG.permutation(16)[:5] for _ in range(2)]).astype("int32")
# Two target blocks of 3 tokens per image.
TARGET_INDICES = np.stack([RNG.permutation(16)[:6].reshape(2, 3) for _ in range(2)]).astype(
    "int32")
MASKED_INDICES = np.stack([np.setdiff1d(np.arange(16), row)
                           for row in CONTEXT_INDICES]).astype("int32")


def _encoder(**kwargs):
    return models.ViTEncoder(image_size=8, patch_size=2, num_channels=1, hidden_dim=16,
                             depth=1, num_heads=2, **kwargs)


CASES = {
    "TransformerBlock": (lambda **kw: layers.TransformerBlock(hidden_dim=16, num_heads=2, **kw),
                         [TOKENS], (2, 16, 16)),
    "PatchEmbedding": (lambda **kw: layers.PatchEmbedding(patch_size=2, hidden_dim=16, **kw),
                       [IMAGES], (2, 16, 16)),
    "SinCosPositionEmbedding": (
        lambda **kw: layers.SinCosPositionEmbedding(grid_size=4, hidden_dim=16, **kw),
        [TOKENS], (2, 16, 16)),
    "ViTEncoder": (_encoder, [IMAGES], (2, 16, 16)),
    "JEPAPredictor": (
        lambda **kw: models.JEPAPredictor(num_patches=16, input_dim=16, hidden_dim=8,
                                          depth=1, num_heads=2, **kw),
        [CONTEXT, CONTEXT_INDICES, TARGET_INDICES], (2, 2, 3, 16)),
    "MAEDecoder": (
        lambda **kw: models.MAEDecoder(num_patches=16, input_dim=16, hidden_dim=8, depth=1,
                                       num_heads=2, patch_size=2, num_channels=1, **kw),
        [CONTEXT, CONTEXT_INDICES, MASKED_INDICES], (2, 16, 4)),
    "ImageClassifier": (
        lambda **kw: models.ImageClassifier(_encoder(**kw), num_classes=3),
        [IMAGES], (2, 3)),
}
# Fixed sin-cos positions have no trainable weight.
NOT_TRAINED = {"SinCosPositionEmbedding"}
# A functional model around its encoder: mixed precision comes from the encoder's
# policy or the global one, not from a `dtype` of its own.
NO_DTYPE_ARGUMENT = {"ImageClassifier"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_contract(name, tmp_path):
    make, inputs, shape = CASES[name]
    run_layer_test(make, inputs, shape, tmp_path, training=name not in NOT_TRAINED,
                   precision=name not in NO_DTYPE_ARGUMENT)


# === Whole models: IJEPA and MAE through run_model_test ===


def _ijepa(**kwargs):
    encoder = _encoder()
    predictor = models.JEPAPredictor.for_encoder(encoder, hidden_dim=8, depth=1, num_heads=2)
    return models.IJEPA(encoder, predictor, total_steps=10, **kwargs)


def _mae(**kwargs):
    return models.MAE(_encoder(), mask_ratio=0.5, seed=3, **kwargs)


IJEPA_BATCH = {
    "images": IMAGES,
    "context_indices": CONTEXT_INDICES,
    "target_indices": TARGET_INDICES,
    "target_weights": np.ones(TARGET_INDICES.shape, "float32"),
}

MODEL_CASES = {
    # (make, data, the shape of model(data)): predictions [B, targets, tokens, D];
    # reconstructions [B, H, W, C].
    "IJEPA": (_ijepa, IJEPA_BATCH, (2, 2, 3, 16)),
    "MAE": (_mae, IMAGES, (2, 8, 8, 1)),
}


@pytest.mark.parametrize("name", sorted(MODEL_CASES))
def test_model_contract(name, tmp_path):
    make, data, shape = MODEL_CASES[name]
    run_model_test(make, data, shape, tmp_path)
