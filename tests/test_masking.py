"""Tests of keras_jepa.masking: shapes, invariants, uniformity, errors, seeds."""

import ast
import json
import pathlib

import keras
import numpy as np
import pytest

import keras_jepa.masking
from keras_jepa.masking import MultiBlockMaskGenerator
from keras_jepa.masking import RandomMaskGenerator

# The same on every backend: run once by tests/run_all_backends.sh (tests/conftest.py).
pytestmark = pytest.mark.backend_independent


def _unpack(indices, cols):
    return indices // cols, indices % cols


def _inside(indices, boxes, cols):
    """Whether each index lies in its box; `boxes[..., 4]` broadcast over tokens."""
    row, col = _unpack(indices, cols)
    top, left, height, width = (boxes[..., i, None] for i in range(4))
    return (row >= top) & (row < top + height) & (col >= left) & (col < left + width)


def _box_mask(boxes, rows, cols):
    """Boolean `[..., rows * cols]` membership of `boxes[..., 4]`."""
    row = np.arange(rows)[:, None]
    col = np.arange(cols)[None, :]
    top, left, height, width = (boxes[..., i, None, None] for i in range(4))
    inside = (row >= top) & (row < top + height) & (col >= left) & (col < left + width)
    return inside.reshape(boxes.shape[:-1] + (rows * cols,))


# --- MultiBlockMaskGenerator ----------------------------------------------------------


@pytest.mark.parametrize("grid_size", [8, 14, (6, 10)])
def test_multi_block_shapes_are_static(grid_size):
    generator = MultiBlockMaskGenerator(grid_size, seed=0)
    rows, cols = generator.grid_size
    kc, kt = generator.num_context_tokens, generator.num_target_tokens
    assert generator.num_patches == rows * cols
    for _ in range(20):
        masks = generator(16)
        assert set(masks) == {"context_indices", "target_indices", "target_weights"}
        assert masks["context_indices"].shape == (16, kc)
        assert masks["target_indices"].shape == (16, 4, kt)
        assert masks["target_weights"].shape == (16, 4, kt)
        assert masks["context_indices"].dtype == np.int32
        assert masks["target_indices"].dtype == np.int32
        assert masks["target_weights"].dtype == np.float32
        for key in ("context_indices", "target_indices"):
            assert masks[key].min() >= 0 and masks[key].max() < rows * cols
    spec = generator.mask_spec(16)
    assert spec["context_indices"] == ((16, kc), np.int32)
    assert spec["target_weights"] == ((16, 4, kt), np.float32)


def test_multi_block_default_sizes():
    # Kt = floor(0.15 N); Kc is calibrated and must leave room for the targets.
    small = MultiBlockMaskGenerator(8)
    assert small.num_target_tokens == 9
    assert 1 <= small.num_context_tokens <= 64 - 4 * 9
    large = MultiBlockMaskGenerator((14, 14))
    assert large.num_target_tokens == 29
    assert 1 <= large.num_context_tokens <= 196 - 4 * 29
    # Calibration is fixed-seed: the same settings always give the same sizes.
    assert MultiBlockMaskGenerator(14, seed=5).num_context_tokens == (
        large.num_context_tokens
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"grid_size": 8},
        {"grid_size": 14},
        {"grid_size": (6, 10), "num_targets": 2, "target_scale": (0.1, 0.4)},
        # The largest allowed context forces the fallbacks in many samples.
        {"grid_size": 8, "num_context_tokens": 64 - 4 * 9},
        {"grid_size": 8, "target_scale": (0.2, 0.3), "num_context_tokens": 12},
    ],
)
def test_context_and_targets_are_disjoint_and_sorted(kwargs):
    generator = MultiBlockMaskGenerator(**kwargs)
    masks = generator.sample(2000, 1)
    context = masks["context_indices"]
    targets = masks["target_indices"].reshape(len(context), -1)
    overlap = (context[:, :, None] == targets[:, None, :]).any(axis=(1, 2))
    assert not overlap.any()
    # Strictly increasing rows: sorted and without duplicates.
    assert (np.diff(context, axis=1) > 0).all()
    real = masks["target_weights"] > 0
    indices = masks["target_indices"]
    # Real tokens come first, strictly increasing; padding repeats the first one.
    assert (np.diff(real.astype(int), axis=-1) <= 0).all()
    increasing = np.diff(indices, axis=-1) > 0
    assert (increasing | ~real[..., 1:]).all()
    assert (np.where(real, True, indices == indices[..., :1])).all()


