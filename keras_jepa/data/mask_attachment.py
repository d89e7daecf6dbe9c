"""Adds a mask generator's masks to each batch of a tf.data pipeline.

``attach_masks`` turns a batched dataset of images into a dataset of dicts
``{"images", **masks}`` with fully static shapes, drawing one batch of masks per
element with a single vectorised call of the generator, as a pure function of a base
seed and the batch's position, so the masks are reproducible and safe to draw in
parallel.
"""

import numbers

import numpy as np
import tensorflow as tf

from keras_jepa.data.accelerators import hide_accelerators_from_tensorflow

_IMAGES = "images"
# The attribute keras_jepa.training.step_checks.attached_mask_generators looks for.
_MASK_GENERATOR_ATTRIBUTE = "_keras_jepa_mask_generator"


def attach_masks(
    dataset,
    mask_generator,
    seed=None,
    rerandomize_each_iteration=True,
    num_parallel_calls=tf.data.AUTOTUNE,
):
    """Returns `dataset` with a batch of masks added to every element.

    Batch `k` of a pass gets `mask_generator.sample(batch_size, (seed, k))`, or,
    with `rerandomize_each_iteration=True`, `(seed, k, salt)` where `salt` comes from
    a seeded `tf.data.Dataset.random` stream that changes from one pass over the
    dataset to the next; so `model.fit(..., epochs=E)` on a finite dataset sees new
    masks every epoch, and the sequence of epochs is itself reproducible. The masks
    are drawn through `tf.numpy_function` (numpy inside the pipeline, whatever the
    Keras backend) and arrive as int32 / float32 tensors with static shapes.

    Attach the masks after batching (and after `repeat`, if any) and before
    `prefetch`.

    Args:
        dataset: a batched `tf.data.Dataset` whose elements are image tensors
            `[B, H, W, C]` or dicts with an `"images"` key (other keys are kept).
            The batch dimension must be static: batch with `drop_remainder=True`.
        mask_generator: a `keras_jepa.masking` generator, e.g.
            `MultiBlockMaskGenerator` or `RandomMaskGenerator`.
        seed: non-negative int or None. Base seed of the masks; None uses the
            generator's `seed`, or fresh entropy when that is None too.
        rerandomize_each_iteration: bool, whether each pass over the dataset draws
            new masks (True) or repeats the masks of the first pass (False).
        num_parallel_calls: parallelism of the mask-drawing `map`.

    Returns:
        A `tf.data.Dataset` of dicts with `"images"`, the generator's mask keys and
        any other keys of the input dicts. It remembers `mask_generator`: `fit` of
        an `IJEPA` or `MAE` given this dataset (or one made from it by `prefetch`,
        `map`, ...) refuses a generator made for another grid than the model's.

    Raises:
        ValueError: when the generator's grid does not divide the images' height
            and width (no patch size fits both).

    Example:

    ```python
    generator = keras_jepa.masking.MultiBlockMaskGenerator(grid_size=8, seed=0)
    dataset = tf.data.Dataset.from_tensor_slices(images).shuffle(1024)
    dataset = dataset.batch(64, drop_remainder=True)
    dataset = keras_jepa.data.attach_masks(dataset, generator, seed=0)
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
    ```
    """
    hide_accelerators_from_tensorflow()
    if not isinstance(dataset, tf.data.Dataset):
        raise ValueError(
            f"`dataset` must be a tf.data.Dataset, got {type(dataset).__name__}."
        )
    if not (hasattr(mask_generator, "sample") and hasattr(mask_generator, "mask_spec")):
        raise ValueError(
            "`mask_generator` must be a keras_jepa.masking generator (with `sample` "
            f"and `mask_spec`), got {type(mask_generator).__name__}."
        )
    batch_size = _static_batch_size(dataset.element_spec)
    _check_grid_divides_images(dataset, mask_generator)
    spec = mask_generator.mask_spec(batch_size)
    if isinstance(dataset.element_spec, dict):
        clashes = sorted(set(spec) & set(dataset.element_spec))
        if clashes:
            raise ValueError(
                f"`dataset` elements already have the mask keys {clashes}; "
                "attach masks only once."
            )
    base_seed = _resolve_seed(seed, mask_generator)
    keys = list(spec)
    output_types = [tf.as_dtype(dtype) for _, dtype in spec.values()]

    def draw(*seed_parts):
        masks = mask_generator.sample(batch_size, tuple(int(p) for p in seed_parts))
        return [masks[key] for key in keys]

    def add_masks(counter, element, salt=None):
        seed_parts = [tf.constant(base_seed, tf.int64), counter]
        if salt is not None:
            # Dataset.random yields int64; seeds must be non-negative.
            seed_parts.append(tf.math.floormod(salt, 2**32))
        masks = tf.numpy_function(draw, seed_parts, output_types, stateful=False)
        outputs = dict(element) if isinstance(element, dict) else {_IMAGES: element}
        for key, mask, (shape, _) in zip(keys, masks, spec.values()):
            mask.set_shape(shape)
            outputs[key] = mask
        return outputs

    indexed = dataset.enumerate()
    if rerandomize_each_iteration:
        salts = tf.data.Dataset.random(
            seed=base_seed % (2**31 - 1), rerandomize_each_iteration=True
        )
        indexed = tf.data.Dataset.zip((indexed, salts))
        masked = indexed.map(
            lambda pair, salt: add_masks(*pair, salt=salt),
            num_parallel_calls=num_parallel_calls,
        )
    else:
        masked = indexed.map(add_masks, num_parallel_calls=num_parallel_calls)
    # Read by the models' `fit` (through `prefetch` and later maps): a generator made
    # for another grid than the model's is refused there, where the two meet.
    setattr(masked, _MASK_GENERATOR_ATTRIBUTE, mask_generator)
    return masked


