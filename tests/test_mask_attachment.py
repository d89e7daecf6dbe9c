"""Tests of keras_jepa.data.mask_attachment: static specs, determinism, errors, fit."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_jepa.data.mask_attachment import attach_masks
from keras_jepa.masking import MultiBlockMaskGenerator
from keras_jepa.masking import RandomMaskGenerator

MASK_KEYS = ("context_indices", "target_indices", "target_weights")


def _images(num_images=24, size=8):
    # Image i is filled with the value i, so a batch tells which images it holds.
    values = np.arange(num_images, dtype="float32")[:, None, None, None]
    return np.broadcast_to(values, (num_images, size, size, 3)).copy()


def _batched(batch_size=4, drop_remainder=True, **kwargs):
    dataset = tf.data.Dataset.from_tensor_slices(_images(**kwargs))
    return dataset.batch(batch_size, drop_remainder=drop_remainder)


def _masks_of(dataset, key="context_indices"):
    return [element[key] for element in dataset.as_numpy_iterator()]


@pytest.mark.backend_independent
def test_element_spec_is_static_with_mask_keys_and_dtypes():
    generator = MultiBlockMaskGenerator(8, seed=0)
    spec = attach_masks(_batched(), generator).element_spec
    assert set(spec) == {"images", *MASK_KEYS}
    assert spec["images"].shape == (4, 8, 8, 3)
    kc, kt = generator.num_context_tokens, generator.num_target_tokens
    assert spec["context_indices"] == tf.TensorSpec((4, kc), tf.int32)
    assert spec["target_indices"] == tf.TensorSpec((4, 4, kt), tf.int32)
    assert spec["target_weights"] == tf.TensorSpec((4, 4, kt), tf.float32)
    element = next(iter(attach_masks(_batched(), generator)))
    assert element["target_indices"].shape == (4, 4, kt)


@pytest.mark.backend_independent
def test_dict_elements_keep_their_other_keys():
    images = _images()
    dataset = tf.data.Dataset.from_tensor_slices(
        {"images": images, "labels": np.arange(len(images))}
    ).batch(6, drop_remainder=True)
    generator = RandomMaskGenerator(64, seed=0)
    masked = attach_masks(dataset, generator, seed=1)
    assert set(masked.element_spec) == {
        "images", "labels", "visible_indices", "masked_indices"
    }
    assert masked.element_spec["visible_indices"] == tf.TensorSpec((6, 16), tf.int32)
    first = next(masked.as_numpy_iterator())
    np.testing.assert_array_equal(first["labels"], np.arange(6))
    np.testing.assert_array_equal(first["images"], images[:6])


@pytest.mark.backend_independent
def test_masks_follow_the_seed_and_the_batch_counter():
    generator = MultiBlockMaskGenerator(8, seed=0)
    fixed = attach_masks(
        _batched(), generator, seed=5, rerandomize_each_iteration=False
    )
    first = _masks_of(fixed)
    assert len(first) == 6
    for counter, masks in enumerate(first):
        np.testing.assert_array_equal(
            masks, generator.sample(4, (5, counter))["context_indices"]
        )
    # Without rerandomizing, every pass repeats the masks; batches differ.
    np.testing.assert_array_equal(np.stack(_masks_of(fixed)), np.stack(first))
    assert not np.array_equal(first[0], first[1])
    other_seed = attach_masks(
        _batched(), generator, seed=6, rerandomize_each_iteration=False
    )
    assert not np.array_equal(np.stack(_masks_of(other_seed)), np.stack(first))


@pytest.mark.backend_independent
def test_rerandomized_passes_differ_but_are_reproducible():
    generator = MultiBlockMaskGenerator(8)

    def two_passes():
        dataset = attach_masks(_batched(), generator, seed=3)
        return np.stack(_masks_of(dataset)), np.stack(_masks_of(dataset))

    first_pass, second_pass = two_passes()
    assert not np.array_equal(first_pass, second_pass)
    again_first, again_second = two_passes()
    np.testing.assert_array_equal(first_pass, again_first)
    np.testing.assert_array_equal(second_pass, again_second)


@pytest.mark.backend_independent
def test_parallel_unordered_map_keeps_masks_paired_with_their_batch():
    generator = MultiBlockMaskGenerator(8)
    dataset = attach_masks(
        _batched(), generator, seed=9, rerandomize_each_iteration=False,
        num_parallel_calls=4,
    )
    options = tf.data.Options()
    options.deterministic = False
    for element in dataset.with_options(options).as_numpy_iterator():
        # Batch k holds images 4k .. 4k+3 (filled with their index).
        counter = int(element["images"][0, 0, 0, 0]) // 4
        expected = generator.sample(4, (9, counter))
        for key in MASK_KEYS:
            np.testing.assert_array_equal(element[key], expected[key])


@pytest.mark.backend_independent
def test_seed_defaults_to_the_generator_seed():
    generator = MultiBlockMaskGenerator(8, seed=21)
    implicit = attach_masks(_batched(), generator, rerandomize_each_iteration=False)
    np.testing.assert_array_equal(
        _masks_of(implicit)[2], generator.sample(4, (21, 2))["context_indices"]
    )


@pytest.mark.backend_independent
def test_bad_datasets_and_arguments_raise():
    generator = MultiBlockMaskGenerator(8, seed=0)
    with pytest.raises(ValueError, match="drop_remainder=True"):
        attach_masks(_batched(drop_remainder=False), generator)
    with pytest.raises(ValueError, match=r"batched \[B, H, W, C\]"):
        attach_masks(tf.data.Dataset.from_tensor_slices(_images()), generator)
    with pytest.raises(ValueError, match="'images' key"):
        attach_masks(
            tf.data.Dataset.from_tensor_slices({"pixels": _images()}).batch(4, True),
            generator,
        )
    with pytest.raises(ValueError, match="'images' key"):
        attach_masks(tf.data.Dataset.zip((_batched(), _batched())), generator)
    with pytest.raises(ValueError, match="attach masks only once"):
        attach_masks(attach_masks(_batched(), generator), generator)
    with pytest.raises(ValueError, match="`seed`"):
        attach_masks(_batched(), generator, seed=-1)
    with pytest.raises(ValueError, match="`mask_generator`"):
        attach_masks(_batched(), object())
    with pytest.raises(ValueError, match="`dataset`"):
        attach_masks(_images(), generator)


class MaskConsumer(keras.Model):
    """Gathers tokens at the mask indices, as IJEPA does, and records mask dtypes."""

    def __init__(self, num_patches, **kwargs):
        super().__init__(**kwargs)
        self.num_patches = num_patches
        self.embed = keras.layers.Dense(4)
        self.mask_dtypes = {}

    def call(self, inputs):
        for key in MASK_KEYS:
            self.mask_dtypes[key] = keras.backend.standardize_dtype(inputs[key].dtype)
        images = inputs["images"]
        tokens = self.embed(keras.ops.reshape(images, (-1, self.num_patches, 3)))
        context = keras.ops.take_along_axis(
            tokens, keras.ops.expand_dims(inputs["context_indices"], -1), axis=1
        )
        batch_size = keras.ops.shape(images)[0]
        target_indices = keras.ops.reshape(
            inputs["target_indices"], (batch_size, -1, 1)
        )
        targets = keras.ops.take_along_axis(tokens, target_indices, axis=1)
        weights = keras.ops.reshape(inputs["target_weights"], (batch_size, -1, 1))
        predicted = keras.ops.mean(context, axis=1, keepdims=True)
        error = keras.ops.sum(weights * keras.ops.square(targets - predicted))
        return error / keras.ops.sum(weights) / 4.0

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        return y_pred


def test_fit_consumes_attached_masks_on_this_backend():
    keras.utils.clear_session()
    keras.utils.set_random_seed(0)
    images = np.random.default_rng(0).random((32, 8, 8, 3)).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(8, drop_remainder=True)
    dataset = attach_masks(dataset, MultiBlockMaskGenerator(8, seed=0))
    model = MaskConsumer(num_patches=64)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    history = model.fit(dataset.prefetch(2), epochs=2, shuffle=False, verbose=0)
    losses = history.history["loss"]
    assert len(losses) == 2 and np.isfinite(losses).all() and losses[0] > 0
    assert model.mask_dtypes == {
        "context_indices": "int32",
        "target_indices": "int32",
        "target_weights": "float32",
    }
