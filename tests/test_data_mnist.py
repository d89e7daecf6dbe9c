"""The bundled MNIST-5k: a fixed stratified split, numpy arrays, an ImageSource."""

import gzip

import numpy as np
import pytest

from keras_jepa.data import from_mnist
from keras_jepa.data import load_mnist
from keras_jepa.data import mnist as mnist_module

# The same on every backend: run once by tests/run_all_backends.sh (tests/conftest.py).
pytestmark = pytest.mark.backend_independent


def test_split_is_stratified_disjoint_and_deterministic():
    train_x, train_y = load_mnist("train")
    test_x, test_y = load_mnist("test")
    assert train_x.shape == (4000, 28, 28, 1) and test_x.shape == (1000, 28, 28, 1)
    assert train_x.dtype == np.float32 and train_y.dtype == np.int32
    assert np.bincount(train_y).tolist() == [400] * 10
    assert np.bincount(test_y).tolist() == [100] * 10
    assert 0.0 <= train_x.min() and train_x.max() <= 1.0
    # Real digits: mostly background, with strokes (the statistics used to normalise).
    assert train_x.mean() == pytest.approx(mnist_module.MNIST_MEAN, abs=2e-3)
    assert train_x.std() == pytest.approx(mnist_module.MNIST_STD, abs=2e-3)
    # No image is in both splits, and together they are the whole file.
    all_x, _ = load_mnist("all")
    keys = lambda images: {image.tobytes() for image in images}  # noqa: E731
    assert not keys(train_x) & keys(test_x)
    assert keys(train_x) | keys(test_x) == keys(all_x)
    again_x, again_y = load_mnist("train")
    np.testing.assert_array_equal(again_x, train_x)
    np.testing.assert_array_equal(again_y, train_y)
    # The file is sorted by label; a split is not.
    assert len(set(train_y[:20].tolist())) > 3


def test_labels_match_the_file_rows(tmp_path):
    # A small file of the same format: labels travel with their images.
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 5)
    pixels = rng.integers(0, 256, (50, 784))
    pixels[:, 0] = labels * 10  # the first pixel encodes the label
    path = tmp_path / "mini.csv.gz"
    with gzip.open(path, "wt") as f:
        np.savetxt(f, np.column_stack([pixels, labels]), fmt="%d", delimiter=",")
    images, got = load_mnist("all", path=str(path))
    np.testing.assert_array_equal(got, labels)
    np.testing.assert_allclose(images[:, 0, 0, 0] * 255, got * 10, atol=1e-3)


def test_bad_split_and_bad_file_are_named(tmp_path):
    with pytest.raises(ValueError, match="`split`"):
        load_mnist("validation")
    path = tmp_path / "bad.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("1,2,3\n4,5,6\n")
    with pytest.raises(ValueError, match="784 pixels"):
        load_mnist("all", path=str(path))


def test_image_source_feeds_the_pipeline():
    from keras_jepa.data import make_pretraining_dataset
    from keras_jepa.masking import MultiBlockMaskGenerator

    source = from_mnist("test")
    assert source.class_names == [str(d) for d in range(10)]
    generator = MultiBlockMaskGenerator(grid_size=7, seed=0)
    dataset = make_pretraining_dataset(source, 28, 16, generator, crop_scale=(0.3, 1.0),
                                       mean=None, std=None, seed=0)
    batch = next(iter(dataset))
    assert tuple(batch["images"].shape) == (16, 28, 28, 1)
    assert tuple(batch["context_indices"].shape) == (16, generator.num_context_tokens)