def test_target_tokens_lie_in_one_block_and_weights_count_them():
    generator = MultiBlockMaskGenerator(14, seed=0)
    masks, boxes = generator.sample_with_boxes(500, 3)
    cols = generator.grid_size[1]
    inside = _inside(masks["target_indices"], boxes["target_boxes"], cols)
    assert inside.all()
    area = boxes["target_boxes"][..., 2] * boxes["target_boxes"][..., 3]
    expected = np.minimum(area, generator.num_target_tokens)
    np.testing.assert_array_equal(masks["target_weights"].sum(-1), expected)
    # Both cases occur with the defaults on 14x14: padded and subsampled blocks.
    assert (area < generator.num_target_tokens).any()
    assert (area > generator.num_target_tokens).any()


def test_whole_blocks_form_filled_rectangles():
    # With Kt at the largest block area every block is kept whole, so its real
    # tokens, read without the boxes, must fill their bounding rectangle.
    probe = MultiBlockMaskGenerator(16, num_targets=2)
    generator = MultiBlockMaskGenerator(
        16, num_targets=2, num_target_tokens=probe._max_target_area
    )
    masks = generator.sample(300, 0)
    real = masks["target_weights"] > 0
    row, col = _unpack(masks["target_indices"], 16)
    big = np.iinfo(np.int32).max
    height = np.where(real, row, -1).max(-1) - np.where(real, row, big).min(-1) + 1
    width = np.where(real, col, -1).max(-1) - np.where(real, col, big).min(-1) + 1
    np.testing.assert_array_equal(real.sum(-1), height * width)
    assert (masks["target_weights"] == 0).any()


def test_every_patch_can_be_target_and_context():
    generator = MultiBlockMaskGenerator(8, seed=0)
    masks, boxes = generator.sample_with_boxes(3000, 0)
    real = masks["target_weights"] > 0
    target_counts = np.bincount(masks["target_indices"][real], minlength=64)
    context_counts = np.bincount(masks["context_indices"].ravel(), minlength=64)
    assert (target_counts > 0).all()
    assert (context_counts > 0).all()
    # The last row and column are reached by blocks (the reference's exclusive
    # bound never does), and a context block can span the whole grid.
    for name in ("target_boxes", "context_boxes"):
        box = boxes[name]
        assert (box[..., 0] + box[..., 2] == 8).any()
        assert (box[..., 1] + box[..., 3] == 8).any()
    context_boxes = boxes["context_boxes"]
    assert ((context_boxes[:, 2] == 8) & (context_boxes[:, 3] == 8)).any()
    full = MultiBlockMaskGenerator(8, context_scale=(1.0, 1.0)).sample_with_boxes(50, 0)
    np.testing.assert_array_equal(full[1]["context_boxes"], [[0, 0, 8, 8]] * 50)


def test_context_is_a_uniform_subset_of_the_available_region():
    generator = MultiBlockMaskGenerator(8)
    samples = 6000
    masks, boxes = generator.sample_with_boxes(samples, 11)
    in_targets = _box_mask(boxes["target_boxes"], 8, 8).any(axis=1)
    available = _box_mask(boxes["context_boxes"], 8, 8) & ~in_targets
    size = available.sum(axis=1)
    kc = generator.num_context_tokens
    full = size >= kc  # samples filled from the available region alone
    assert full.mean() > 0.85
    chosen = np.zeros((samples, 64), dtype=bool)
    chosen[np.arange(samples)[:, None], masks["context_indices"]] = True
    assert not (chosen & ~available)[full].any()
    # Under a uniform subset, an available patch is chosen with probability
    # Kc / |available| in its sample: compare per-patch counts with that.
    probability = np.where(available, kc / np.maximum(size, 1)[:, None], 0.0)[full]
    expected = probability.sum(axis=0)
    variance = (probability * (1 - probability)).sum(axis=0)
    observed = chosen[full].sum(axis=0)
    z = (observed - expected) / np.sqrt(np.maximum(variance, 1e-9))
    assert np.abs(z).max() < 4.5
    centre = 4 * 8 + 4
    assert abs(observed[centre] / expected[centre] - 1) < 0.1
    # "First Kc in raster order" would pick the lowest ranks; uniform averages 1/2.
    rank = np.cumsum(available, axis=1) - 1
    relative = (rank / np.maximum(size - 1, 1)[:, None])[chosen & available]
    assert abs(relative.mean() - 0.5) < 0.02


