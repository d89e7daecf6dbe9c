"""Image augmentation for tf.data: I-JEPA's RandomResizedCrop and the eval crop.

Keras core has no RandomResizedCrop, the reference's only augmentation, so it is
written here with TensorFlow ops that run inside ``tf.data.Dataset.map`` on any
Keras backend. Randomness is stateless: every op takes an explicit seed (a
``[2]`` integer tensor), so a pipeline that derives the seeds from its own seed
gives the same crops on every run and in any map parallelism.
"""

import math

import tensorflow as tf

# torchvision's RandomResizedCrop tries this many random boxes before falling back.
_CROP_ATTEMPTS = 10


def sample_crop_box(height, width, seed, scale=(0.3, 1.0),
                    aspect_ratio=(3.0 / 4.0, 4.0 / 3.0)):
    """Samples a RandomResizedCrop box, as torchvision does, with stateless ops.

    Ten candidate boxes are drawn at once: area uniform in `scale` × the image
    area, aspect ratio (width / height) log-uniform in `aspect_ratio`, sides
    `w = round(sqrt(area·ratio))`, `h = round(sqrt(area / ratio))`. The first
    candidate that fits the image is used, at a uniform position. When none fits
    (very elongated images), the fallback is the largest centred box whose aspect
    ratio is the image's, clamped to `aspect_ratio`. This is the algorithm of
    torchvision's `RandomResizedCrop.get_params`, vectorised over the attempts.

    Args:
        height, width: int32 scalars, the image size.
        seed: `[2]` int32/int64 tensor, the stateless seed.
        scale: `(min, max)`, the box area as a fraction of the image area.
        aspect_ratio: `(min, max)`, the box's width / height.

    Returns:
        `(top, left, box_height, box_width)`, int32 scalars.

    Example:

    ```python
    top, left, h, w = keras_jepa.data.augmentation.sample_crop_box(
        32, 32, seed=tf.constant([0, 1]))
    ```
    """
    height = tf.cast(height, tf.int32)
    width = tf.cast(width, tf.int32)
    seed = tf.cast(seed, tf.int64)
    uniform = tf.random.stateless_uniform((4, _CROP_ATTEMPTS), seed, dtype=tf.float32)
    area = tf.cast(height * width, tf.float32) * (
        scale[0] + uniform[0] * (scale[1] - scale[0])
    )
    log_low, log_high = math.log(aspect_ratio[0]), math.log(aspect_ratio[1])
    ratio = tf.exp(log_low + uniform[1] * (log_high - log_low))
    box_width = tf.cast(tf.round(tf.sqrt(area * ratio)), tf.int32)
    box_height = tf.cast(tf.round(tf.sqrt(area / ratio)), tf.int32)
    fits = (
        (box_width > 0) & (box_height > 0)
        & (box_width <= width) & (box_height <= height)
    )
    # Index of the first candidate that fits (argmax does not promise the first
    # of ties); _CROP_ATTEMPTS - 1 when none fits, where the fallback is used.
    attempt = tf.range(_CROP_ATTEMPTS, dtype=tf.int32)
    first = tf.minimum(
        tf.reduce_min(tf.where(fits, attempt, _CROP_ATTEMPTS)), _CROP_ATTEMPTS - 1
    )

    image_ratio = tf.cast(width, tf.float32) / tf.cast(height, tf.float32)
    clamped = tf.clip_by_value(image_ratio, aspect_ratio[0], aspect_ratio[1])
    too_wide = image_ratio > clamped
    fallback_width = tf.where(
        too_wide,
        tf.cast(tf.round(tf.cast(height, tf.float32) * clamped), tf.int32),
        width,
    )
    fallback_height = tf.where(
        image_ratio < clamped,
        tf.cast(tf.round(tf.cast(width, tf.float32) / clamped), tf.int32),
        height,
    )
    any_fits = tf.reduce_any(fits)
    box_height = tf.where(any_fits, box_height[first], fallback_height)
    box_width = tf.where(any_fits, box_width[first], fallback_width)
    # floor(u * (n + 1)) with u in [0, 1) is uniform over 0 .. n; the fallback is
    # centred, as torchvision's.
    top = tf.where(
        any_fits,
        tf.cast(uniform[2, first] * tf.cast(height - box_height + 1, tf.float32),
                tf.int32),
        (height - box_height) // 2,
    )
    left = tf.where(
        any_fits,
        tf.cast(uniform[3, first] * tf.cast(width - box_width + 1, tf.float32),
                tf.int32),
        (width - box_width) // 2,
    )
    # Guard float rounding at u -> 1.
    top = tf.minimum(top, height - box_height)
    left = tf.minimum(left, width - box_width)
    return top, left, box_height, box_width


