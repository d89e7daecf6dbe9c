"""Tests of keras_jepa.data.pipeline: static specs, determinism, transforms, errors, fit."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import tiny_ijepa

import keras_jepa.data.accelerators as accelerators
from keras_jepa.data import IMAGENET_MEAN
from keras_jepa.data import IMAGENET_STD
from keras_jepa.data import digits_dataset
from keras_jepa.data import from_arrays
from keras_jepa.data import hide_accelerators_from_tensorflow
from keras_jepa.data import load_digits
from keras_jepa.data import make_eval_dataset
from keras_jepa.data import make_pretraining_dataset
from keras_jepa.masking import MultiBlockMaskGenerator
from keras_jepa.masking import RandomMaskGenerator
from keras_jepa.training import ScheduledAdamW

MASK_KEYS = ("context_indices", "target_indices", "target_weights")


@pytest.fixture(autouse=True)
def _seeded():
    # Overrides the conftest fixture: TF's global seed is what the pipelines'
    # op-level seeds combine with; only the fit test builds Keras state.
    tf.random.set_seed(0)
    yield


def _uint8_images(num_images=40, size=12, channels=3):
    return np.random.default_rng(0).integers(
        0, 256, (num_images, size, size, channels), dtype="uint8"
    )


def _indexed_source(num_images=40, size=8):
    # Image i is filled with i, and labelled i, so a batch tells which images it holds.
    values = np.arange(num_images, dtype="uint8")[:, None, None, None]
    images = np.broadcast_to(values, (num_images, size, size, 1)).copy()
    return from_arrays(images, np.arange(num_images))


def _batches(dataset, count=None):
    iterator = dataset.as_numpy_iterator()
    return [next(iterator) for _ in range(count)] if count else list(iterator)


@pytest.mark.backend_independent
def test_element_spec_is_static_with_contract_keys():
    generator = MultiBlockMaskGenerator(4, seed=0)
    source = from_arrays(_uint8_images(), np.arange(40) % 3)
    dataset = make_pretraining_dataset(source, 8, 16, generator, seed=0)
    spec = dataset.element_spec
    assert set(spec) == {"images", "labels", *MASK_KEYS}
    assert spec["images"] == tf.TensorSpec((16, 8, 8, 3), tf.float32)
    assert spec["labels"] == tf.TensorSpec((16,), tf.int32)
    kc, kt = generator.num_context_tokens, generator.num_target_tokens
    assert spec["context_indices"] == tf.TensorSpec((16, kc), tf.int32)
    assert spec["target_indices"] == tf.TensorSpec((16, 4, kt), tf.int32)
    assert spec["target_weights"] == tf.TensorSpec((16, 4, kt), tf.float32)
    batches = _batches(dataset)
    assert len(batches) == 40 // 16 == int(dataset.cardinality())
    assert batches[0]["images"].shape == (16, 8, 8, 3)
    # Non-square outputs, other generators and no labels work the same way.
    dataset = make_pretraining_dataset(
        source, (8, 12), 5, RandomMaskGenerator(24, seed=0), include_labels=False
    )
    assert set(dataset.element_spec) == {"images", "visible_indices", "masked_indices"}
    assert dataset.element_spec["images"].shape == (5, 8, 12, 3)


@pytest.mark.backend_independent
def test_same_seed_gives_same_batches_and_each_pass_differs():
    generator = MultiBlockMaskGenerator(4)
    source = from_arrays(_uint8_images())

    def two_passes(seed):
        dataset = make_pretraining_dataset(source, 8, 8, generator, seed=seed, flip=True)
        return _batches(dataset), _batches(dataset)

    first, second = two_passes(3)
    again_first, again_second = two_passes(3)
    for batch, again in zip(first + second, again_first + again_second):
        for key in batch:
            np.testing.assert_array_equal(batch[key], again[key])
    # A second pass (epoch) draws new order, crops and masks.
    for key in ("images", "context_indices"):
        assert not np.array_equal(first[0][key], second[0][key])
    other, _ = two_passes(4)
    assert not np.array_equal(first[0]["images"], other[0]["images"])


@pytest.mark.backend_independent
def test_seed_none_follows_numpys_global_seed():
    source = from_arrays(_uint8_images())

    def first_images():
        dataset = make_pretraining_dataset(source, 8, 8)
        return _batches(dataset, 1)[0]["images"]

    np.random.seed(5)
    first = first_images()
    np.random.seed(5)
    np.testing.assert_array_equal(first_images(), first)
    assert not np.array_equal(first_images(), first)


@pytest.mark.backend_independent
def test_parallelism_does_not_change_the_batches():
    source = from_arrays(_uint8_images())
    serial = make_pretraining_dataset(source, 8, 8, seed=1, num_parallel_calls=1)
    parallel = make_pretraining_dataset(source, 8, 8, seed=1, num_parallel_calls=4)
    for a, b in zip(_batches(serial), _batches(parallel)):
        np.testing.assert_array_equal(a["images"], b["images"])


@pytest.mark.backend_independent
def test_one_pass_holds_every_image_once_in_shuffled_order():
    source = _indexed_source()
    batches = _batches(make_pretraining_dataset(source, 8, 8, seed=0))
    labels = np.concatenate([b["labels"] for b in batches])
    assert sorted(labels) == list(range(40))
    assert not np.array_equal(labels, np.arange(40))
    # Each image (constant value i / 255) still carries its label.
    images = np.concatenate([b["images"] for b in batches])
    normalised = (labels / 255.0 - 0.449) / 0.226
    np.testing.assert_allclose(images[:, 3, 3, 0], normalised, rtol=1e-5, atol=1e-5)
    unshuffled = make_pretraining_dataset(source, 8, 8, seed=0, shuffle_buffer=0)
    labels = np.concatenate([b["labels"] for b in _batches(unshuffled)])
    np.testing.assert_array_equal(labels, np.arange(40))


@pytest.mark.backend_independent
def test_repeat_runs_past_one_pass():
    source = _indexed_source(num_images=10)
    dataset = make_pretraining_dataset(source, 8, 4, seed=0, repeat=True)
    labels = np.concatenate([b["labels"] for b in _batches(dataset, count=10)])
    assert np.bincount(labels, minlength=10).tolist() == [4] * 10


@pytest.mark.backend_independent
def test_scaling_and_normalisation():
    values = np.array([0, 51, 255], "uint8")
    # Every crop of a constant image is that constant.
    images = np.broadcast_to(values, (4, 10, 10, 3)).copy()
    source = from_arrays(images)
    batch = _batches(make_pretraining_dataset(source, 8, 4, seed=0), 1)[0]
    expected = (values / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(batch["images"], np.broadcast_to(expected, (4, 8, 8, 3)),
                               rtol=1e-5, atol=1e-5)
    batch = _batches(make_pretraining_dataset(source, 8, 4, mean=None, std=None), 1)[0]
    np.testing.assert_allclose(batch["images"][0, 0, 0], values / 255.0, atol=1e-6)
    batch = _batches(make_pretraining_dataset(source, 8, 4, mean=0.5, std=(1, 2, 4)), 1)[0]
    np.testing.assert_allclose(batch["images"][0, 0, 0], (values / 255.0 - 0.5) / [1, 2, 4],
                               atol=1e-6)
    # Float sources are already in [0, 1]: no second scaling.
    floats = from_arrays(np.full((4, 8, 8, 1), 0.25, "float32"))
    batch = _batches(make_pretraining_dataset(floats, 8, 4, mean=None, std=None), 1)[0]
    np.testing.assert_allclose(batch["images"], 0.25, atol=1e-6)


@pytest.mark.backend_independent
def test_flip_mirrors_some_images_and_keeps_the_rest():
    ramp = np.broadcast_to(np.arange(8, dtype="uint8") * 30, (16, 8, 8)).copy()[..., None]
    source = from_arrays(ramp)
    batch = _batches(make_pretraining_dataset(
        source, 8, 16, crop_scale=None, flip=True, mean=None, std=None, seed=0), 1)[0]
    rows = batch["images"][:, 0, :, 0] * 255.0
    flipped = np.isclose(rows, ramp[0, 0, ::-1, 0]).all(axis=1)
    kept = np.isclose(rows, ramp[0, 0, :, 0]).all(axis=1)
    assert (flipped | kept).all() and flipped.any() and kept.any()


@pytest.mark.backend_independent
def test_eval_dataset_keeps_order_and_the_last_partial_batch():
    source = _indexed_source(num_images=10)
    batches = _batches(make_eval_dataset(source, 8, 4, mean=None, std=None))
    assert [len(b["labels"]) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b["labels"] for b in batches]), np.arange(10))
    np.testing.assert_allclose(batches[2]["images"][:, 0, 0, 0], np.array([8, 9]) / 255.0)
    dataset = make_eval_dataset(source, 8, 4, drop_remainder=True)
    assert dataset.element_spec["images"].shape == (4, 8, 8, 1)
    assert len(_batches(dataset)) == 2


@pytest.mark.backend_independent
def test_images_smaller_than_the_output_need_min_image_size():
    source = from_arrays(_uint8_images(size=6))
    with pytest.raises(ValueError, match=r"6x6 pixels, smaller than `min_image_size` 8x8"):
        make_pretraining_dataset(source, 8, 4)
    with pytest.raises(ValueError, match="min_image_size"):
        make_eval_dataset(source, 8, 4)
    dataset = make_pretraining_dataset(source, 8, 4, min_image_size=1)
    assert _batches(dataset, 1)[0]["images"].shape == (4, 8, 8, 3)


@pytest.mark.backend_independent
def test_bad_arguments_raise_naming_them():
    source = from_arrays(_uint8_images(num_images=6))
    cases = [
        (dict(source=_uint8_images()), "`source` must be a keras_jepa.data.ImageSource"),
        (dict(batch_size=7), r"`batch_size` \(7\) exceeds the 6 images"),
        (dict(batch_size=0), "`batch_size` must be a positive int"),
        (dict(image_size=(8, 8, 8)), "`image_size`"),
        (dict(crop_scale=(0.3, 1.5)), "`crop_scale`"),
        (dict(aspect_ratio=(0.0, 1.0)), "`aspect_ratio`"),
        (dict(mean=(0.5, 0.5)), "`mean` must be a float or 3 floats"),
        (dict(mean=None), "`mean` and `std` must both be None"),
        (dict(std=(1.0, 0.0, 1.0)), "`std`"),
        (dict(mean="imagenet21k"), "`mean` must be 'imagenet'"),
        (dict(seed=-1), "`seed`"),
        (dict(shuffle_buffer=-1), "`shuffle_buffer`"),
        (dict(flip=1), "`flip`"),
    ]
    for overrides, message in cases:
        arguments = dict(dict(source=source, image_size=8, batch_size=4), **overrides)
        with pytest.raises(ValueError, match=message):
            make_pretraining_dataset(**arguments)
    two_channels = from_arrays(_uint8_images(num_images=6, channels=2))
    with pytest.raises(ValueError, match="'imagenet' needs 1 or 3 channels"):
        make_pretraining_dataset(two_channels, 8, 4)
    with pytest.raises(ValueError, match="`crop_fraction`"):
        make_eval_dataset(source, 8, 4, crop_fraction=0.0)


@pytest.mark.backend_independent
def test_digits_dataset_keeps_its_call_signature_and_images():
    generator = MultiBlockMaskGenerator(8, seed=0)
    dataset = digits_dataset(64, generator, "test", 16, seed=0, shuffle=False)
    images, labels = load_digits("test", 16)
    assert int(dataset.cardinality()) == len(images) // 64
    assert dataset.element_spec["images"].shape == (64, 16, 16, 1)
    first = _batches(dataset, 1)[0]
    # No crop and no normalisation by default: the very images of load_digits.
    np.testing.assert_allclose(first["images"], images[:64], atol=1e-6)
    np.testing.assert_array_equal(first["labels"], labels[:64])
    cropped = digits_dataset(64, None, "test", 16, shuffle=False, crop_scale=(0.3, 1.0))
    cropped = _batches(cropped, 1)[0]
    assert not np.allclose(cropped["images"], images[:64])


def test_accelerators_are_hidden_from_tensorflow_unless_it_trains(monkeypatch):
    source = _indexed_source()
    calls = []
    monkeypatch.setattr(tf.config, "set_visible_devices",
                        lambda devices, kind: calls.append((list(devices), kind)))
    still_visible = hide_accelerators_from_tensorflow()
    if keras.backend.backend() == "tensorflow":
        assert calls == [] and still_visible == []
    else:
        assert calls == [([], "GPU"), ([], "TPU")]
    calls.clear()
    hide_accelerators_from_tensorflow(force=True)
    assert calls == [([], "GPU"), ([], "TPU")]
    # TensorFlow already started with a GPU: it cannot be hidden any more; say so.
    monkeypatch.setattr(tf.config, "get_visible_devices",
                        lambda kind: ["fake"] if kind == "GPU" else [])
    with pytest.warns(UserWarning, match="GPU devices"):
        assert hide_accelerators_from_tensorflow(force=True) == ["GPU"]
    # The pipeline builders call it.
    calls.clear()
    monkeypatch.setattr(accelerators, "_ACCELERATOR_KINDS", ("TPU",))
    make_eval_dataset(source, 8, 4)
    assert calls == ([] if keras.backend.backend() == "tensorflow" else [([], "TPU")])


def test_fit_trains_a_tiny_ijepa_on_the_pipeline():
    keras.utils.clear_session()
    keras.utils.set_random_seed(0)
    generator = MultiBlockMaskGenerator(4, num_targets=2, seed=0)
    source = from_arrays(_uint8_images(num_images=16, channels=1))
    dataset = make_pretraining_dataset(source, 8, 8, generator, seed=0)
    model = tiny_ijepa(total_steps=2)
    model.compile(optimizer=ScheduledAdamW(learning_rate=0.01))
    history = model.fit(dataset, epochs=1, verbose=0)
    assert int(model.optimizer.iterations) == 2
    assert np.isfinite(history.history["loss"]).all() and history.history["loss"][0] > 0