def test_scale_and_aspect_ratio_are_independent():
    generator = MultiBlockMaskGenerator(16)
    _, boxes = generator.sample_with_boxes(2000, 0)
    height = boxes["target_boxes"][..., 2].ravel().astype(float)
    width = boxes["target_boxes"][..., 3].ravel().astype(float)
    # The reference's single random number gives corr(area, h/w) ~ 0.8 here.
    assert abs(np.corrcoef(height * width, height / width)[0, 1]) < 0.15
    largest = height * width >= np.quantile(height * width, 0.9)
    assert (height[largest] > width[largest]).any()
    assert (height[largest] < width[largest]).any()


def test_seeded_stream_and_stateless_sample_are_reproducible():
    first = MultiBlockMaskGenerator(8, seed=7)
    second = MultiBlockMaskGenerator(8, seed=7)
    other = MultiBlockMaskGenerator(8, seed=8)
    for _ in range(3):
        a, b, c = first(8), second(8), other(8)
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
        assert not np.array_equal(a["context_indices"], c["context_indices"])
    stateless = first.sample(8, (3, 4))
    np.testing.assert_array_equal(
        stateless["target_indices"],
        other.sample(8, [np.int64(3), np.int64(4)])["target_indices"],
    )
    np.testing.assert_array_equal(
        stateless["context_indices"],
        first.sample(8, np.array([3, 4]))["context_indices"],
    )
    assert not np.array_equal(
        stateless["context_indices"], first.sample(8, (3, 5))["context_indices"]
    )
    # `sample` must not advance the seeded stream.
    np.testing.assert_array_equal(
        first(8)["context_indices"], second(8)["context_indices"]
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"grid_size": 0}, "grid_size"),
        ({"grid_size": (8, 8, 3)}, "grid_size"),
        ({"grid_size": 1}, "grid_size"),
        ({"grid_size": 8, "num_targets": 0}, "num_targets"),
        ({"grid_size": 8, "target_scale": (0.2, 0.1)}, "target_scale"),
        ({"grid_size": 8, "target_scale": (0.0, 0.2)}, "target_scale"),
        ({"grid_size": 8, "target_scale": (0.5, 1.2)}, "target_scale"),
        ({"grid_size": 8, "target_aspect_ratio": (0.0, 1.0)}, "target_aspect_ratio"),
        ({"grid_size": 8, "context_scale": (0.9, 1.5)}, r"context_scale.*\(0, 1\]"),
        ({"grid_size": 8, "context_aspect_ratio": 1.0}, "context_aspect_ratio"),
        # Four blocks of >= 0.3 N patches can cover the grid: no room for context.
        ({"grid_size": 8, "target_scale": (0.3, 0.4)}, "num_targets"),
        ({"grid_size": 8, "num_context_tokens": 29}, r"num_context_tokens.*\[1, 28\]"),
        ({"grid_size": 8, "num_context_tokens": 0}, "num_context_tokens"),
        ({"grid_size": 8, "num_target_tokens": 17}, r"num_target_tokens.*\[1, 16\]"),
        ({"grid_size": 8, "seed": -1}, "seed"),
    ],
)
def test_multi_block_rejects_impossible_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiBlockMaskGenerator(**kwargs)


def test_sampling_rejects_bad_batch_size_and_seed():
    generator = MultiBlockMaskGenerator(8, seed=0)
    with pytest.raises(ValueError, match="batch_size"):
        generator(0)
    with pytest.raises(ValueError, match="batch_size"):
        generator.sample(2.5, 0)
    with pytest.raises(ValueError, match="seed"):
        generator.sample(4, (1, -2))
    with pytest.raises(ValueError, match="seed"):
        generator.sample(4, "abc")


def test_multi_block_config_round_trip():
    generator = MultiBlockMaskGenerator(
        (6, 10),
        num_targets=3,
        target_scale=(0.1, 0.25),
        target_aspect_ratio=(0.5, 2.0),
        context_scale=(0.7, 0.9),
        context_aspect_ratio=(0.8, 1.25),
        num_context_tokens=20,
        num_target_tokens=7,
        seed=42,
    )
    config = generator.get_config()
    restored = MultiBlockMaskGenerator.from_config(json.loads(json.dumps(config)))
    assert json.dumps(restored.get_config()) == json.dumps(config)
    assert restored.num_context_tokens == 20 and restored.num_target_tokens == 7
    expected, actual = generator(4), restored(4)
    for key in expected:
        np.testing.assert_array_equal(actual[key], expected[key])
    serialized = keras.saving.serialize_keras_object(generator)
    revived = keras.saving.deserialize_keras_object(json.loads(json.dumps(serialized)))
    assert isinstance(revived, MultiBlockMaskGenerator)
    assert json.dumps(revived.get_config()) == json.dumps(config)
    text = repr(generator)
    assert text.startswith("MultiBlockMaskGenerator(grid_size=(6, 10)")
    assert "num_context_tokens=20" in text and "seed=42" in text


