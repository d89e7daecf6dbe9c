"""Run-health monitors in keras.ops, cheap enough to run inside every train step.

Each function takes tensors, stops their gradient and returns a float32 scalar tensor,
so a model's `compute_ssl_loss` / `update_target` can put it in its step logs on every
backend. The user-facing side (rules of thumb, the `CollapseMonitor` callback, float
versions for numpy input) is `keras_jepa.evaluation.monitors`.
"""

from keras import ops

RANKME_EPSILON = 1e-7
# Variation smaller than this fraction of the features' own size is read as none: the
# float32 round-off of an encoder whose output does not depend on its input.
RELATIVE_TOLERANCE = 1e-5


def _float_matrix(features, name):
    features = ops.cast(ops.stop_gradient(ops.convert_to_tensor(features)), "float32")
    if len(features.shape) != 2:
        raise ValueError(
            f"`{name}` must be a matrix [num_samples, dim], got shape "
            f"{tuple(features.shape)}."
        )
    return features


def _centered(features):
    """Features minus their batch mean, and the RMS row norm of the uncentred ones."""
    scale = ops.sqrt(ops.mean(ops.sum(ops.square(features), axis=-1)))
    return features - ops.mean(features, axis=0, keepdims=True), scale


def effective_rank(features, center=True, epsilon=RANKME_EPSILON):
    """RankMe: the exponential of the entropy of the normalised singular values.

    `p_k = σ_k / Σ_j σ_j + ε`, `RankMe = exp(−Σ_k p_k log p_k)` (Garrido et al., 2023).
    An `[N, D]` matrix of rank `k` with equal singular values gives `k`; a constant or
    all-zero matrix gives ≈ 1. Singular values below `1e-5` of the features' RMS row
    norm (times `sqrt(N)`) count as zero, so float32 round-off of a collapsed encoder
    does not read as rank.

    With `center` (default) the batch mean is removed first: mean-pooled ViT features
    carry a large component shared by every image (the pooled position embeddings),
    which makes the uncentred RankMe ≈ 1 even for a healthy random-init encoder.
    `center=False` is the paper's definition.

    Args:
        features: `[N, D]` tensor or array.
        center: whether to subtract the mean over the N samples first.
        epsilon: the small constant added to every normalised singular value.

    Returns:
        A float32 scalar tensor in `[≈1, min(N, D)]`.

    Example:
    rank = keras_jepa.training.monitors.effective_rank(keras.ops.ones((8, 4)))  # ≈ 1
    """
    features = _float_matrix(features, "features")
    centered, scale = _centered(features)
    if center:
        features = centered
    singular = ops.svd(features, compute_uv=False)
    floor = RELATIVE_TOLERANCE * scale * (features.shape[0] ** 0.5)
    singular = ops.where(singular > floor, singular, ops.zeros_like(singular))
    p = singular / (ops.sum(singular) + epsilon) + epsilon
    return ops.exp(-ops.sum(p * ops.log(p)))


def feature_std(features):
    """Mean over dimensions of the per-dimension std of centred, L2-normalised features.

    The SimSiam collapse indicator, on features from which the batch mean is removed
    first (see `effective_rank` for why): ≈ `1/sqrt(D)` for features spread evenly
    over `D` dimensions, → 0 when every sample maps to the same point (variation below
    `1e-5` of the features' RMS norm counts as none).

    Args:
        features: `[N, D]` tensor or array.

    Returns:
        A float32 scalar tensor in `[0, 1/sqrt(D)]`.

    Example:
    std = keras_jepa.training.monitors.feature_std(features)  # ≈ 1/sqrt(D) if healthy
    """
    features = _float_matrix(features, "features")
    centered, scale = _centered(features)
    norms = ops.sqrt(ops.sum(ops.square(centered), axis=-1, keepdims=True))
    floor = ops.maximum(RELATIVE_TOLERANCE * scale, 1e-30)
    normalized = ops.where(norms > floor, centered / ops.maximum(norms, floor), 0.0)
    return ops.mean(ops.std(normalized, axis=0))


def feature_spread(features):
    """How much the features differ between samples, relative to their size.

    `sqrt(mean_d Var_batch(f_d)) / sqrt(mean(f²))`: the between-sample standard
    deviation over the RMS feature value. Unlike `effective_rank` and `feature_std`,
    which look at the *shape* of the variation and ignore its scale, it falls when
    every sample moves towards one point while a shared component (for mean-pooled ViT
    tokens, the pooled positions) stays: the collapse of a JEPA trained without
    stop-gradient, whose targets become predictable because they stop depending on the
    image. Its level depends on the architecture (≈ 0.004 for a random-init micro ViT
    on the digits), so read it relative to its value at the start of training.
    """
    features = _float_matrix(features, "features")
    variance = ops.mean(ops.var(features, axis=0))
    return ops.sqrt(variance) / ops.maximum(ops.sqrt(ops.mean(ops.square(features))), 1e-12)


def batch_std(values):
    """Mean over all other axes of the std across the batch (axis 0).

    Args:
        values: tensor `[B, ...]`, e.g. predictor outputs `[B, M, K, D]`.

    Returns:
        A float32 scalar tensor; 0 when every sample gives the same output.

    Example:
    pred_std = keras_jepa.training.monitors.batch_std(predictions)
    """
    values = ops.cast(ops.stop_gradient(ops.convert_to_tensor(values)), "float32")
    return ops.mean(ops.std(values, axis=0))


def relative_distance(pairs, epsilon=1e-12):
    """`‖θ_source − θ_target‖ / ‖θ_target‖` over all `(target, source)` variable pairs.

    Args:
        pairs: `(target_variable, source_variable)` pairs, as from
            `keras_jepa.training.pair_variables`.
        epsilon: guards the division when the target weights are all zero.

    Returns:
        A float32 scalar tensor (0 when the two sets of weights are equal).

    Example:
    distance = relative_distance(pair_variables(target_encoder, context_encoder))
    """
    if not pairs:
        raise ValueError("`pairs` must hold at least one (target, source) pair.")
    squared_difference = 0.0
    squared_norm = 0.0
    for target, source in pairs:
        t = ops.cast(ops.stop_gradient(target.value), "float32")
        s = ops.cast(ops.stop_gradient(source.value), "float32")
        squared_difference = squared_difference + ops.sum(ops.square(s - t))
        squared_norm = squared_norm + ops.sum(ops.square(t))
    return ops.sqrt(squared_difference) / ops.maximum(ops.sqrt(squared_norm), epsilon)
