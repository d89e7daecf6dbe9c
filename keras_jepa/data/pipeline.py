"""The pipeline builders: an ``ImageSource`` in, batched tf.data dicts out.

``make_pretraining_dataset`` is the one pipeline every source goes through for
training: shuffle the cheap records, decode, RandomResizedCrop, optional flip,
normalisation, batching with static shapes, masks per batch, prefetch. Every random
choice is a stateless function of the pipeline's seed and the element's position in
a seeded stream, so the same seed gives the same batches.
``make_eval_dataset`` is its deterministic twin for features and probes.
"""

import math
import numbers

import numpy as np
import tensorflow as tf

from keras_jepa.checks import check_non_negative_int
from keras_jepa.checks import check_positive_int
from keras_jepa.checks import check_range
from keras_jepa.data.accelerators import hide_accelerators_from_tensorflow
from keras_jepa.data.augmentation import center_crop_resize
from keras_jepa.data.augmentation import random_resized_crop
from keras_jepa.data.mask_attachment import attach_masks
from keras_jepa.data.sources import ImageSource

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# For grey-scale images, "imagenet" means the averages of the RGB statistics.
_IMAGENET_GREY_MEAN = (0.449,)
_IMAGENET_GREY_STD = (0.226,)


def make_pretraining_dataset(
    source,
    image_size,
    batch_size,
    mask_generator=None,
    crop_scale=(0.3, 1.0),
    aspect_ratio=(3.0 / 4.0, 4.0 / 3.0),
    flip=False,
    mean="imagenet",
    std="imagenet",
    min_image_size=None,
    seed=None,
    shuffle_buffer=None,
    repeat=False,
    include_labels=True,
    num_parallel_calls=tf.data.AUTOTUNE,
):
    """A training pipeline of image batches with masks, with fully static shapes.

    Steps: shuffle the source's records (`shuffle_buffer`, reshuffled every pass),
    optionally repeat, decode, RandomResizedCrop to `image_size` (torchvision's
    sampling, bilinear with antialiasing: the reference's only augmentation),
    optional horizontal flip, scale to [0, 1], normalise with `mean` / `std`,
    batch with `drop_remainder=True`, draw one batch of masks per batch with
    `attach_masks` (one vectorised generator call, no per-sample Python), and
    prefetch (AUTOTUNE). Decoding and augmentation run in a parallel `map`.
    Static batches leave out `num_examples % batch_size` images per pass (other
    ones every pass, as the order is reshuffled), as the reference's
    `drop_last=True` does; `dataset.cardinality()` gives the batches per pass.

    Determinism: with an int `seed`, the shuffle, the crops, the flips and the
    masks are functions of `seed` (and of TensorFlow's global seed, which
    `keras.utils.set_random_seed` sets), whatever the map's parallelism: two
    pipelines built alike give the same batches. Each pass over a finite dataset
    (each epoch of `fit`) gets new crops, order and masks; the sequence of passes
    is reproducible too. `seed=None` draws the seed from numpy's global generator.

    Small images: an image smaller than `min_image_size` (default: `image_size`)
    is an error, raised when the pipeline is built for sources whose image size is
    known (arrays, digits) and as a TensorFlow `InvalidArgumentError` naming the
    image when it is read otherwise. Pass `min_image_size=1` to accept any image:
    RandomResizedCrop then upsamples (the reference does the same).

    Args:
        source: an `ImageSource` (`from_arrays`, `from_image_folder`, `from_tfds`,
            `from_digits`).
        image_size: int or `(height, width)`, the output image size.
        batch_size: positive int.
        mask_generator: a `keras_jepa.masking` generator, or None for no masks.
        crop_scale: `(min, max)` in (0, 1], RandomResizedCrop's area range; None
            for no random crop (the image is resized as in `make_eval_dataset`).
        aspect_ratio: `(min, max)`, RandomResizedCrop's width / height range.
        flip: bool, random horizontal flips (not in the reference).
        mean, std: per-channel statistics of images in [0, 1]: a float, a sequence
            of `num_channels` floats, or "imagenet" (ImageNet's RGB statistics;
            their channel averages, 0.449 / 0.226, for grey-scale). Both None keeps
            the images in [0, 1].
        min_image_size: int, `(height, width)` or None (= `image_size`), the
            smallest accepted source image.
        seed: int in [0, 2**63) or None.
        shuffle_buffer: int or None (the source's default: every example for
            arrays, folders and digits; 10,000 for TFDS); 0 for no shuffle.
        repeat: bool, repeat forever (then pass `steps_per_epoch` to `fit`).
        include_labels: bool, add `"labels"` (int32 `[B]`) when the source has
            labels.
        num_parallel_calls: parallelism of the decoding and mask maps.

    Returns:
        A `tf.data.Dataset` of dicts: `"images"` float32 `[B, H, W, C]`,
        `"labels"` int32 `[B]` (see `include_labels`) and the generator's mask
        keys, every shape static.

    Example:

    ```python
    source = keras_jepa.data.from_arrays(images)          # uint8 [N, 32, 32, 3]
    generator = keras_jepa.masking.MultiBlockMaskGenerator(grid_size=8)
    dataset = keras_jepa.data.make_pretraining_dataset(
        source, image_size=32, batch_size=64, mask_generator=generator, seed=0)
    model.fit(dataset, epochs=100)
    ```
    """
    hide_accelerators_from_tensorflow()
    _check_source(source)
    size = _check_image_size(image_size, "image_size")
    batch_size = check_positive_int(batch_size, "batch_size")
    if crop_scale is not None:
        crop_scale = check_range(crop_scale, "crop_scale", 0, 1, False, True)
    aspect_ratio = check_range(
        aspect_ratio, "aspect_ratio", 0, math.inf, False, False
    )
    if not isinstance(flip, bool):
        raise ValueError(f"`flip` must be a bool, got {flip!r}.")
    if not isinstance(repeat, bool):
        raise ValueError(f"`repeat` must be a bool, got {repeat!r}.")
    if shuffle_buffer is None:
        shuffle_buffer = source.shuffle_buffer
    else:
        check_non_negative_int(shuffle_buffer, "shuffle_buffer", optional=True)
    if not repeat and source.num_examples is not None and batch_size > source.num_examples:
        raise ValueError(
            f"`batch_size` ({batch_size}) exceeds the {source.num_examples} images of "
            f"{source.name!r}, so no full batch can be made: lower it or pass "
            "repeat=True."
        )
    seeds = _derive_seeds(seed, 3)
    transform = _image_transform(
        source, size, min_image_size, mean, std, include_labels,
        crop=None if crop_scale is None else (crop_scale, aspect_ratio),
        flip=flip,
    )

    records = source.records
    if shuffle_buffer > 0:
        records = records.shuffle(
            shuffle_buffer, seed=seeds[0], reshuffle_each_iteration=True
        )
    if repeat:
        records = records.repeat()
    # One [2] stateless seed per element from a seeded stream that restarts with
    # new values on every pass (so each epoch gets new crops), and that is paired
    # with its element before the parallel map (so parallelism cannot reorder it).
    element_seeds = tf.data.Dataset.random(
        seed=seeds[1], rerandomize_each_iteration=True
    ).batch(2)
    dataset = tf.data.Dataset.zip(records, element_seeds)
    dataset = dataset.map(transform, num_parallel_calls=num_parallel_calls)
    dataset = dataset.batch(
        batch_size, drop_remainder=True, num_parallel_calls=num_parallel_calls
    )
    if mask_generator is not None:
        dataset = attach_masks(
            dataset, mask_generator, seed=seeds[2],
            num_parallel_calls=num_parallel_calls,
        )
    return without_autotuner(dataset.prefetch(tf.data.AUTOTUNE))


