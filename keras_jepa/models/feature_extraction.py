"""Features for downstream use: an encoder's tokens, pooled, computed in batches.

One helper behind every model's `encode`, so that probes on I-JEPA and MAE features
compare like with like: the same forward pass (`training=False`, whole images, no
masking), the same pooling, the same batching.
"""

import numpy as np
from keras import ops

from keras_jepa.checks import check_positive_int
from keras_jepa.training.step_checks import check_finite_images

POOLS = ("mean", "none")


def pooled_features(network, images, pool="mean", batch_size=256):
    """Runs `network` on `images` in batches and pools its tokens.

    Args:
        network: an encoder called as `network(images, training=False)` → `[B, N, D]`.
        images: `[N, H, W, C]` array or tensor.
        pool: "mean" (average over tokens, `[N, D]`) or "none" (`[N, tokens, D]`).
        batch_size: images per forward pass.

    Returns:
        A float32 numpy array of features, whatever the network's compute dtype (under
        `mixed_bfloat16` the tokens are bfloat16; they are pooled in float32).

    Example:
    features = pooled_features(model.encoder, images, pool="mean")
    """
    if pool not in POOLS:
        raise ValueError(f"`pool` must be 'mean' or 'none', got {pool!r}.")
    batch_size = check_positive_int(batch_size, "batch_size", whole_floats=True)
    images = np.asarray(ops.convert_to_numpy(images))
    check_finite_images(images)
    outputs = []
    for start in range(0, len(images), batch_size):
        tokens = ops.cast(network(images[start : start + batch_size], training=False),
                          "float32")
        if pool == "mean":
            tokens = ops.mean(tokens, axis=1)
        outputs.append(ops.convert_to_numpy(tokens))
    return np.concatenate(outputs, axis=0)