def test_default_sizes_are_pinned_in_the_config():
    config = MultiBlockMaskGenerator(8).get_config()
    assert config["num_context_tokens"] is not None
    assert config["num_target_tokens"] == 9


# --- RandomMaskGenerator ----------------------------------------------------------


@pytest.mark.parametrize(
    "num_patches, mask_ratio, visible", [(64, 0.75, 16), (196, 0.75, 49), (10, 0.9, 1)]
)
def test_random_masks_partition_the_patches(num_patches, mask_ratio, visible):
    generator = RandomMaskGenerator(num_patches, mask_ratio=mask_ratio, seed=0)
    assert generator.num_visible_tokens == visible
    assert generator.num_masked_tokens == num_patches - visible
    masks = generator(32)
    assert masks["visible_indices"].shape == (32, visible)
    assert masks["masked_indices"].shape == (32, num_patches - visible)
    assert masks["visible_indices"].dtype == masks["masked_indices"].dtype == np.int32
    both = np.concatenate([masks["visible_indices"], masks["masked_indices"]], axis=1)
    every_patch = np.tile(np.arange(num_patches), (32, 1))
    np.testing.assert_array_equal(np.sort(both, axis=1), every_patch)
    for key in masks:
        assert (np.diff(masks[key], axis=1) > 0).all()


def test_random_masks_are_uniform_and_seeded():
    generator = RandomMaskGenerator(16, mask_ratio=0.75, seed=0)
    visible = generator.sample(4000, 9)["visible_indices"]
    counts = np.bincount(visible.ravel(), minlength=16)
    # Each patch is visible with probability 1/4: 1000 +- 27 per patch.
    assert np.abs(counts - 1000).max() < 5 * np.sqrt(4000 * 0.25 * 0.75)
    again = RandomMaskGenerator(16, mask_ratio=0.75, seed=0)
    np.testing.assert_array_equal(
        generator(8)["visible_indices"], again(8)["visible_indices"]
    )
    np.testing.assert_array_equal(
        generator.sample(8, (1, 2))["masked_indices"],
        again.sample(8, (1, 2))["masked_indices"],
    )
    assert not np.array_equal(
        generator.sample(8, (1, 2))["masked_indices"],
        generator.sample(8, (1, 3))["masked_indices"],
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_patches": 64, "mask_ratio": 0.0}, r"mask_ratio.*\(0, 1\)"),
        ({"num_patches": 64, "mask_ratio": 1.0}, r"mask_ratio.*\(0, 1\)"),
        ({"num_patches": 64, "mask_ratio": "high"}, "mask_ratio"),
        ({"num_patches": 4, "mask_ratio": 0.9}, "visible"),
        ({"num_patches": 1}, "num_patches"),
        ({"num_patches": 0}, "num_patches"),
    ],
)
def test_random_masks_reject_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RandomMaskGenerator(**kwargs)


def test_random_masks_config_round_trip():
    generator = RandomMaskGenerator(196, mask_ratio=0.6, seed=3)
    config = generator.get_config()
    assert config == {"num_patches": 196, "mask_ratio": 0.6, "seed": 3}
    revived = keras.saving.deserialize_keras_object(
        json.loads(json.dumps(keras.saving.serialize_keras_object(generator)))
    )
    assert isinstance(revived, RandomMaskGenerator)
    assert revived.get_config() == config
    assert revived.num_visible_tokens == 78
    assert repr(generator) == (
        "RandomMaskGenerator(num_patches=196, mask_ratio=0.6, seed=3)"
    )


def test_masking_imports_only_numpy_keras_and_itself():
    # masking sits at the bottom of the package: usable inside tf.data workers
    # and by any backend, so no tf/jax/torch and no other keras_jepa module but the
    # leaf `keras_jepa.checks` (which imports nothing of the package).
    allowed = {"math", "numbers", "numpy", "keras"}
    package = pathlib.Path(keras_jepa.masking.__file__).parent
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module]
            else:
                continue
            for name in names:
                inside = name.startswith("keras_jepa.masking") or name == "keras_jepa.checks"
                assert inside or name.split(".")[0] in allowed, (path.name, name)
