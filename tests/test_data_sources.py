"""Tests of the data sources: image folders, TFDS (mock data), arrays and digits."""

import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_jepa.data import from_arrays
from keras_jepa.data import from_digits
from keras_jepa.data import from_image_folder
from keras_jepa.data import from_tfds
from keras_jepa.data import load_digits
from keras_jepa.data import make_eval_dataset
from keras_jepa.data import make_pretraining_dataset
from keras_jepa.masking import MultiBlockMaskGenerator

# The same on every backend: run once by tests/run_all_backends.sh (tests/conftest.py).
pytestmark = pytest.mark.backend_independent

MASK_KEYS = ("context_indices", "target_indices", "target_weights")


@pytest.fixture(autouse=True)
def _seeded():
    # Overrides the conftest fixture: nothing here builds Keras state.
    tf.random.set_seed(0)
    yield


def _pixels(height, width, channels, seed):
    return np.random.default_rng(seed).integers(0, 256, (height, width, channels), "uint8")


def _write(path, pixels, kind=None):
    kind = kind or os.path.splitext(str(path))[1].lstrip(".")
    encode = tf.io.encode_png if kind == "png" else tf.io.encode_jpeg
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    tf.io.write_file(str(path), encode(pixels))
    return pixels


def _class_folder(root):
    """cat: 2 RGB PNGs; dog: 1 RGB JPEG, 1 grey-scale PNG in a nested folder."""
    written = {
        "cat/a.png": _write(root / "cat" / "a.png", _pixels(12, 14, 3, 0)),
        "cat/b.PNG": _write(root / "cat" / "b.PNG", _pixels(10, 10, 3, 1), "png"),
        "dog/c.jpg": _write(root / "dog" / "c.jpg", _pixels(16, 12, 3, 2)),
        "dog/more/d.png": _write(root / "dog" / "more" / "d.png", _pixels(10, 11, 1, 3)),
    }
    (root / "dog" / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    _write(root / ".hidden" / "e.png", _pixels(10, 10, 3, 4))
    return written


def test_class_subfolders_give_labels_and_static_batches(tmp_path):
    _class_folder(tmp_path)
    source = from_image_folder(tmp_path)
    assert source.class_names == ["cat", "dog"]
    assert source.num_examples == 4 and source.has_labels and source.num_channels == 3
    assert source.ignored_files == (str(tmp_path / "dog" / "notes.txt"),)
    generator = MultiBlockMaskGenerator(4, seed=0)
    dataset = make_pretraining_dataset(source, 8, 2, generator, seed=0)
    assert dataset.element_spec["images"] == tf.TensorSpec((2, 8, 8, 3), tf.float32)
    assert set(dataset.element_spec) == {"images", "labels", *MASK_KEYS}
    labels = np.concatenate([b["labels"] for b in dataset.as_numpy_iterator()])
    assert sorted(labels) == [0, 0, 1, 1]


def test_folder_images_decode_exactly_and_grey_scale_becomes_rgb(tmp_path):
    written = _class_folder(tmp_path)
    source = from_image_folder(tmp_path)
    # Eval at each PNG's own size is a plain decode (no resampling).
    for name, label, index in (("cat/a.png", 0, 0), ("dog/more/d.png", 1, 3)):
        pixels = written[name]
        dataset = make_eval_dataset(source, pixels.shape[:2], 4, mean=None, std=None,
                                    min_image_size=1)
        batch = next(dataset.as_numpy_iterator())
        assert batch["labels"][index] == label
        expected = np.broadcast_to(pixels, pixels.shape[:2] + (3,)) / 255.0
        np.testing.assert_allclose(batch["images"][index], expected, atol=1e-5)


def test_flat_folder_has_no_labels_and_one_channel_is_luma(tmp_path):
    colour = _write(tmp_path / "x.png", _pixels(8, 8, 3, 0))
    _write(tmp_path / "y.jpg", _pixels(9, 9, 1, 1))
    (tmp_path / "empty_subfolder").mkdir()
    source = from_image_folder(tmp_path, num_channels=1)
    assert not source.has_labels and source.class_names is None
    assert source.num_examples == 2
    batch = next(make_eval_dataset(source, 8, 2, mean=None, std=None).as_numpy_iterator())
    assert set(batch) == {"images"} and batch["images"].shape == (2, 8, 8, 1)
    luma = colour.astype("float32") @ np.array([0.299, 0.587, 0.114], "float32")
    np.testing.assert_allclose(batch["images"][0, ..., 0] * 255.0, luma, atol=1.0)


def test_folder_image_smaller_than_the_output_is_an_error_naming_it(tmp_path):
    _write(tmp_path / "big.png", _pixels(12, 12, 3, 0))
    _write(tmp_path / "small.png", _pixels(6, 12, 3, 1))
    source = from_image_folder(tmp_path)
    dataset = make_pretraining_dataset(source, 8, 2, shuffle_buffer=0)
    message = r"small\.png.*6.*12.*min_image_size 8x8"
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        list(dataset.as_numpy_iterator())
    dataset = make_pretraining_dataset(source, 8, 2, min_image_size=1)
    assert next(dataset.as_numpy_iterator())["images"].shape == (2, 8, 8, 3)


def test_missing_empty_and_mixed_folders_raise(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        from_image_folder(tmp_path / "nowhere")
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(ValueError, match="is not a folder"):
        from_image_folder(tmp_path / "file.png")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "README.txt").write_text("no images here")
    with pytest.raises(ValueError, match="holds no image files"):
        from_image_folder(empty)
    mixed = tmp_path / "mixed"
    _write(mixed / "top.png", _pixels(8, 8, 3, 0))
    _write(mixed / "cat" / "a.png", _pixels(8, 8, 3, 1))
    with pytest.raises(ValueError, match="mixes images at its top level"):
        from_image_folder(mixed)
    with_empty_class = tmp_path / "classes"
    _write(with_empty_class / "cat" / "a.png", _pixels(8, 8, 3, 0))
    (with_empty_class / "dog").mkdir()
    with pytest.raises(ValueError, match=r"subfolders \['dog'\].*hold no image files"):
        from_image_folder(with_empty_class)
    with pytest.raises(ValueError, match="`num_channels` must be 1 or 3"):
        from_image_folder(with_empty_class / "cat", num_channels=4)
    with pytest.raises(ValueError, match="`on_corrupt`"):
        from_image_folder(with_empty_class / "cat", on_corrupt="ignore")


def test_corrupt_files_are_an_error_naming_them_or_skipped_with_a_count(tmp_path):
    for i in range(3):
        _write(tmp_path / f"ok{i}.png", _pixels(8, 8, 3, i))
    (tmp_path / "html.jpg").write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(ValueError, match=r"1 of the 4 image files.*html\.jpg.*on_corrupt='skip'"):
        from_image_folder(tmp_path)
    with pytest.warns(UserWarning, match=r"Skipping 1 of the 4 image files.*html\.jpg"):
        source = from_image_folder(tmp_path, on_corrupt="skip")
    assert source.skipped_files == (str(tmp_path / "html.jpg"),)
    assert source.num_examples == 3
    batches = list(make_eval_dataset(source, 8, 3).as_numpy_iterator())
    assert [len(b["images"]) for b in batches] == [3]


def test_header_check_finds_files_cut_short_naming_them(tmp_path):
    _write(tmp_path / "ok.jpg", _pixels(16, 16, 3, 0))
    _write(tmp_path / "ok.png", _pixels(16, 16, 3, 0))
    for name, encode in (("cut.jpg", tf.io.encode_jpeg), ("cut.png", tf.io.encode_png)):
        whole = encode(_pixels(16, 16, 3, 1)).numpy()
        (tmp_path / name).write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match=r"2 of the 4 .*header check.*cut\.jpg.*cut\.png"):
        from_image_folder(tmp_path)
    with pytest.warns(UserWarning, match="Skipping 2 of the 4"):
        assert from_image_folder(tmp_path, on_corrupt="skip").num_examples == 2


