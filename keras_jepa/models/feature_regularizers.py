"""Anti-collapse regularisers on a batch of pooled features, in keras.ops.

Options of `IJEPA(regularizer=...)`, never its default: I-JEPA's objective is the
prediction loss alone. Both act on the mean-pooled context-encoder tokens of the batch,
`[B, D]`, and push them to spread over many directions, which rules out the solutions in
which every image gets the same pooled feature (complete collapse, or the position-only
collapse of small-image I-JEPA, where tokens keep only their position code).

- "vicreg": VICReg's variance and covariance terms (Bardes et al., 2022) without the
  invariance term: `mean_d relu(1 − sqrt(Var(z_d) + 1e-4))` plus the sum of squared
  off-diagonal covariances over D.
- "sigreg": LeJEPA's sketched isotropic Gaussian regulariser (Balestriero & LeCun, 2025):
  the Epps–Pulley statistic between each 1-D projection of the features and N(0, 1),
  averaged over fixed random unit directions. It is 0 when every projection is a
  standard normal, i.e. for features distributed as N(0, I).

Both are statistics of the whole global batch: under TensorFlow's `MirroredStrategy`
the batch means they are made of are summed over the replicas (`replica_sum`), so a
mirrored run equals one device.
"""

import numpy as np
from keras import ops

from keras_jepa.training.distribution import replica_sum

REGULARIZERS = ("vicreg", "sigreg")
# Quadrature of the Epps–Pulley integral: t in [0, 4] (the integrand is even in t), with
# the standard-normal weight exp(−t²/2).
_SIGREG_T = np.linspace(0.0, 4.0, 17)
_SIGREG_STEP = _SIGREG_T[1] - _SIGREG_T[0]
_SIGREG_WEIGHTS = 2.0 * np.exp(-0.5 * _SIGREG_T**2) * np.r_[0.5, np.ones(15), 0.5] * _SIGREG_STEP


def _global_count(z):
    """The number of rows of `[B, D]` features over the replicas, as float32."""
    return replica_sum(ops.cast(ops.shape(z)[0], "float32"))


def vicreg_variance_covariance(features, epsilon=1e-4):
    """VICReg's variance hinge plus its covariance penalty of `[B, D]` features.

    Example:
    loss = keras_jepa.models.feature_regularizers.vicreg_variance_covariance(z)
    """
    z = ops.cast(features, "float32")
    count = _global_count(z)
    z = z - replica_sum(ops.sum(z, axis=0, keepdims=True)) / count
    dim = z.shape[1]
    denominator = ops.maximum(count - 1.0, 1.0)
    variance = replica_sum(ops.sum(ops.square(z), axis=0)) / denominator
    hinge = ops.mean(ops.relu(1.0 - ops.sqrt(variance + epsilon)))
    covariance = replica_sum(ops.matmul(ops.transpose(z), z)) / denominator
    off_diagonal = ops.sum(ops.square(covariance)) - ops.sum(ops.square(variance))
    return hinge + off_diagonal / dim


def sigreg_directions(dim, num_directions=256, seed=0):
    """`[dim, num_directions]` fixed random unit vectors (numpy, float32)."""
    rng = np.random.default_rng(seed)
    directions = rng.standard_normal((dim, num_directions))
    return (directions / np.linalg.norm(directions, axis=0, keepdims=True)).astype("float32")


def sigreg(features, directions):
    """The sliced Epps–Pulley statistic of `[B, D]` features against N(0, I).

    `B · mean_k ∫ |φ̂_k(t) − exp(−t²/2)|² exp(−t²/2) dt`, `φ̂_k` the empirical
    characteristic function of the projections on direction `k`.

    Example:
    directions = sigreg_directions(features.shape[1])
    loss = keras_jepa.models.feature_regularizers.sigreg(features, directions)
    """
    z = ops.cast(features, "float32")
    projections = ops.matmul(z, ops.convert_to_tensor(directions))  # [B, K]
    t = ops.convert_to_tensor(_SIGREG_T.astype("float32"))
    angles = projections[:, :, None] * t  # [B, K, T]
    count = _global_count(z)
    real = replica_sum(ops.sum(ops.cos(angles), axis=0)) / count \
        - ops.exp(-0.5 * ops.square(t))
    imaginary = replica_sum(ops.sum(ops.sin(angles), axis=0)) / count
    distance = ops.square(real) + ops.square(imaginary)  # [K, T]
    weights = ops.convert_to_tensor(_SIGREG_WEIGHTS.astype("float32"))
    statistic = ops.sum(distance * weights, axis=-1)
    return count * ops.mean(statistic)
