"""Run-health monitors in keras.ops, cheap enough to run inside every train step.

Each function takes tensors, stops their gradient and returns a float32 scalar tensor,
so a model's `compute_ssl_loss` / `update_target` can put it in its step logs on every
backend. The user-facing side (rules of thumb, the `CollapseMonitor` callback, float
versions for numpy input) is `keras_jepa.evaluation.monitors`.

Names: a monitor that `keras_jepa.evaluation` also offers as a Python float is called
here by the same name with `_tensor` appended (`effective_rank_tensor`,
`feature_std_tensor`, `feature_spread_tensor`, `position_share_tensor`,
`content_blind_loss_tensor`): `keras_jepa.evaluation.feature_std(x)` is
`float(feature_std_tensor(x))`. The two modules share no public name.
"""

import keras
from keras import ops

RANKME_EPSILON = 1e-7
# Variation smaller than this fraction of the features' own size is read as none: the
# float32 round-off of an encoder whose output does not depend on its input.
RELATIVE_TOLERANCE = 1e-5
# The same for features an encoder computed in a narrower dtype (mixed precision): half
# the dtype's unit round-off. Measured on micro ViTs (depth 2 and 8, batches 8-64) with
# mixed_bfloat16, the singular values that bf16 rounding adds to mean-pooled features
# stay below 2^-9 of their size, and above this floor RankMe reads as in float32 on the
# same weights; with the float32 floor it read up to 8x higher (rounding noise as rank).
_ROUNDING_TOLERANCE = {"bfloat16": 2.0**-9, "float16": 2.0**-12}


def relative_tolerance(dtype):
    """The size, relative to the features, below which variation is read as none.

    Args:
        dtype: the compute dtype of the encoder that made the features, e.g.
            `encoder.compute_dtype` ("bfloat16" under `mixed_bfloat16`).

    Returns:
        `1e-5` for float32 and wider; half the unit round-off for bfloat16 (2^-9) and
        float16 (2^-12), whose rounding would otherwise read as feature rank.

    Example:
    tolerance = relative_tolerance(model.target_encoder.compute_dtype)
    rank = effective_rank_tensor(features, tolerance=tolerance)
    """
    name = keras.backend.standardize_dtype(dtype)
    return max(RELATIVE_TOLERANCE, _ROUNDING_TOLERANCE.get(name, 0.0))


def _float_tensor(values, name, rank, layout):
    """`values` as a stop-gradient float32 tensor of `rank`, else a ValueError."""
    values = ops.cast(ops.stop_gradient(ops.convert_to_tensor(values)), "float32")
    if len(values.shape) != rank:
        raise ValueError(f"`{name}` must be {layout}, got shape {tuple(values.shape)}.")
    return values


def _float_matrix(features, name):
    return _float_tensor(features, name, 2, "a matrix [num_samples, dim]")


def _centered(features):
    """Features minus their batch mean, and the RMS row norm of the uncentred ones."""
    scale = ops.sqrt(ops.mean(ops.sum(ops.square(features), axis=-1)))
    return features - ops.mean(features, axis=0, keepdims=True), scale


def singular_values(matrix):
    """The singular values of a float `[N, D]` matrix (float32; order not specified).

    TensorFlow's XLA has no fast SVD (about 100 ms for `[64, 192]` on a CPU, a third of
    a whole I-JEPA step, where LAPACK takes 0.3 ms), so on TensorFlow they are the
    square roots of the eigenvalues of the smaller Gram matrix computed in float64
    (2.7 ms, and as exact as a float32 SVD: 4e-15 relative to the largest value). JAX
    and torch call their SVD.
    """
    if keras.backend.backend() != "tensorflow":
        return ops.svd(matrix, compute_uv=False)
    wide = ops.cast(matrix, "float64")
    rows, cols = matrix.shape[-2], matrix.shape[-1]
    if rows is not None and cols is not None and cols < rows:
        gram = ops.matmul(ops.transpose(wide), wide)
    else:
        gram = ops.matmul(wide, ops.transpose(wide))
    eigenvalues = ops.eigh(gram)[0]
    return ops.cast(ops.sqrt(ops.maximum(eigenvalues, 0.0)), "float32")