def test_decode_validation_finds_files_broken_inside(tmp_path):
    _write(tmp_path / "ok.png", _pixels(16, 16, 3, 0))
    whole = bytearray(tf.io.encode_png(_pixels(16, 16, 3, 1)).numpy())
    whole[40:-20] = bytes(len(whole) - 60)  # intact signature and end chunk
    (tmp_path / "broken.png").write_bytes(bytes(whole))
    # Its first and last bytes are fine, so only decoding finds it.
    assert from_image_folder(tmp_path).num_examples == 2
    with pytest.raises(ValueError, match=r"decode check.*broken\.png"):
        from_image_folder(tmp_path, validate="decode")
    (tmp_path / "ok.png").unlink()
    with pytest.raises(ValueError, match="1 of the 1 image files"):
        from_image_folder(tmp_path, validate="decode", on_corrupt="skip")


def test_gif_and_bmp_files_decode_to_one_channel_as_luma(tmp_path):
    from PIL import Image

    colour = _pixels(8, 8, 3, 5)
    # GIF is palette-based: 8 colours survive its quantisation exactly.
    palette = _pixels(8, 1, 3, 6)[:, 0]
    indices = np.random.default_rng(7).integers(0, 8, (8, 8))
    Image.fromarray(palette[indices]).save(tmp_path / "a.gif")
    Image.fromarray(colour).save(tmp_path / "b.bmp")
    _write(tmp_path / "c.png", colour)
    source = from_image_folder(tmp_path, num_channels=1, validate="decode")
    batch = next(make_eval_dataset(source, 8, 3, mean=None, std=None).as_numpy_iterator())
    images = dict(zip(sorted(["a.gif", "b.bmp", "c.png"]), batch["images"][..., 0] * 255.0))
    weights = np.array([0.299, 0.587, 0.114], "float32")
    np.testing.assert_allclose(images["a.gif"], palette[indices].astype("float32") @ weights,
                               atol=1.0)
    np.testing.assert_allclose(images["b.bmp"], colour.astype("float32") @ weights, atol=1.0)
    np.testing.assert_allclose(images["b.bmp"], images["c.png"], atol=1.0)


