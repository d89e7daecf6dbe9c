"""The reference implementations' training-start initialisations, as options.

keras_jepa's layers initialise like the reference models' constructors (truncated
normal, std 0.02, output kernels of block i scaled by 1/sqrt(2(i + 1))). The reference
*training* scripts then re-draw the weights:

- I-JEPA (`init_model`): every Linear kernel N(0, 0.02²) again — its truncation at ±2 is
  absolute, so effectively none — which undoes the depth scaling; biases 0, LayerNorm 1
  and 0. The patch projection and the mask token are N(0, 0.02²) as well.
- MAE (`initialize_weights`): every Linear kernel and the patch projection (as a flat
  matrix) Xavier-uniform; the mask token N(0, 0.02²); biases 0, LayerNorm 1 and 0.

`reference_initialization(network, scheme)` applies one of them to a built network;
`IJEPA(init="reference")` and `MAE(init="reference")` call it on their trainable
networks before the target copy is made.
"""

import math

import keras
from keras import ops

SCHEMES = ("ijepa", "mae")
INITS = ("default", "reference")


def check_init(init):
    if init not in INITS:
        raise ValueError(f"`init` must be one of {INITS}, got {init!r}.")
    return init


def reference_initialization(network, scheme="ijepa", std=0.02, seed=None):
    """Re-draws `network`'s weights as the reference's training starts.

    Args:
        network: a built Keras layer or model (e.g. a `ViTEncoder`, `JEPAPredictor`,
            `MAEDecoder`).
        scheme: "ijepa" (2-D kernels N(0, std²)) or "mae" (2-D kernels Xavier-uniform,
            the mask token N(0, std²)).
        std: the normal draws' standard deviation.
        seed: int, or None to draw from Keras's global seed
            (`keras.utils.set_random_seed`).

    Example:
    keras_jepa.models.initialization.reference_initialization(encoder, "mae", seed=0)
    """
    if scheme not in SCHEMES:
        raise ValueError(f"`scheme` must be one of {SCHEMES}, got {scheme!r}.")
    generator = keras.random.SeedGenerator(seed)
    for variable in network.weights:
        name = variable.path.rsplit("/", 1)[-1]
        shape, dtype = tuple(variable.shape), variable.dtype
        if len(shape) >= 2 and scheme == "mae" and name == "kernel":
            limit = math.sqrt(6.0 / (math.prod(shape[:-1]) + shape[-1]))
            value = keras.random.uniform(shape, -limit, limit, dtype=dtype, seed=generator)
        elif len(shape) >= 2:
            value = keras.random.normal(shape, stddev=std, dtype=dtype, seed=generator)
        elif name == "gamma":
            value = ops.ones(shape, dtype)
        elif name in ("bias", "beta"):
            value = ops.zeros(shape, dtype)
        else:
            continue
        variable.assign(value)