def make_eval_dataset(
    source,
    image_size,
    batch_size,
    crop_fraction=1.0,
    mean="imagenet",
    std="imagenet",
    min_image_size=None,
    drop_remainder=False,
    include_labels=True,
    num_parallel_calls=tf.data.AUTOTUNE,
):
    """A deterministic pipeline for features and probes: centre crop, no shuffle.

    Every image, in the source's order, is centre-cropped (`center_crop_resize`),
    resized to `image_size`, scaled to [0, 1] and normalised as in
    `make_pretraining_dataset`; no flip, no masks. The last partial batch is kept
    unless `drop_remainder=True` (the batch dimension is then None).

    Args:
        source: an `ImageSource`.
        image_size: int or `(height, width)`.
        batch_size: positive int.
        crop_fraction: float in (0, 1]; 0.875 is "resize 256, crop 224".
        mean, std, min_image_size, include_labels, num_parallel_calls: as in
            `make_pretraining_dataset`.
        drop_remainder: bool, drop the last partial batch (static batch shape).

    Returns:
        A `tf.data.Dataset` of dicts with `"images"` and, when the source has
        labels and `include_labels`, `"labels"`.

    Example:

    ```python
    test = keras_jepa.data.make_eval_dataset(keras_jepa.data.from_digits("test"), 16, 256,
                                              mean=None, std=None)
    features = np.concatenate([model.encode(b["images"]) for b in test.as_numpy_iterator()])
    ```
    """
    hide_accelerators_from_tensorflow()
    _check_source(source)
    size = _check_image_size(image_size, "image_size")
    batch_size = check_positive_int(batch_size, "batch_size")
    if isinstance(crop_fraction, bool) or not isinstance(crop_fraction, numbers.Real) or not (
        0.0 < crop_fraction <= 1.0
    ):
        raise ValueError(f"`crop_fraction` must be in (0, 1], got {crop_fraction!r}.")
    if not isinstance(drop_remainder, bool):
        raise ValueError(f"`drop_remainder` must be a bool, got {drop_remainder!r}.")
    transform = _image_transform(
        source, size, min_image_size, mean, std, include_labels,
        crop=None, flip=False, crop_fraction=float(crop_fraction),
    )
    dataset = source.records.map(
        lambda record: transform(record, None), num_parallel_calls=num_parallel_calls
    )
    dataset = dataset.batch(
        batch_size, drop_remainder=drop_remainder, num_parallel_calls=num_parallel_calls
    )
    return without_autotuner(dataset.prefetch(tf.data.AUTOTUNE))