def _check_grid_divides_images(dataset, mask_generator):
    """A generator's grid must divide the images: each patch is a whole pixel block."""
    grid = getattr(mask_generator, "grid_size", None)
    spec = dataset.element_spec
    images = spec[_IMAGES] if isinstance(spec, dict) else spec
    height, width = images.shape[1], images.shape[2]
    if grid is None or height is None or width is None:
        return
    rows, cols = (grid, grid) if isinstance(grid, int) else tuple(grid)
    if height % rows or width % cols:
        raise ValueError(
            f"`mask_generator` has a {rows}×{cols} grid, which does not divide the "
            f"dataset's {height}×{width} images into whole patches: build it with "
            "grid_size=(image size) / (the encoder's patch_size).")


def _static_batch_size(element_spec):
    if isinstance(element_spec, dict):
        if _IMAGES not in element_spec:
            raise ValueError(
                "`dataset` elements that are dicts must have an 'images' key, got "
                f"keys {sorted(element_spec)}."
            )
        images_spec = element_spec[_IMAGES]
    elif isinstance(element_spec, tf.TensorSpec):
        images_spec = element_spec
    else:
        raise ValueError(
            "`dataset` elements must be image tensors [B, H, W, C] or dicts with an "
            f"'images' key, got {element_spec}."
        )
    shape = images_spec.shape
    if shape.rank != 4:
        raise ValueError(
            "`dataset` images must be batched [B, H, W, C] tensors, got shape "
            f"{shape}."
        )
    if shape[0] is None:
        raise ValueError(
            "`dataset` must have a static batch dimension so that the masks have "
            "static shapes: batch it with `dataset.batch(batch_size, "
            f"drop_remainder=True)` (got images of shape {shape})."
        )
    return int(shape[0])


def _resolve_seed(seed, mask_generator):
    if seed is None:
        seed = getattr(mask_generator, "seed", None)
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1, np.uint32)[0])
    if (
        isinstance(seed, bool)
        or not isinstance(seed, numbers.Integral)
        or not 0 <= seed < 2**63
    ):
        raise ValueError(
            f"`seed` must be an int in [0, 2**63) or None, got {seed!r}."
        )
    return int(seed)
