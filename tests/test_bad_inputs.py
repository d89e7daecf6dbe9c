"""No silent wrong result (issue 15): bad arguments and data get errors naming them.

Every case runs on each Keras backend (the suite runs once per KERAS_BACKEND).
"""

import math

import numpy as np
import pytest

from keras_jepa.layers import TransformerBlock
from keras_jepa.models import IJEPA
from keras_jepa.models import MAE
from keras_jepa.models import JEPAPredictor
from keras_jepa.models import MAEDecoder
from keras_jepa.models import ViTEncoder
from helpers import tiny_encoder


def _predictor(**overrides):
    return JEPAPredictor(**{**dict(num_patches=16, input_dim=16, hidden_dim=8, depth=1,
                                   num_heads=2), **overrides})


def _decoder(**overrides):
    return MAEDecoder(**{**dict(num_patches=16, input_dim=16, hidden_dim=8, depth=1,
                                num_heads=2, patch_size=2, num_channels=1), **overrides})


def _ijepa(**kwargs):
    return IJEPA(tiny_encoder(depth=1), _predictor(), **kwargs)


# === Constructor arguments ===

BAD_ARGUMENTS = [
    # (constructor, kwargs, message): the message names the argument and the value.
    (tiny_encoder, dict(mlp_ratio=-1.0), r"`mlp_ratio` must be a number in \(0, inf\), got -1.0"),
    (tiny_encoder, dict(mlp_ratio=0.01), r"`mlp_ratio` \(0.01\) times `hidden_dim` \(16\)"),
    (tiny_encoder, dict(mlp_ratio="4"), r"`mlp_ratio` must be a number .* got '4'"),
    (tiny_encoder, dict(layer_norm_epsilon=-1.0),
     r"`layer_norm_epsilon` must be a number in \(0, inf\), got -1.0"),
    (tiny_encoder, dict(layer_norm_epsilon=math.nan), r"`layer_norm_epsilon` .* got nan"),
    (tiny_encoder, dict(init_std=-1.0), r"`init_std` must be a number in \(0, inf\), got -1.0"),
    (tiny_encoder, dict(image_size=-8), r"`image_size` must be a positive int .* got -8"),
    (tiny_encoder, dict(image_size=(8, 0)), r"`image_size` .* got \(8, 0\)"),
    (tiny_encoder, dict(qkv_bias="no"), r"`qkv_bias` must be True or False, got 'no'"),
    (tiny_encoder, dict(depth=None), r"`depth` must be a positive integer, got None"),
    (_predictor, dict(mlp_ratio=-1.0), r"`mlp_ratio` must be a number .* got -1.0"),
    (_predictor, dict(layer_norm_epsilon=-1.0), r"`layer_norm_epsilon` .* got -1.0"),
    (_predictor, dict(init_std=math.nan), r"`init_std` .* got nan"),
    (_predictor, dict(grid_size=(4, -4), num_patches=None), r"`grid_size` .* got -4"),
    (_decoder, dict(mlp_ratio=-1.0), r"`mlp_ratio` must be a number .* got -1.0"),
    (_decoder, dict(layer_norm_epsilon=0.0), r"`layer_norm_epsilon` .* got 0.0"),
    (_ijepa, dict(momentum="0.99"), r"`momentum` must be a number in \[0, 1\], got '0.99'"),
    (_ijepa, dict(final_momentum=1.5), r"`final_momentum` must be a number in \[0, 1\], got 1.5"),
    (_ijepa, dict(target_norm_epsilon=-1.0),
     r"`target_norm_epsilon` must be a number in \(0, inf\), got -1.0"),
    (_ijepa, dict(target_norm_epsilon=0.0), r"`target_norm_epsilon` .* got 0.0"),
    (_ijepa, dict(total_steps="10"), r"`total_steps` must be a positive integer, got '10'"),
    (_ijepa, dict(monitors="no"), r"`monitors` must be True or False, got 'no'"),
    (_ijepa, dict(regularizer="vicreg", regularizer_weight=math.inf),
     r"`regularizer_weight` must be a finite number ≥ 0, got inf"),
    (lambda **k: MAE(tiny_encoder(depth=1), **k), dict(norm_pix_epsilon="x"),
     r"`norm_pix_epsilon` must be a positive float, got 'x'"),
    (lambda **k: MAE(tiny_encoder(depth=1), **k), dict(norm_pix_loss="yes"),
     r"`norm_pix_loss` must be True or False, got 'yes'"),
    (lambda **k: TransformerBlock(16, 2, **k), dict(layer_norm_epsilon=-1.0),
     r"`layer_norm_epsilon` must be a number in \(0, inf\), got -1.0"),
]


@pytest.mark.parametrize("constructor, kwargs, message", BAD_ARGUMENTS,
                         ids=[f"{i}-{next(iter(k))}" for i, (_, k, _) in
                              enumerate(BAD_ARGUMENTS)])
def test_bad_constructor_arguments_name_the_argument(constructor, kwargs, message):
    with pytest.raises(ValueError, match=message):
        constructor(**kwargs)


def test_valid_numbers_of_any_numeric_type_are_accepted():
    encoder = ViTEncoder(image_size=np.int64(8), patch_size=2, hidden_dim=16, depth=1,
                         num_heads=2, num_channels=1, mlp_ratio=np.float32(2.0),
                         layer_norm_epsilon=1e-5, qkv_bias=np.True_)
    model = IJEPA(encoder, _predictor(), momentum=1, final_momentum=np.float64(1.0),
                  total_steps=np.int32(5), target_norm_epsilon=1e-6)
    assert (model.momentum, model.total_steps, encoder.mlp_ratio) == (1.0, 5, 2.0)
    assert encoder.grid_size == (4, 4)
