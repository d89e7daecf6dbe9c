"""Tests of keras_jepa.data.augmentation: crop boxes, RandomResizedCrop, centre crop."""

import numpy as np
import pytest
import tensorflow as tf

from keras_jepa.data import center_crop_resize
from keras_jepa.data import random_resized_crop
from keras_jepa.data import sample_crop_box

# The same on every backend: run once by tests/run_all_backends.sh (tests/conftest.py).
pytestmark = pytest.mark.backend_independent


@pytest.fixture(autouse=True)
def _seeded():
    # Overrides the conftest fixture: nothing here uses Keras's random state.
    yield


def _boxes(height, width, count=400, **kwargs):
    """`count` boxes for seeds (0, i), drawn inside tf.data as the pipeline does."""
    boxes = tf.data.Dataset.range(count).map(
        lambda i: tf.stack(sample_crop_box(height, width, tf.stack([0, i]), **kwargs))
    )
    return np.stack(list(boxes.as_numpy_iterator()))


def _coordinate_image(height, width):
    """Channel 0 holds each pixel's row, channel 1 its column."""
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    return np.stack([rows, cols], axis=-1).astype("float32")


def test_crop_boxes_fit_and_follow_the_scale_and_aspect_ranges():
    height, width = 30, 40
    top, left, h, w = _boxes(height, width).T
    assert (top >= 0).all() and (left >= 0).all()
    assert (top + h <= height).all() and (left + w <= width).all()
    # Sides are rounded from sqrt(area * ratio) and sqrt(area / ratio), so the
    # exact area and ratio lie within half a pixel per side of the integer box.
    area = 0.3 * height * width
    assert (area <= h * w + 0.5 * (h + w + 1)).all()
    assert (h * w <= height * width).all()
    assert ((w - 0.5) / (h + 0.5) <= 4 / 3).all()
    assert ((w + 0.5) / (h - 0.5) >= 3 / 4).all()
    fraction = h * w / (height * width)
    assert fraction.min() < 0.35 and fraction.max() > 0.9
    # Positions: both image edges are reached.
    assert (top == 0).any() and (top + h == height).any()
    assert (left == 0).any() and (left + w == width).any()


def test_crop_area_is_uniform_over_the_scale_range_when_every_box_fits():
    # Square boxes on a square image always fit, so the first candidate is used
    # and the area fraction is uniform on [0.3, 1], up to rounding of the sides.
    _, _, h, w = _boxes(64, 64, count=1000, aspect_ratio=(1.0, 1.0)).T
    fraction = h * w / 64**2
    np.testing.assert_allclose(
        np.quantile(fraction, [0.1, 0.5, 0.9]), [0.37, 0.65, 0.93], atol=0.03
    )


def test_crop_box_scale_and_ratio_arguments_are_used():
    top, left, h, w = _boxes(64, 64, count=100, scale=(0.25, 0.25),
                             aspect_ratio=(1.0, 1.0)).T
    np.testing.assert_array_equal(h, 32)
    np.testing.assert_array_equal(w, 32)
    _, _, h, w = _boxes(64, 64, count=100, scale=(0.5, 0.5),
                        aspect_ratio=(2.0, 2.0)).T
    # area 2048, ratio 2: w = sqrt(4096), h = sqrt(1024).
    np.testing.assert_array_equal(w, 64)
    np.testing.assert_array_equal(h, 32)


def test_crop_box_falls_back_to_a_centred_clamped_box():
    # A 5x100 strip: no box of area >= 150 with ratio <= 4/3 fits 5 rows, so the
    # fallback is the full height with width round(5 * 4/3) = 7, centred.
    boxes = _boxes(5, 100, count=5)
    np.testing.assert_array_equal(boxes, np.tile([0, 46, 5, 7], (5, 1)))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_random_resized_crop_takes_exactly_the_sampled_box(seed):
    height, width = 24, 32
    image = tf.constant(_coordinate_image(height, width))
    seed = tf.constant([7, seed])
    # Upsampling with nearest neighbours keeps every source row and column.
    crop = random_resized_crop(image, (48, 64), seed, interpolation="nearest").numpy()
    assert crop.shape == (48, 64, 2) and crop.dtype == np.float32
    top, left, h, w = (int(v) for v in sample_crop_box(height, width, seed))
    rows, cols = crop[..., 0], crop[..., 1]
    # Rows vary down the crop only, columns across it only, both increasing: a
    # crop, neither flipped nor transposed, covering exactly the box.
    np.testing.assert_array_equal(rows, np.broadcast_to(rows[:, :1], rows.shape))
    np.testing.assert_array_equal(cols, np.broadcast_to(cols[:1, :], cols.shape))
    np.testing.assert_array_equal(np.unique(rows), np.arange(top, top + h))
    np.testing.assert_array_equal(np.unique(cols), np.arange(left, left + w))
    assert (np.diff(rows[:, 0]) >= 0).all() and (np.diff(cols[0]) >= 0).all()


def test_random_resized_crop_is_a_function_of_its_seed():
    image = tf.constant(np.random.default_rng(0).integers(0, 256, (40, 40, 3), "uint8"))
    first = random_resized_crop(image, 16, tf.constant([1, 2])).numpy()
    again = random_resized_crop(image, 16, tf.constant([1, 2])).numpy()
    other = random_resized_crop(image, 16, tf.constant([1, 3])).numpy()
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert first.shape == (16, 16, 3) and first.dtype == np.float32
    # Bilinear with antialiasing is a convex combination: it stays in 0..255.
    assert first.min() >= 0 and first.max() <= 255


def test_center_crop_resize_takes_the_central_box():
    image = tf.constant(_coordinate_image(20, 40))
    # Largest centred square: 20x20 at column 10; same size, so no resampling.
    crop = center_crop_resize(image, 20, interpolation="nearest").numpy()
    np.testing.assert_array_equal(crop[..., 1], np.broadcast_to(np.arange(10, 30), (20, 20)))
    np.testing.assert_array_equal(crop[..., 0], np.broadcast_to(np.arange(20)[:, None], (20, 20)))
    # Half of it per side: 10x10 at (5, 15).
    crop = center_crop_resize(image, 10, crop_fraction=0.5, interpolation="nearest").numpy()
    np.testing.assert_array_equal(crop[0, :, 1], np.arange(15, 25))
    np.testing.assert_array_equal(crop[:, 0, 0], np.arange(5, 15))
    # A non-square output keeps its aspect ratio: 20x40 -> 10x20 is a plain resize.
    crop = center_crop_resize(image, (10, 20), interpolation="bilinear").numpy()
    # (Away from the edges, where antialiasing renormalises a cut-off kernel.)
    np.testing.assert_allclose(crop[0, 1:-1, 1], np.arange(1, 19) * 2 + 0.5, atol=1e-5)


def test_center_crop_resize_upsamples_small_images():
    image = tf.constant(_coordinate_image(4, 4))
    crop = center_crop_resize(image, 8, interpolation="nearest").numpy()
    np.testing.assert_array_equal(crop[:, 0, 0], np.repeat(np.arange(4), 2))