def random_resized_crop(image, size, seed, scale=(0.3, 1.0),
                        aspect_ratio=(3.0 / 4.0, 4.0 / 3.0),
                        interpolation="bilinear", antialias=True):
    """Crops a random box of an image and resizes it: I-JEPA's augmentation.

    The box comes from `sample_crop_box` (torchvision's RandomResizedCrop
    sampling); the crop is resized with `tf.image.resize`. Bilinear with
    antialiasing matches the reference (PIL's bilinear filter, which widens its
    support when it shrinks). A box smaller than `size` is upsampled, as in the
    reference; `keras_jepa.data.make_pretraining_dataset` checks the whole
    image's size (`min_image_size`) before cropping.

    Args:
        image: `[H, W, C]` tensor of any real dtype (H and W may be dynamic).
        size: int or `(height, width)`, the output size.
        seed: `[2]` integer tensor, the stateless seed.
        scale: `(min, max)` in (0, 1], the crop's area as a fraction of the image's.
        aspect_ratio: `(min, max)`, the crop's width / height.
        interpolation: a `tf.image.resize` method name.
        antialias: bool, `tf.image.resize`'s antialias flag.

    Returns:
        A float32 `[height, width, C]` tensor, in the value units of `image`
        (0–255 for uint8 input).

    Example:

    ```python
    crop = keras_jepa.data.random_resized_crop(
        image, 224, seed=tf.constant([0, 7]), scale=(0.3, 1.0))
    ```
    """
    out_height, out_width = _size_pair(size)
    shape = tf.shape(image)
    top, left, box_height, box_width = sample_crop_box(
        shape[0], shape[1], seed, scale, aspect_ratio
    )
    crop = tf.slice(image, tf.stack([top, left, 0]), tf.stack([box_height, box_width, -1]))
    return _resize(crop, out_height, out_width, interpolation, antialias)


def center_crop_resize(image, size, crop_fraction=1.0, interpolation="bilinear",
                       antialias=True):
    """The evaluation transform: the central crop of an image, resized.

    The crop is the largest centred box with the output's aspect ratio, scaled by
    `crop_fraction` per side; `crop_fraction=0.875` is the usual "resize to 256,
    centre crop 224", and 1.0 keeps as much of the image as the aspect ratio
    allows. Images smaller than `size` are upsampled.

    Args:
        image: `[H, W, C]` tensor of any real dtype.
        size: int or `(height, width)`, the output size.
        crop_fraction: float in (0, 1], the crop's side relative to the largest box.
        interpolation, antialias: as in `tf.image.resize`.

    Returns:
        A float32 `[height, width, C]` tensor in the value units of `image`.

    Example:

    ```python
    view = keras_jepa.data.center_crop_resize(image, 224, crop_fraction=0.875)
    ```
    """
    out_height, out_width = _size_pair(size)
    if crop_fraction == 1.0 and tuple(image.shape[:2]) == (out_height, out_width):
        # Already the output size (static shapes): the resize would be the identity.
        return tf.cast(image, tf.float32)
    shape = tf.shape(image)
    height = tf.cast(shape[0], tf.float32)
    width = tf.cast(shape[1], tf.float32)
    # Largest box of the output's aspect ratio inside the image.
    box_scale = tf.minimum(height / out_height, width / out_width) * crop_fraction
    box_height = tf.maximum(1, tf.cast(tf.round(box_scale * out_height), tf.int32))
    box_width = tf.maximum(1, tf.cast(tf.round(box_scale * out_width), tf.int32))
    box_height = tf.minimum(box_height, shape[0])
    box_width = tf.minimum(box_width, shape[1])
    top = (shape[0] - box_height) // 2
    left = (shape[1] - box_width) // 2
    crop = tf.slice(image, tf.stack([top, left, 0]), tf.stack([box_height, box_width, -1]))
    return _resize(crop, out_height, out_width, interpolation, antialias)


def _resize(image, height, width, interpolation, antialias):
    resized = tf.image.resize(
        image, (height, width), method=interpolation, antialias=antialias
    )
    # "nearest" keeps the input dtype; every other method returns float32.
    return tf.cast(resized, tf.float32)


def _size_pair(size):
    if isinstance(size, (list, tuple)):
        height, width = size
    else:
        height = width = size
    return int(height), int(width)
