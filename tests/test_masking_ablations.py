"""Tests of the I-JEPA masking-ablation generators: rasterized, block, random targets."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import tiny_encoder

from keras_jepa.data import attach_masks
from keras_jepa.masking import BlockMaskGenerator
from keras_jepa.masking import RandomTargetMaskGenerator
from keras_jepa.masking import RasterizedMaskGenerator
from keras_jepa.models import IJEPA
from keras_jepa.models import JEPAPredictor
from keras_jepa.training import ScheduledAdamW


@pytest.fixture(autouse=True)
def _seeded():
    # Overrides the conftest fixture: only the fit test builds Keras state.
    yield


GENERATORS = {
    "rasterized": RasterizedMaskGenerator,
    "block": BlockMaskGenerator,
    "random": RandomTargetMaskGenerator,
}
NUM_TARGETS = {"rasterized": 3, "block": 1, "random": 1}


def _sets(masks, b):
    """Context set and the real target sets of sample `b`."""
    context = set(masks["context_indices"][b].tolist())
    targets = [
        set(indices[weights > 0].tolist())
        for indices, weights in zip(masks["target_indices"][b], masks["target_weights"][b])
    ]
    return context, targets


def _is_rectangle(indices, cols):
    rows_of, cols_of = np.divmod(np.asarray(sorted(indices)), cols)
    height = rows_of.max() - rows_of.min() + 1
    width = cols_of.max() - cols_of.min() + 1
    return height * width == len(indices)


@pytest.mark.parametrize("name", sorted(GENERATORS))
@pytest.mark.parametrize("grid_size", [4, (5, 7), 14])
def test_static_shapes_ranges_and_disjointness(name, grid_size):
    generator = GENERATORS[name](grid_size, seed=0)
    rows, cols = generator.grid_size
    n = rows * cols
    kc, kt = generator.num_context_tokens, generator.num_target_tokens
    m = NUM_TARGETS[name]
    assert generator.num_targets == m and generator.num_patches == n
    spec = generator.mask_spec(16)
    assert spec == {
        "context_indices": ((16, kc), np.int32),
        "target_indices": ((16, m, kt), np.int32),
        "target_weights": ((16, m, kt), np.float32),
    }
    for _ in range(10):
        masks = generator(16)
        for key, (shape, dtype) in spec.items():
            assert masks[key].shape == shape and masks[key].dtype == dtype
        for key in ("context_indices", "target_indices"):
            assert 0 <= masks[key].min() and masks[key].max() < n
        assert set(np.unique(masks["target_weights"])) <= {0.0, 1.0}
        # Context rows sorted without repeats; padding (weight 0) after real tokens.
        assert (np.diff(masks["context_indices"], axis=-1) > 0).all()
        weights = masks["target_weights"]
        assert (np.diff(weights, axis=-1) <= 0).all() and (weights[..., 0] == 1).all()
        for b in range(16):
            context, targets = _sets(masks, b)
            assert [len(t) for t in targets] == weights[b].sum(-1).astype(int).tolist()
            assert not context & set().union(*targets)
            # Target blocks of one sample never overlap either.
            assert sum(map(len, targets)) == len(set().union(*targets))


def _independent_quadrants(rows, cols, split_row, split_col):
    """Quadrant id of each patch for given split lines (0 TL, 1 TR, 2 BL, 3 BR)."""
    row, col = np.divmod(np.arange(rows * cols), cols)
    return 2 * (row >= split_row) + (col >= split_col)


@pytest.mark.parametrize("grid_size", [4, (6, 10), 14])
def test_rasterized_even_grid_context_is_one_quadrant_targets_the_others(grid_size):
    generator = RasterizedMaskGenerator(grid_size, seed=1)
    rows, cols = generator.grid_size
    quadrant = _independent_quadrants(rows, cols, rows // 2, cols // 2)
    masks = generator(64)
    seen = set()
    for b in range(64):
        context, targets = _sets(masks, b)
        q = quadrant[min(context)]
        seen.add(q)
        assert context == set(np.flatnonzero(quadrant == q).tolist())
        others = [set(np.flatnonzero(quadrant == p).tolist()) for p in range(4) if p != q]
        assert targets == others  # in quadrant order, each whole
        assert context | set().union(*targets) == set(range(rows * cols))
    assert seen == {0, 1, 2, 3}
    assert (masks["target_weights"] == 1).all()


@pytest.mark.parametrize("grid_size", [3, (5, 7)])
def test_rasterized_odd_grid_splits_at_either_middle_line(grid_size):
    generator = RasterizedMaskGenerator(grid_size, seed=2)
    rows, cols = generator.grid_size
    assert generator.num_context_tokens == (rows // 2) * (cols // 2)
    assert generator.num_target_tokens == ((rows + 1) // 2) * ((cols + 1) // 2)
    masks, quadrants = generator.sample_with_quadrants(200, seed=3)
    splits = set()
    for b in range(200):
        layout = quadrants["patch_quadrants"][b]
        # The layout is one of the four splits at the middle lines.
        matches = [
            (h, w)
            for h in {rows // 2, (rows + 1) // 2}
            for w in {cols // 2, (cols + 1) // 2}
            if (_independent_quadrants(rows, cols, h, w) == layout).all()
        ]
        assert len(matches) == 1
        splits.add(matches[0])
        context, targets = _sets(masks, b)
        q = quadrants["context_quadrant"][b]
        region = set(np.flatnonzero(layout == q).tolist())
        assert context <= region
        if len(region) == generator.num_context_tokens:
            assert context == region
        expected = [p for p in range(4) if p != q]
        assert quadrants["target_quadrants"][b].tolist() == expected
        assert targets == [set(np.flatnonzero(layout == p).tolist()) for p in expected]
        for indices, weights in zip(masks["target_indices"][b], masks["target_weights"][b]):
            # Padding repeats the block's first patch.
            assert (indices[weights == 0] == indices[0]).all()
    assert len(splits) == 4  # every middle line is used both ways


def test_block_target_is_one_rectangle_and_context_its_complement():
    generator = BlockMaskGenerator(14, seed=0)
    n = 196
    assert generator.num_context_tokens == n - generator.num_target_tokens
    masks, boxes = generator.sample_with_boxes(128, seed=5)
    areas = []
    for b in range(128):
        context, (target,) = _sets(masks, b)
        top, left, height, width = boxes["target_boxes"][b, 0]
        box = {(top + r) * 14 + left + c for r in range(height) for c in range(width)}
        assert target == box and _is_rectangle(target, 14)
        assert context <= set(range(n)) - box
        if len(box) == generator.num_target_tokens:
            assert context | box == set(range(n))
        areas.append(len(box))
    # Scale 0.6 of 196 patches, rounded to a rectangle.
    assert 0.55 * n <= np.mean(areas) <= 0.65 * n


def test_block_subsampled_targets_and_context_stay_apart():
    generator = BlockMaskGenerator((6, 10), target_scale=(0.3, 0.5), num_target_tokens=10,
                                   num_context_tokens=20, seed=0)
    masks, boxes = generator.sample_with_boxes(64, seed=1)
    for b in range(64):
        context, (target,) = _sets(masks, b)
        top, left, height, width = boxes["target_boxes"][b, 0]
        box = {(top + r) * 10 + left + c for r in range(height) for c in range(width)}
        assert target <= box and len(target) == min(10, len(box))
        assert not context & box and len(context) == 20


def test_random_targets_are_the_ratio_and_context_the_complement():
    generator = RandomTargetMaskGenerator((6, 10), target_ratio=0.6, seed=0)
    assert generator.num_target_tokens == 36 and generator.num_context_tokens == 24
    masks = generator(64)
    assert (masks["target_weights"] == 1).all()
    for b in range(64):
        context, (target,) = _sets(masks, b)
        assert context | target == set(range(60))
    smaller = RandomTargetMaskGenerator(8, target_ratio=0.25, num_context_tokens=10, seed=0)
    assert (smaller.num_target_tokens, smaller.num_context_tokens) == (16, 10)


@pytest.mark.parametrize(
    "generator",
    # A block of 60% of the grid always covers the centre (see BlockMaskGenerator),
    # so coverage of the context is checked with smaller blocks.
    [RasterizedMaskGenerator((5, 7), seed=0),
     BlockMaskGenerator(8, target_scale=(0.2, 0.4), seed=0),
     RandomTargetMaskGenerator(8, seed=0), RasterizedMaskGenerator(8, seed=0)],
    ids=["rasterized-odd", "block", "random", "rasterized"],
)
def test_every_patch_can_be_context_and_target(generator):
    n = generator.num_patches
    in_context = np.zeros(n, int)
    in_target = np.zeros(n, int)
    for _ in range(5):
        masks = generator(100)
        np.add.at(in_context, masks["context_indices"].ravel(), 1)
        real = masks["target_indices"][masks["target_weights"] > 0]
        np.add.at(in_target, real, 1)
    assert (in_context > 0).all() and (in_target > 0).all()


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_seeding_and_config_roundtrip(name):
    cls = GENERATORS[name]
    first, second = cls(8, seed=3), cls(8, seed=3)
    for _ in range(2):
        a, b = first(8), second(8)
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    other = cls(8, seed=4)(8)
    assert not np.array_equal(other["context_indices"], cls(8, seed=3)(8)["context_indices"])
    stateless = first.sample(8, (0, 5))
    np.testing.assert_array_equal(
        stateless["target_indices"], second.sample(8, (0, 5))["target_indices"]
    )
    assert not np.array_equal(
        stateless["target_indices"], first.sample(8, (0, 6))["target_indices"]
    )
    # A non-default config round-trips, also through Keras serialization.
    generator = {
        "rasterized": lambda: cls((6, 10), num_context_tokens=7, num_target_tokens=9, seed=1),
        "block": lambda: cls((6, 10), target_scale=(0.3, 0.4), target_aspect_ratio=(0.5, 2.0),
                             num_context_tokens=11, num_target_tokens=8, seed=1),
        "random": lambda: cls((6, 10), target_ratio=0.3, num_context_tokens=13, seed=1),
    }[name]()
    config = generator.get_config()
    for clone in (cls.from_config(config),
                  keras.saving.deserialize_keras_object(
                      keras.saving.serialize_keras_object(generator))):
        assert type(clone) is cls and clone.get_config() == config
        for key, value in generator.sample(4, 9).items():
            np.testing.assert_array_equal(value, clone.sample(4, 9)[key])


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: RasterizedMaskGenerator((1, 8)), "grid_size"),
        (lambda: RasterizedMaskGenerator(0), "grid_size"),
        (lambda: RasterizedMaskGenerator(4, num_context_tokens=5), r"num_context_tokens.*\[1, 4\]"),
        (lambda: RasterizedMaskGenerator(5, num_target_tokens=10), r"num_target_tokens.*\[1, 9\]"),
        (lambda: RasterizedMaskGenerator(4, num_context_tokens=0), "num_context_tokens"),
        (lambda: BlockMaskGenerator(4, target_scale=(1.0, 1.0)), "leaving no context"),
        (lambda: BlockMaskGenerator(8, target_scale=(0.0, 0.5)), "target_scale"),
        (lambda: BlockMaskGenerator(8, target_aspect_ratio=(2.0, 1.0)), "target_aspect_ratio"),
        (lambda: BlockMaskGenerator(14, num_context_tokens=76), r"num_context_tokens.*\[1, 75\]"),
        (lambda: BlockMaskGenerator(14, num_target_tokens=122), r"num_target_tokens.*\[1, 121\]"),
        (lambda: RandomTargetMaskGenerator(4, target_ratio=0.05), "no target patch"),
        (lambda: RandomTargetMaskGenerator(4, target_ratio=1.0), "target_ratio"),
        (lambda: RandomTargetMaskGenerator(4, target_ratio="half"), "target_ratio"),
        (lambda: RandomTargetMaskGenerator(10, num_context_tokens=41), r"\[1, 40\]"),
        (lambda: RandomTargetMaskGenerator(1), "grid_size"),
    ],
)
def test_impossible_settings_raise_at_construction(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def _attached_batch(generator):
    images = np.random.default_rng(0).random((4, 8, 8, 1)).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(4, drop_remainder=True)
    return attach_masks(dataset, generator, seed=0)


def test_ijepa_trains_on_every_ablation_through_attach_masks():
    keras.utils.set_random_seed(0)
    encoder = tiny_encoder(depth=1)  # 8x8 images, 2x2 patches: a 4x4 grid
    predictor = JEPAPredictor.for_encoder(encoder, hidden_dim=8, depth=1, num_heads=2)
    model = IJEPA(encoder, predictor, total_steps=2)
    # The block and random masks (M = 1) go through the loss; the rasterized ones
    # (M = 3) through a whole fit step.
    for name in ("block", "random"):
        generator = GENERATORS[name](4, seed=0)
        batch = next(iter(_attached_batch(generator).as_numpy_iterator()))
        assert batch["target_indices"].shape == (4, 1, generator.num_target_tokens)
        loss = keras.ops.convert_to_numpy(model.compute_ssl_loss(batch, training=False)[0])
        assert np.isfinite(loss) and loss > 0
    model.compile(optimizer=ScheduledAdamW(learning_rate=1e-3))
    dataset = _attached_batch(RasterizedMaskGenerator(4, seed=0))
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.predictor.weights]
    history = model.fit(dataset, epochs=1, verbose=0)
    loss = history.history["loss"][0]
    assert np.isfinite(loss) and loss > 0
    after = [keras.ops.convert_to_numpy(w) for w in model.predictor.weights]
    assert any(not np.allclose(a, b) for a, b in zip(before, after))
