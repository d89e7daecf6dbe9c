"""Small models and batches shared by the tests."""

import math

import keras
import numpy as np
from keras import ops

from keras_jepa.models import IJEPA
from keras_jepa.models import MAE
from keras_jepa.models import JEPAPredictor
from keras_jepa.models import ViTEncoder


def tiny_encoder(**overrides):
    config = dict(image_size=8, patch_size=2, hidden_dim=16, depth=2, num_heads=2,
                  num_channels=1)
    config.update(overrides)
    return ViTEncoder(**config)


def tiny_ijepa(**kwargs):
    encoder = tiny_encoder()
    predictor = JEPAPredictor.for_encoder(encoder, hidden_dim=8, depth=1, num_heads=2)
    return IJEPA(encoder, predictor, **kwargs)


def compiled_ijepa(**kwargs):
    """A one-block I-JEPA compiled with Adam, for tests of `fit`, `predict` and the guards."""
    encoder = tiny_encoder(depth=1)
    predictor = JEPAPredictor.for_encoder(encoder, hidden_dim=16, depth=1, num_heads=2)
    model = IJEPA(encoder, predictor, **{"total_steps": 100, **kwargs})
    model.compile(optimizer="adam")
    return model


def compiled_mae(**kwargs):
    """A one-block MAE compiled with Adam."""
    model = MAE(tiny_encoder(depth=1), **{"seed": 0, **kwargs})
    model.compile(optimizer="adam")
    return model


def numpy_of(value):
    return np.asarray(ops.convert_to_numpy(value))


def snapshot(model):
    """Copies of every weight of `model`, as numpy arrays."""
    return [numpy_of(v).copy() for v in model.weights]


class PoisonAtEpoch(keras.callbacks.Callback):
    """Puts a NaN into the decoder's first weight when epoch `epoch` begins (an MAE),
    as a diverged step would; `before` holds the weights just before."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch
        self.before = None

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            self.before = snapshot(self.model)
            variable = self.model.decoder.weights[0]
            variable.assign(ops.full(variable.shape, math.nan))


def random_batch(rng, batch_size=3, image_size=8, channels=1, num_patches=16,
                 num_context=6, num_targets=2, num_target_tokens=3):
    """A batch in the I-JEPA contract with disjoint context and target indices."""
    context, targets = [], []
    for _ in range(batch_size):
        order = rng.permutation(num_patches)
        context.append(np.sort(order[:num_context]))
        rest = order[num_context:]
        targets.append([rng.choice(rest, num_target_tokens, replace=False)
                        for _ in range(num_targets)])
    weights = np.ones((batch_size, num_targets, num_target_tokens), "float32")
    weights[0, -1, -1] = 0.0  # one padded slot
    return {
        "images": rng.normal(size=(batch_size, image_size, image_size, channels)).astype("float32"),
        "context_indices": np.asarray(context, "int32"),
        "target_indices": np.asarray(targets, "int32"),
        "target_weights": weights,
    }


def set_seeded_weights(model, seed=0, scale=0.2):
    """Gives every weight a value drawn from numpy, identical on every backend."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        shape = tuple(variable.shape)
        if variable.path.endswith("gamma"):
            value = 1.0 + 0.1 * rng.normal(size=shape)
        else:
            value = scale * rng.normal(size=shape)
        variable.assign(value.astype(keras.backend.standardize_dtype(variable.dtype)))
