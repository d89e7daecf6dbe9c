"""Synthetic labelled images: a class-dependent pattern plus noise.

Learnable (a probe separates the classes) and needs no download: the runner's
`data.source` "synthetic" reads them.
"""

import numpy as np


def synthetic_arrays(split, image_size, num_examples, num_channels=3, num_classes=4, seed=0):
    """`(images, labels)`: each image 0.6 × its class's prototype + 0.4 × uniform noise.

    The prototypes (uniform in [0, 1]) depend on `seed` only, so both splits share them;
    the labels and the noise depend on `seed` and the split.

    Args:
        split: "train", or any other name for the held-out split.
        image_size: side of the square images.
        num_examples: how many images.
        num_channels: channels per image.
        num_classes: how many classes (and prototypes).
        seed: the seed of the prototypes, labels and noise.

    Returns:
        float32 images `[num_examples, image_size, image_size, num_channels]` in [0, 1]
        and int32 labels `[num_examples]`.

    Example:
    images, labels = keras_jepa.data.synthetic_arrays("train", 16, 64, num_channels=1)
    """
    shape = (image_size, image_size, num_channels)
    rng = np.random.default_rng(seed + (0 if split == "train" else 1))
    prototypes = np.random.default_rng(seed + 7).uniform(0.0, 1.0, (num_classes, *shape))
    labels = rng.integers(0, num_classes, num_examples)
    images = 0.6 * prototypes[labels] + 0.4 * rng.uniform(0.0, 1.0, (num_examples, *shape))
    return images.astype("float32"), labels.astype("int32")
