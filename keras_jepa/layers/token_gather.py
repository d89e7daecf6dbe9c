"""Gathering tokens by index: the one helper that every masked path uses."""

from keras import ops


def gather_tokens(tokens, indices):
    """Selects tokens per sample.

    Args:
        tokens: `[B, N, D]` tensor.
        indices: `int32 [B, K]` token indices into the `N` axis.

    Returns:
        `[B, K, D]`: `out[b, k] = tokens[b, indices[b, k]]`.

    Example:
    context = keras_jepa.layers.gather_tokens(tokens, masks["context_indices"])
    """
    indices = ops.cast(indices, "int32")
    batch, num_tokens = ops.shape(tokens)[0], ops.shape(tokens)[1]
    # One flat gather: cheaper on every backend than take_along_axis with a broadcast
    # [B, K, D] index tensor, and its gradient is a single scatter-add.
    offsets = ops.expand_dims(ops.arange(batch, dtype="int32") * num_tokens, 1)
    flat = ops.reshape(tokens, (-1, ops.shape(tokens)[-1]))
    return ops.take(flat, indices + offsets, axis=0)