def effective_rank_tensor(features, center=True, epsilon=RANKME_EPSILON,
                          tolerance=RELATIVE_TOLERANCE):
    """RankMe: the exponential of the entropy of the normalised singular values.

    `p_k = σ_k / Σ_j σ_j + ε`, `RankMe = exp(−Σ_k p_k log p_k)` (Garrido et al., 2023).
    An `[N, D]` matrix of rank `k` with equal singular values gives `k`; a constant or
    all-zero matrix gives ≈ 1. Singular values below `tolerance` (1e-5) of the
    features' RMS row norm (times `sqrt(N)`) count as zero, so float32 round-off of a
    collapsed encoder does not read as rank. For features of an encoder run in bfloat16
    or float16 pass `tolerance=relative_tolerance(encoder.compute_dtype)` (the models'
    train steps do): the rounding of the narrower dtype then does not read as rank
    either, and directions smaller than it are not counted.

    With `center` (default) the batch mean is removed first: mean-pooled ViT features
    carry a large component shared by every image (the pooled position embeddings),
    which makes the uncentred RankMe ≈ 1 even for a healthy random-init encoder.
    `center=False` is the paper's definition.

    Args:
        features: `[N, D]` tensor or array.
        center: whether to subtract the mean over the N samples first.
        epsilon: the small constant added to every normalised singular value.
        tolerance: relative size below which a singular value counts as zero.

    Returns:
        A float32 scalar tensor in `[≈1, min(N, D)]`; NaN when `features` hold a NaN
        or an infinity.

    Example:
    rank = keras_jepa.training.monitors.effective_rank_tensor(keras.ops.ones((8, 4)))  # ≈ 1
    """
    features = _float_matrix(features, "features")
    # NaN for features holding a NaN or an inf (a diverged step), without handing
    # them to the SVD, which fails on them on some backends (torch).
    finite = ops.all(ops.isfinite(features))
    features = ops.where(finite, features, ops.zeros_like(features))
    centered, scale = _centered(features)
    if center:
        features = centered
    singular = singular_values(features)
    # The batch size from the tensor, not its static shape: a dataset's last batch
    # can make it unknown (None) inside a TensorFlow graph.
    count = ops.cast(ops.shape(features)[0], "float32")
    floor = tolerance * scale * ops.sqrt(count)
    singular = ops.where(singular > floor, singular, ops.zeros_like(singular))
    p = singular / (ops.sum(singular) + epsilon) + epsilon
    rank = ops.exp(-ops.sum(p * ops.log(p)))
    return ops.where(finite, rank, ops.full_like(rank, float("nan")))


def feature_std_tensor(features):
    """Mean over dimensions of the per-dimension std of centred, L2-normalised features.

    The SimSiam collapse indicator, on features from which the batch mean is removed
    first (see `effective_rank_tensor` for why): ≈ `1/sqrt(D)` for features spread
    evenly over `D` dimensions, → 0 when every sample maps to the same point (variation
    below `1e-5` of the features' RMS norm counts as none).

    Args:
        features: `[N, D]` tensor or array.

    Returns:
        A float32 scalar tensor in `[0, 1/sqrt(D)]`.

    Example:
    std = keras_jepa.training.monitors.feature_std_tensor(features)  # ≈ 1/sqrt(D) if healthy
    """
    features = _float_matrix(features, "features")
    centered, scale = _centered(features)
    norms = ops.sqrt(ops.sum(ops.square(centered), axis=-1, keepdims=True))
    floor = ops.maximum(RELATIVE_TOLERANCE * scale, 1e-30)
    normalized = ops.where(norms > floor, centered / ops.maximum(norms, floor), 0.0)
    return ops.mean(ops.std(normalized, axis=0))