def without_autotuner(dataset):
    """Turns off tf.data's autotuning thread for `dataset`.

    With it on, deleting an iterator (which `fit` does at the end of every epoch) can
    wait for the autotuner's next wake-up: on jax and torch we measured pauses of
    3–4 s per epoch (0.6 s steps, 10 steps, 10.2 s per epoch instead of 6.2 s). The
    pipelines here are far faster than a train step (benchmarks/pipeline_throughput.py),
    so fixed parallelism loses nothing.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def _image_transform(source, size, min_image_size, mean, std, include_labels, crop,
                     flip, crop_fraction=1.0):
    """The per-element map: record (+ seed) -> {"images", "labels"?}."""
    height, width = size
    channels = source.num_channels
    statistics = _normalization(mean, std, channels)
    min_height, min_width = _min_size(min_image_size, size)
    check_at_runtime = min_height > 1 or min_width > 1
    if source.image_shape is not None and check_at_runtime:
        check_at_runtime = False
        if source.image_shape[0] < min_height or source.image_shape[1] < min_width:
            raise ValueError(
                f"The images of {source.name!r} are {source.image_shape[0]}x"
                f"{source.image_shape[1]} pixels, smaller than `min_image_size` "
                f"{min_height}x{min_width} (default: `image_size`). Pass a smaller "
                "`image_size`, or min_image_size=1 to upsample them."
            )
    if not isinstance(include_labels, bool):
        raise ValueError(f"`include_labels` must be a bool, got {include_labels!r}.")
    with_labels = include_labels and source.has_labels

    def transform(record, seed):
        example = source.decode(record)
        image = example["image"]
        if check_at_runtime:
            shape = tf.shape(image)
            big_enough = (shape[0] >= min_height) & (shape[1] >= min_width)
            check = tf.debugging.Assert(
                big_enough,
                [
                    "Image", example["name"], "is", shape[0], "x", shape[1],
                    f"pixels, smaller than min_image_size {min_height}x{min_width} "
                    "(default: image_size). Pass a smaller image_size, or "
                    "min_image_size=1 to upsample small images.",
                ],
            )
            with tf.control_dependencies([check]):
                image = tf.identity(image)
        if seed is not None:
            crop_seed, flip_seed = tf.unstack(
                tf.random.experimental.stateless_split(seed, 2)
            )
        if crop is not None:
            image = random_resized_crop(image, size, crop_seed, *crop)
        else:
            image = center_crop_resize(image, size, crop_fraction)
        if example["image"].dtype == tf.uint8:
            # After the resize: fewer pixels to scale when the crop shrinks.
            image = image / 255.0
        if flip:
            image = tf.image.stateless_random_flip_left_right(image, flip_seed)
        if statistics is not None:
            image = (image - statistics[0]) / statistics[1]
        image = tf.ensure_shape(image, (height, width, channels))
        outputs = {"images": image}
        if with_labels:
            outputs["labels"] = tf.cast(example["label"], tf.int32)
        return outputs

    return transform


def _normalization(mean, std, channels):
    """Returns None or `(mean, std)` as float32 `[C]` constants, checked."""
    if mean is None and std is None:
        return None
    if mean is None or std is None:
        raise ValueError(
            "`mean` and `std` must both be None (images in [0, 1]) or both be set, "
            f"got mean={mean!r} and std={std!r}."
        )
    values = []
    for name, value, imagenet_rgb, imagenet_grey in (
        ("mean", mean, IMAGENET_MEAN, _IMAGENET_GREY_MEAN),
        ("std", std, IMAGENET_STD, _IMAGENET_GREY_STD),
    ):
        if isinstance(value, str):
            if value != "imagenet":
                raise ValueError(
                    f"`{name}` must be 'imagenet', a float, a sequence of floats or "
                    f"None, got {value!r}."
                )
            if channels not in (1, 3):
                raise ValueError(
                    f"`{name}`='imagenet' needs 1 or 3 channels; the images have "
                    f"{channels}: pass {channels} values or None."
                )
            value = imagenet_rgb if channels == 3 else imagenet_grey
        try:
            array = np.broadcast_to(np.asarray(value, np.float32), (channels,))
        except (ValueError, TypeError):
            raise ValueError(
                f"`{name}` must be a float or {channels} floats, one per channel "
                f"of the images, got {value!r}."
            ) from None
        if not np.all(np.isfinite(array)) or (name == "std" and np.any(array <= 0)):
            raise ValueError(f"`{name}` must be finite (and `std` positive), got {value!r}.")
        values.append(tf.constant(array))
    return tuple(values)


def _check_source(source):
    if not isinstance(source, ImageSource):
        raise ValueError(
            "`source` must be a keras_jepa.data.ImageSource (from from_arrays, "
            "from_image_folder, from_tfds or from_digits), got "
            f"{type(source).__name__}."
        )


def _check_image_size(value, name):
    message = f"`{name}` must be a positive int or a pair of them, got {value!r}."
    pair = value if isinstance(value, (list, tuple)) else (value, value)
    if len(pair) != 2:
        raise ValueError(message)
    try:
        return tuple(check_positive_int(v, name) for v in pair)
    except ValueError:
        raise ValueError(message) from None


def _min_size(min_image_size, size):
    if min_image_size is None:
        return size
    return _check_image_size(min_image_size, "min_image_size")


def _derive_seeds(seed, count):
    """`count` independent int seeds from the pipeline's seed."""
    if seed is None:
        # numpy's global generator: keras.utils.set_random_seed makes it repeat.
        seed = int(np.random.randint(0, 2**31 - 1))
    elif isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not (
        0 <= seed < 2**63
    ):
        raise ValueError(f"`seed` must be an int in [0, 2**63) or None, got {seed!r}.")
    state = np.random.SeedSequence(int(seed)).generate_state(count, np.uint32)
    # tf.data seeds are int64; 31 bits keep them positive everywhere.
    return [int(s) >> 1 for s in state]
