"""Image sources for the pipeline builders: ``ImageSource`` and ``from_arrays``.

A source is what ``make_pretraining_dataset`` and ``make_eval_dataset`` read: an
unbatched tf.data dataset of small *records* (an index into an array, a file path,
encoded bytes) and a ``decode`` function that turns one record into an image. The
builders shuffle the cheap records and decode after shuffling, in parallel, so a
shuffle buffer never holds decoded images. The other sources live in
``image_folder.py``, ``tfds_source.py`` and ``digits.py``.
"""

import math

import numpy as np
import tensorflow as tf

from keras_jepa.checks import check_range
from keras_jepa.data.accelerators import hide_accelerators_from_tensorflow


class ImageSource:
    """A collection of images (and maybe labels) that the pipeline builders read.

    Build one with `from_arrays`, `from_image_folder`, `from_tfds` or
    `from_digits`; construct it directly only for a new kind of source.

    Args:
        records: an unbatched `tf.data.Dataset` of small elements, one per image,
            in a fixed order.
        decode: a function, traceable inside `tf.data.Dataset.map`, from one
            record to a dict with `"image"` (`uint8 [H, W, C]` with values 0–255,
            or `float32 [H, W, C]` in [0, 1]; `C` static), `"label"` (int32
            scalar, only when `has_labels`) and `"name"` (a string scalar naming
            the image in error messages, e.g. its path).
        num_channels: int, `C`.
        num_examples: int, or None when unknown.
        has_labels: bool, whether `decode` returns a `"label"`.
        class_names: list of str (label `i` is `class_names[i]`), or None.
        image_shape: `(H, W)` when every image has that size, else None; lets the
            builders check `min_image_size` before reading any image.
        shuffle_buffer: int, the builders' default shuffle buffer for this source.
        name: str, says where the images come from (in messages and `repr`).
        skipped_files: tuple of paths left out as unreadable (image folders read
            with `on_corrupt="skip"`); empty otherwise.
        ignored_files: tuple of paths not read because their extension is not an
            image extension (image folders); empty otherwise.

    Example:

    ```python
    source = keras_jepa.data.from_arrays(images, labels)
    source.num_examples, source.num_channels, source.has_labels
    dataset = keras_jepa.data.make_pretraining_dataset(source, 32, 64)
    ```
    """

    def __init__(self, records, decode, num_channels, num_examples=None,
                 has_labels=False, class_names=None, image_shape=None,
                 shuffle_buffer=10_000, name="images", skipped_files=(),
                 ignored_files=()):
        self.records = records
        self.decode = decode
        self.num_channels = int(num_channels)
        self.num_examples = None if num_examples is None else int(num_examples)
        self.has_labels = bool(has_labels)
        self.class_names = None if class_names is None else list(class_names)
        self.image_shape = None if image_shape is None else tuple(int(s) for s in image_shape)
        self.shuffle_buffer = int(shuffle_buffer)
        self.name = str(name)
        self.skipped_files = tuple(skipped_files)
        self.ignored_files = tuple(ignored_files)

    def __repr__(self):
        parts = [
            repr(self.name),
            f"num_examples={self.num_examples}",
            f"num_channels={self.num_channels}",
            f"has_labels={self.has_labels}",
        ]
        if self.image_shape is not None:
            parts.append(f"image_shape={self.image_shape}")
        if self.skipped_files:
            parts.append(f"skipped_files={len(self.skipped_files)}")
        return f"ImageSource({', '.join(parts)})"


def from_arrays(images, labels=None, class_names=None, name="arrays", value_range=(0, 1)):
    """A source over in-memory images: `uint8` (0–255) or float in [0, 1].

    The arrays are copied once into TensorFlow tensors; records are indices, so
    the default shuffle is over every image at no extra memory.

    Args:
        images: array `[N, H, W, C]`, dtype `uint8` (values 0–255) or float
            (values in `value_range`; float64 is stored as float32).
        labels: integer array `[N]`, or None.
        class_names: list of str naming the labels, or None.
        name: str, names the source in messages.
        value_range: `(low, high)`, the range float images must lie in. The pipeline
            scales uint8 images to [0, 1] and leaves float images as they are, so the
            default catches 0–255 floats; images that are not in [0, 1] by design (the
            digits plus a distractor) name their own range and are normalised, or not,
            by the pipeline's `mean` / `std`.

    Returns:
        An `ImageSource` with `image_shape = (H, W)`.

    Example:

    ```python
    images = np.random.default_rng(0).integers(0, 256, (512, 32, 32, 3), "uint8")
    source = keras_jepa.data.from_arrays(images)
    ```
    """
    hide_accelerators_from_tensorflow()
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[0] < 1 or 0 in images.shape:
        raise ValueError(
            "`images` must be a non-empty array [N, H, W, C] (add a channel axis "
            f"to grey-scale images: images[..., None]), got shape {images.shape}."
        )
    if images.dtype == np.uint8:
        pass
    elif np.issubdtype(images.dtype, np.floating):
        finite = np.isfinite(images.reshape(len(images), -1)).all(axis=1)
        if not finite.all():
            bad = np.flatnonzero(~finite)
            raise ValueError(
                f"`images` must be finite, but image {bad[0]} (of {len(images)}; "
                f"{len(bad)} in all) holds NaN or infinite values.")
        lowest, highest = check_range(value_range, "value_range", -math.inf, math.inf,
                                      low_inclusive=False, high_inclusive=False)
        low, high = float(np.min(images)), float(np.max(images))
        if not (lowest <= low and high <= highest):
            raise ValueError(
                f"Float `images` must have values in [{lowest:g}, {highest:g}] (the "
                "pipeline normalises them itself; pass uint8 images for 0–255), got "
                f"values from {low} to {high}."
            )
        images = images.astype(np.float32, copy=False)
    else:
        raise ValueError(
            "`images` must be uint8 (0–255) or float (in [0, 1]), got dtype "
            f"{images.dtype}."
        )
    num_examples = images.shape[0]
    image_tensor = tf.constant(images)
    label_tensor = None
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (num_examples,) or not (
            np.issubdtype(labels.dtype, np.integer)
        ):
            raise ValueError(
                f"`labels` must be an integer array of shape ({num_examples},), one "
                f"per image, got dtype {labels.dtype} and shape {labels.shape}."
            )
        label_tensor = tf.constant(labels.astype(np.int32))

    def decode(index):
        example = {
            "image": tf.gather(image_tensor, index),
            "name": tf.strings.join([name, " image ", tf.strings.as_string(index)]),
        }
        if label_tensor is not None:
            example["label"] = tf.gather(label_tensor, index)
        return example

    return ImageSource(
        records=tf.data.Dataset.range(num_examples),
        decode=decode,
        num_channels=images.shape[3],
        num_examples=num_examples,
        has_labels=label_tensor is not None,
        class_names=class_names,
        image_shape=images.shape[1:3],
        shuffle_buffer=num_examples,
        name=name,
    )

