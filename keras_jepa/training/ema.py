"""The exponential-moving-average target update, written once in keras.ops.

`target ← m · target + (1 − m) · source` for every pair of variables. It runs after the
optimizer step on every backend (inside a `keras.StatelessScope` on JAX), so the target
follows the *updated* context encoder, as in the reference implementation.
"""

from keras import ops


def pair_variables(target, source):
    """Pairs the floating-point weights of two models of the same architecture.

    Args:
        target: the model whose weights are updated (e.g. the target encoder).
        source: the model it follows (e.g. the context encoder).

    Returns:
        A list of `(target_variable, source_variable)` pairs.

    Raises:
        ValueError: if the two models do not hold the same weights (count, paths, shapes).
    """
    t_weights, s_weights = target.weights, source.weights
    if len(t_weights) != len(s_weights):
        raise ValueError(
            f"The target has {len(t_weights)} weights but the source has "
            f"{len(s_weights)}: they must have the same architecture."
        )
    pairs = []
    for t, s in zip(t_weights, s_weights):
        if tuple(t.shape) != tuple(s.shape) or t.dtype != s.dtype:
            raise ValueError(
                f"Target weight {t.path} {tuple(t.shape)} {t.dtype} does not match "
                f"source weight {s.path} {tuple(s.shape)} {s.dtype}."
            )
        if "float" in str(s.dtype):
            pairs.append((t, s))
    return pairs


def copy_weights(pairs):
    """Sets every target variable to a copy of its source (a fresh buffer, not an alias).

    On JAX, plain `t.assign(s)` would make both variables share one device buffer and
    `fit` would then fail donating it twice; `ops.copy` avoids that.
    """
    for t, s in pairs:
        t.assign(ops.copy(s.value))


def ema_update(pairs, momentum):
    """Moves each target variable towards its source: `t ← m·t + (1 − m)·s`.

    Args:
        pairs: `(target_variable, source_variable)` pairs from `pair_variables`.
        momentum: scalar in [0, 1] (a float or a scalar tensor).
    """
    for t, s in pairs:
        m = ops.cast(momentum, t.dtype)
        t.assign(t.value * m + s.value * (1.0 - m))