def feature_spread_tensor(features):
    """How much the features differ between samples, relative to their size.

    `sqrt(mean_d Var_batch(f_d)) / sqrt(mean(f²))`: the between-sample standard
    deviation over the RMS feature value. Unlike `effective_rank_tensor` and
    `feature_std_tensor`, which look at the *shape* of the variation and ignore its
    scale, it falls when every sample moves towards one point while a shared component
    (for mean-pooled ViT tokens, the pooled positions) stays: the collapse of a JEPA
    trained without stop-gradient, whose targets become predictable because they stop
    depending on the image. Its level depends on the architecture (≈ 0.004 for a
    random-init micro ViT on the digits), so read it relative to its value at the start
    of training.
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


def _float_tokens(tokens, name):
    return _float_tensor(tokens, name, 3, "token embeddings [batch, num_tokens, dim]")


def position_share_tensor(tokens):
    """Share of the tokens' variance that their position explains.

    `Σ_n B·‖μ_n − μ‖² / Σ_{b,n} ‖t_{b,n} − μ‖²`, with `μ_n` the batch mean of the tokens
    at position `n` and `μ` the mean over batch and positions: the between-position
    part of a one-way analysis of variance, computed as `between / (between + within)`
    so that it stays in `[0, 1]` under round-off. 1: every image gives the same token
    at a given position (the tokens carry position only); ≈ 0: the position does not
    change the tokens' distribution. Tokens without any variation read 0.

    Read on I-JEPA's targets (the LayerNorm-normalised target-encoder tokens of the
    whole grid) it shows how much of what the predictor must predict is content. On
    small images with small patches the fixed sin-cos positions dominate the patch
    content (0.999 at init, and still after training, for the micro ViT on the 16-px
    digits, patch 2), and a predictor can then reach a low loss from the target
    positions alone; see `content_blind_loss_tensor`.

    Args:
        tokens: `[B, N, D]` tensor or array (all N positions of each image).

    Returns:
        A float32 scalar tensor in `[0, 1]`. With B = 1 every varying token set
        reads 1 (no within-position variation can be seen).

    Example:
    share = keras_jepa.training.monitors.position_share_tensor(tokens)  # tokens [B, N, D]
    """
    tokens = _float_tokens(tokens, "tokens")
    position_mean = ops.mean(tokens, axis=0)  # [N, D]
    grand_mean = ops.mean(position_mean, axis=0)  # [D]
    # Both parts as means over the B·N tokens (the ratio is the same as with sums).
    between = ops.mean(ops.sum(ops.square(position_mean - grand_mean), axis=-1))
    within = ops.mean(ops.sum(ops.square(tokens - position_mean[None]), axis=-1))
    return between / ops.maximum(between + within, 1e-30)


def content_blind_loss_tensor(tokens, target_indices, target_weights, loss, targets=None):
    """The loss of a predictor that outputs each position's batch-mean target.

    The content-blind baseline of I-JEPA: predict, for a target token at position `n`,
    the batch mean `μ_n` of the targets at `n`, whatever the context. Its loss is
    computed like `IJEPA.compute_ssl_loss`: the per-element `loss` averaged over the
    embedding dimension, then the `target_weights`-weighted mean over target tokens.
    No predictor that ignores the image does better (exactly so for the squared
    error), so a loss below it shows that the predictor uses the content; a loss that
    stays above it while `position_share` is near 1 is position-only collapse (see
    `keras_jepa.evaluation.monitors`). `μ_n` is the in-batch mean (it includes the token being predicted), so the value
    is slightly optimistic, by about a factor `1 − 1/B` for the squared error.

    Args:
        tokens: `[B, N, D]`: the regression targets of every position (I-JEPA's
            normalised target-encoder tokens of the whole grid).
        target_indices: int `[B, M, Kt]` positions of the target tokens.
        target_weights: `[B, M, Kt]`, 1 for a real target token, 0 for padding.
        loss: the per-element loss, a callable `loss(predictions, targets)` returning
            `[B, M, Kt, D]`, such as `keras_jepa.models.ijepa.regression_loss` with its
            `loss` name bound (`keras_jepa.evaluation.monitors.content_blind_loss`
            takes the name).
        targets: optional `[B, M, Kt, D]` targets already gathered from `tokens` at
            `target_indices` (the train step has them), to skip the gather.

    Returns:
        A float32 scalar tensor.

    Example:
    per_element = functools.partial(keras_jepa.models.ijepa.regression_loss, loss="l2")
    blind = content_blind_loss_tensor(tokens, target_indices, target_weights, per_element)
    """
    tokens = _float_tokens(tokens, "tokens")
    if not callable(loss):
        raise ValueError(
            f"`loss` must be a callable loss(predictions, targets), got {loss!r}."
        )
    target_indices = ops.convert_to_tensor(target_indices)
    if len(target_indices.shape) != 3:
        raise ValueError(
            f"`target_indices` must be [batch, blocks, tokens], got shape "
            f"{tuple(target_indices.shape)}."
        )
    weights = ops.cast(ops.stop_gradient(ops.convert_to_tensor(target_weights)), "float32")
    if tuple(weights.shape) != tuple(target_indices.shape):
        raise ValueError(
            f"`target_weights` shape {tuple(weights.shape)} must equal `target_indices` "
            f"shape {tuple(target_indices.shape)}."
        )
    target_indices = ops.cast(target_indices, "int32")
    if targets is None:
        num_tokens, dim = tokens.shape[1], tokens.shape[2]
        # Row b's positions as rows of the flattened [B·N, D] tokens.
        offsets = ops.arange(ops.shape(tokens)[0], dtype="int32")[:, None, None] * num_tokens
        targets = ops.take(ops.reshape(tokens, (-1, dim)), target_indices + offsets, axis=0)
    targets = ops.stop_gradient(ops.cast(targets, "float32"))
    position_mean = ops.mean(tokens, axis=0)  # [N, D]
    blind = ops.take(position_mean, target_indices, axis=0)  # [B, M, Kt, D]
    per_token = ops.mean(ops.cast(loss(blind, targets), "float32"), axis=-1)
    return ops.sum(per_token * weights) / ops.maximum(ops.sum(weights), 1.0)
