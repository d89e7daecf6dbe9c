"""The reference implementations' training-start initialisations, as options.

keras_jepa's layers initialise like the I-JEPA reference models' constructors:
`trunc_normal_(std=0.02)`, whose ±2 bounds are absolute (`ReferenceTruncatedNormal`: in
effect N(0, 0.02²), not Keras's 2-σ truncation), output kernels of block i scaled by
1/sqrt(2(i + 1)), biases 0. The reference *training* scripts then re-draw the weights:

- I-JEPA (`init_model`): every Linear kernel N(0, 0.02²) again — its truncation at ±2 is
  absolute, so effectively none — which undoes the depth scaling; biases 0, LayerNorm 1
  and 0. The patch projection and the mask token are N(0, 0.02²) as well.
- MAE (`initialize_weights`): every Linear kernel and the patch projection (as a flat
  matrix) Xavier-uniform; the mask token N(0, 0.02²); Linear biases 0, LayerNorm 1 and 0;
  the patch projection's bias keeps PyTorch's Conv2d default U(±1/√(p²·C)).

`reference_initialization(network, scheme)` applies one of them to a built network;
`IJEPA(init="reference")` and `MAE(init="reference")` call it on their trainable
networks before the target copy is made.
"""

import math

import keras
from keras import ops

SCHEMES = ("ijepa", "mae")
INITS = ("default", "reference")

# Beyond this many standard deviations a bound cuts off less than 2e-9 of the mass.
_NEGLIGIBLE_SIGMAS = 6.0


@keras.saving.register_keras_serializable(package="keras_jepa")
class ReferenceTruncatedNormal(keras.initializers.TruncatedNormal):
    """N(mean, stddev²) truncated to the *absolute* interval `[lower, upper]`.

    This is the distribution of the reference implementations' `trunc_normal_(w,
    std=0.02)`, whose bounds default to ±2 in absolute units: with std 0.02 they lie
    100 standard deviations out, so the draw is a plain N(0, 0.02²) (std 0.0200).
    Keras's `TruncatedNormal` cuts at ±2 *standard deviations* instead, which narrows
    the std to 0.88 × stddev (0.0176).

    Bounds further than 6 standard deviations from the mean are applied by clipping a
    normal draw (they cut off less than 2e-9 of the mass); nearer ones by the inverse
    CDF, as the reference does.

    Args:
        mean: the normal's mean.
        stddev: the normal's standard deviation (before truncation), > 0.
        lower, upper: the absolute bounds, `lower < upper`.
        seed: as Keras's initializers.

    Example:
    init = keras_jepa.models.initialization.ReferenceTruncatedNormal(stddev=0.02, seed=0)
    kernel = init((64, 64))  # std ≈ 0.0200
    """

    def __init__(self, mean=0.0, stddev=0.02, lower=-2.0, upper=2.0, seed=None):
        if not float(stddev) > 0.0:
            raise ValueError(f"`stddev` must be > 0, got {stddev!r}.")
        if not float(lower) < float(upper):
            raise ValueError(f"`lower` ({lower!r}) must be below `upper` ({upper!r}).")
        super().__init__(mean=mean, stddev=stddev, seed=seed)
        self.lower = float(lower)
        self.upper = float(upper)

    def __call__(self, shape, dtype=None):
        mean, std = float(self.mean), float(self.stddev)
        low, high = (self.lower - mean) / std, (self.upper - mean) / std
        if min(-low, high) >= _NEGLIGIBLE_SIGMAS:
            draw = keras.random.normal(shape, mean, std, dtype="float32", seed=self.seed)
        else:
            # u ~ U(2Φ(a) − 1, 2Φ(b) − 1), x = mean + std·√2·erfinv(u).
            bounds = [math.erf(z / math.sqrt(2.0)) for z in (low, high)]
            edge = 1.0 - 2.0**-23
            uniform = keras.random.uniform(shape, max(bounds[0], -edge),
                                           min(bounds[1], edge), dtype="float32",
                                           seed=self.seed)
            draw = mean + std * math.sqrt(2.0) * ops.erfinv(uniform)
        return ops.cast(ops.clip(draw, self.lower, self.upper),
                        dtype or keras.backend.floatx())

    def get_config(self):
        return {**super().get_config(), "lower": self.lower, "upper": self.upper}


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
        elif scheme == "mae" and variable.path.endswith("patch_embedding/projection/bias"):
            # The MAE reference re-draws the patch projection's weight only; its bias
            # keeps PyTorch's Conv2d default, U(±1/√fan_in), fan_in = p²·C.
            fan_in = _patch_fan_in(network, variable)
            limit = 1.0 / math.sqrt(fan_in)
            value = keras.random.uniform(shape, -limit, limit, dtype=dtype, seed=generator)
        elif name in ("bias", "beta"):
            value = ops.zeros(shape, dtype)
        else:
            continue
        variable.assign(value)


def _patch_fan_in(network, bias):
    """The input width of the patch projection whose bias is `bias`."""
    kernel_path = bias.path[: -len("bias")] + "kernel"
    for variable in network.weights:
        if variable.path == kernel_path:
            return math.prod(variable.shape[:-1])
    raise ValueError(f"No kernel found beside the patch projection bias {bias.path!r}.")
