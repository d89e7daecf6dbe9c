"""The embedded default data: scikit-learn's 8×8 handwritten digits, as tf.data.

1,797 real grey-scale images of 10 classes that ship inside scikit-learn, so demos,
tests and CPU experiments run with no download. Images are scaled to [0, 1] and
upsampled (bilinear) to `image_size` so that a ViT has a useful patch grid (16 px with
patch 2 gives the 8×8 grid of the reference's tiny config). The train/test split is
deterministic: a stratified split with a fixed seed. ``from_digits`` makes them an
``ImageSource`` for the pipeline builders; ``digits_dataset`` is the ready-made
pretraining pipeline of the quickstart recipe.
"""

import numpy as np
import tensorflow as tf

from keras_jepa.data.accelerators import hide_accelerators_from_tensorflow
from keras_jepa.data.pipeline import make_pretraining_dataset
from keras_jepa.data.sources import from_arrays

DIGITS_SPLIT_SEED = 0


def load_digits(split="train", image_size=16, test_fraction=0.25):
    """The digits as numpy arrays.

    Args:
        split: "train", "test" or "all".
        image_size: output side in pixels (8 keeps the original resolution).
        test_fraction: share of each class held out for "test".

    Returns:
        `(images, labels)`: `float32 [n, image_size, image_size, 1]` in [0, 1] and
        `int32 [n]`.

    Example:
    images, labels = keras_jepa.data.load_digits("train", image_size=16)
    """
    from sklearn.datasets import load_digits as sklearn_digits

    hide_accelerators_from_tensorflow()
    if split not in ("train", "test", "all"):
        raise ValueError(f"`split` must be 'train', 'test' or 'all', got {split!r}.")
    if int(image_size) != image_size or image_size < 1:
        raise ValueError(f"`image_size` must be a positive integer, got {image_size!r}.")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"`test_fraction` must be in (0, 1), got {test_fraction!r}.")
    digits = sklearn_digits()
    images = (digits.images / 16.0).astype("float32")[..., None]
    labels = digits.target.astype("int32")
    if image_size != 8:
        images = tf.image.resize(images, (image_size, image_size), method="bilinear").numpy()
        images = np.clip(images, 0.0, 1.0)
    if split == "all":
        return images, labels
    rng = np.random.default_rng(DIGITS_SPLIT_SEED)
    is_test = np.zeros(len(labels), bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        held_out = rng.choice(members, int(round(test_fraction * len(members))), replace=False)
        is_test[held_out] = True
    keep = is_test if split == "test" else ~is_test
    return images[keep], labels[keep]


def from_digits(split="train", image_size=16, test_fraction=0.25):
    """The digits as an `ImageSource`: float images in [0, 1], 1 channel, labels.

    Args:
        split, image_size, test_fraction: as in `load_digits`.

    Returns:
        An `ImageSource` with `class_names` "0" to "9".

    Example:

    ```python
    source = keras_jepa.data.from_digits("train", image_size=16)
    dataset = keras_jepa.data.make_pretraining_dataset(source, 16, 64, generator)
    ```
    """
    images, labels = load_digits(split, image_size, test_fraction)
    return from_arrays(
        images, labels, class_names=[str(d) for d in range(10)], name=f"digits/{split}"
    )


def digits_dataset(batch_size, mask_generator=None, split="train", image_size=16, seed=0,
                   shuffle=True, crop_scale=None, flip=False):
    """A batched tf.data pipeline of the digits, with masks attached when given.

    `make_pretraining_dataset` on `from_digits(split, image_size)`, with the images
    kept in [0, 1] (no normalisation) and, by default, no random crop.

    Args:
        batch_size: images per batch (the last partial batch is dropped: static shapes).
        mask_generator: a `keras_jepa.masking` generator, or None for images only.
        split, image_size: as in `load_digits`.
        seed: seed of the shuffle, the crops and the masks.
        shuffle: reshuffle every epoch.
        crop_scale: None (whole images), or RandomResizedCrop's `(min, max)` area.
        flip: bool, random horizontal flips.

    Returns:
        A `tf.data.Dataset` of dicts `{"images", "labels", **masks}`.

    Example:

    ```python
    generator = keras_jepa.masking.MultiBlockMaskGenerator(grid_size=8, seed=0)
    dataset = keras_jepa.data.digits_dataset(64, generator, "train", image_size=16)
    ```
    """
    return make_pretraining_dataset(
        from_digits(split, image_size),
        image_size,
        batch_size,
        mask_generator,
        crop_scale=crop_scale,
        flip=flip,
        mean=None,
        std=None,
        seed=seed,
        shuffle_buffer=None if shuffle else 0,
    )