def test_tfds_source_through_mock_data():
    with tfds.testing.mock_data(num_examples=12, policy=tfds.testing.MockPolicy.USE_CODE):
        source = from_tfds("cifar10", split="train")
        assert source.num_examples == 12 and source.num_channels == 3
        assert source.has_labels and len(source.class_names) == 10
        generator = MultiBlockMaskGenerator(4, seed=0)
        dataset = make_pretraining_dataset(source, 16, 4, generator, seed=0)
        spec = dataset.element_spec
        assert spec["images"] == tf.TensorSpec((4, 16, 16, 3), tf.float32)
        assert set(spec) == {"images", "labels", *MASK_KEYS}
        batches = list(dataset.as_numpy_iterator())
        assert len(batches) == 3
        labels = np.concatenate([b["labels"] for b in batches])
        assert ((labels >= 0) & (labels < 10)).all()
        # Same seed, same batches.
        again = list(make_pretraining_dataset(source, 16, 4, generator, seed=0).as_numpy_iterator())
        np.testing.assert_array_equal(batches[1]["images"], again[1]["images"])
        grey = from_tfds("cifar10", split="train", num_channels=1, label_key=None)
        assert not grey.has_labels
        batch = next(make_eval_dataset(grey, 32, 4, mean=None, std=None).as_numpy_iterator())
        assert set(batch) == {"images"} and batch["images"].shape == (4, 32, 32, 1)
        with pytest.raises(ValueError, match="`image_key` 'picture'"):
            from_tfds("cifar10", image_key="picture")
        with pytest.raises(ValueError, match="`label_key` 'class'"):
            from_tfds("cifar10", label_key="class")


