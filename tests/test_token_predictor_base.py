"""`JEPAPredictor` and `MAEDecoder` share `TokenPredictor`; their layout and configs stay put.

The weight paths and their order are what checkpoints are keyed by, and the config keys
what saved configs are read back with: both are pinned here.
"""

import keras
import numpy as np
import pytest

from keras_jepa.models import JEPAPredictor
from keras_jepa.models import MAEDecoder
from keras_jepa.models.token_predictor import TokenPredictor

BLOCK_0 = [
    f"block_0/{layer}/{weight}"
    for layer, weights in [
        ("attention_norm", ("gamma", "beta")),
        ("qkv", ("kernel", "bias")),
        ("attention_output", ("kernel", "bias")),
        ("mlp_norm", ("gamma", "beta")),
        ("mlp_hidden", ("kernel", "bias")),
        ("mlp_output", ("kernel", "bias")),
    ]
    for weight in weights
]
SHARED_KEYS = ["num_patches", "input_dim", "hidden_dim", "depth", "num_heads"]
BLOCK_KEYS = ["mlp_ratio", "grid_size", "qkv_bias", "layer_norm_epsilon", "init_std"]


def _predictor(**kwargs):
    return JEPAPredictor(grid_size=(3, 5), input_dim=8, hidden_dim=8, depth=1, num_heads=2,
                         **kwargs)


def _decoder(**kwargs):
    return MAEDecoder(grid_size=(3, 5), input_dim=8, hidden_dim=8, depth=1, num_heads=2,
                      patch_size=2, num_channels=3, **kwargs)


def _predictor_inputs(rng):
    tokens = rng.standard_normal((2, 4, 8)).astype("float32")
    context = np.stack([rng.permutation(15)[:4] for _ in range(2)]).astype("int32")
    targets = np.stack([[rng.permutation(15)[:3] for _ in range(2)] for _ in range(2)])
    return tokens, context, targets.astype("int32")


def _decoder_inputs(rng):
    order = np.stack([rng.permutation(15) for _ in range(2)]).astype("int32")
    return rng.standard_normal((2, 6, 8)).astype("float32"), order[:, :6], order[:, 6:]


def test_both_share_the_base_and_keep_their_registered_names():
    assert issubclass(JEPAPredictor, TokenPredictor)
    assert issubclass(MAEDecoder, TokenPredictor)
    assert keras.saving.get_registered_name(JEPAPredictor) == "keras_jepa>JEPAPredictor"
    assert keras.saving.get_registered_name(MAEDecoder) == "keras_jepa>MAEDecoder"
    assert keras.saving.get_registered_object("keras_jepa>TokenPredictor") is None


@pytest.mark.parametrize(
    "make, head, extra_keys, head_units",
    [
        (_predictor, "output_projection", [], 8),
        (_decoder, "head", ["patch_size", "num_channels"], 12),
    ],
)
def test_weight_layout_and_config_keys(make, head, extra_keys, head_units):
    model = make(name="model")
    paths = [v.path for v in model.weights]
    assert paths == [
        f"model/{p}"
        for p in ["mask_token", "input_projection/kernel", "input_projection/bias", *BLOCK_0,
                  "norm/gamma", "norm/beta", f"{head}/kernel", f"{head}/bias"]
    ]
    assert tuple(model.mask_token.shape) == (1, 1, 8)
    assert tuple(getattr(model, head).kernel.shape) == (8, head_units)
    config = model.get_config()
    assert list(config) == ["name", "trainable", "dtype", *SHARED_KEYS, *extra_keys,
                            *BLOCK_KEYS]
    assert config["grid_size"] == (3, 5) and config["num_patches"] == 15


@pytest.mark.parametrize(
    "make, inputs", [(_predictor, _predictor_inputs), (_decoder, _decoder_inputs)]
)
def test_serialize_round_trip_gives_identical_outputs(make, inputs, rng):
    model = make(mlp_ratio=2.0, qkv_bias=False, init_std=0.05, trainable=False)
    args = inputs(rng)
    serialized = keras.saving.serialize_keras_object(model)
    clone = keras.saving.deserialize_keras_object(serialized)
    assert type(clone) is type(model)
    assert clone.get_config() == model.get_config()
    assert not clone.trainable and not clone.trainable_weights
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(clone(*args)), keras.ops.convert_to_numpy(model(*args)),
        rtol=0, atol=1e-6,
    )