def test_tfds_without_prepared_data_names_the_data_dir(tmp_path):
    with pytest.raises(ValueError, match=f"No prepared data.*{tmp_path}"):
        from_tfds("cifar10", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="`name` 'no_such_dataset_xyz' is not a TFDS dataset"):
        from_tfds("no_such_dataset_xyz", data_dir=str(tmp_path))


def test_array_source_checks_its_inputs():
    images = np.zeros((4, 8, 8, 3), "uint8")
    with pytest.raises(ValueError, match=r"\[N, H, W, C\].*images\[\.\.\., None\]"):
        from_arrays(np.zeros((4, 8, 8), "uint8"))
    with pytest.raises(ValueError, match=r"values in \[0, 1\].*from 2.0 to 2.0"):
        from_arrays(np.full((4, 8, 8, 1), 2.0, "float32"))
    with pytest.raises(ValueError, match=r"`images` must be finite, but image 0 \(of 4; 4 in all\)"):
        from_arrays(np.full((4, 8, 8, 1), np.nan, "float32"))
    with_inf = np.full((4, 8, 8, 1), 0.5, "float32")
    with_inf[2, 3, 3, 0] = np.inf
    with pytest.raises(ValueError, match=r"image 2 \(of 4; 1 in all\) holds NaN or infinite"):
        from_arrays(with_inf)
    with pytest.raises(ValueError, match="uint8 .* or float"):
        from_arrays(np.zeros((4, 8, 8, 1), "int32"))
    with pytest.raises(ValueError, match=r"`labels` must be an integer array of shape \(4,\)"):
        from_arrays(images, np.arange(3))
    with pytest.raises(ValueError, match="`labels`"):
        from_arrays(images, np.zeros(4, "float32"))


def test_digits_source_holds_the_deterministic_split():
    train, test = from_digits("train"), from_digits("test")
    train_images, train_labels = load_digits("train", 16)
    assert train.num_examples == len(train_images)
    assert train.num_examples + test.num_examples == 1797  # scikit-learn's digits
    assert train.image_shape == (16, 16) and train.num_channels == 1
    assert train.class_names == [str(d) for d in range(10)]
    batch = next(make_eval_dataset(train, 16, 8, mean=None, std=None).as_numpy_iterator())
    np.testing.assert_allclose(batch["images"], train_images[:8], atol=1e-6)
    np.testing.assert_array_equal(batch["labels"], train_labels[:8])
    dataset = make_pretraining_dataset(test, 16, 32, MultiBlockMaskGenerator(8), seed=0)
    assert dataset.element_spec["images"] == tf.TensorSpec((32, 16, 16, 1), tf.float32)
    assert int(dataset.cardinality()) == test.num_examples // 32


def test_float_images_outside_the_unit_range_need_their_value_range():
    images = np.random.default_rng(0).uniform(-0.5, 1.5, (6, 8, 8, 1)).astype("float32")
    with pytest.raises(ValueError, match=r"Float `images` must have values in \[0, 1\]"):
        from_arrays(images)
    with pytest.raises(ValueError, match=r"values in \[-0.25, 1.25\] .* got values from -0.4"):
        from_arrays(images, value_range=(-0.25, 1.25))
    with pytest.raises(ValueError, match="`value_range` must be a pair"):
        from_arrays(images, value_range=(2.0, 1.0))
    # In their range they pass through the pipeline as they are (no scaling, no statistics).
    source = from_arrays(images, value_range=(-0.5, 1.5))
    batch = next(iter(make_eval_dataset(source, 8, 6, mean=None, std=None)))
    np.testing.assert_array_equal(np.asarray(batch["images"] if isinstance(batch, dict)
                                             else batch), images)
