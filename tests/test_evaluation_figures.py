"""Tests of keras_jepa.plotting.evaluation_figures: PNGs, error-map values, PCA, errors."""

import numpy as np
import pytest
from helpers import set_seeded_weights
from helpers import tiny_encoder
from numpy_reference import encoder_forward
from numpy_reference import layer_norm
from numpy_reference import predictor_forward

from keras_jepa.masking import MultiBlockMaskGenerator
from keras_jepa.masking import RasterizedMaskGenerator
from keras_jepa.models import IJEPA
from keras_jepa.models import JEPAPredictor
from keras_jepa.plotting import feature_pca_rgb
from keras_jepa.plotting import plot_feature_pca
from keras_jepa.plotting import plot_mask_overlays
from keras_jepa.plotting import plot_prediction_error_maps
from keras_jepa.plotting import plot_probe_curves
from keras_jepa.plotting import prediction_error_map
from keras_jepa.plotting.training_figures import mask_overlay_figure
from keras_jepa.plotting.training_figures import save_mask_overlays


@pytest.fixture(scope="module")
def model():
    encoder = tiny_encoder(depth=1)  # 8x8 images, 2x2 patches: a 4x4 grid, width 16
    predictor = JEPAPredictor.for_encoder(encoder, hidden_dim=8, depth=1, num_heads=2)
    model = IJEPA(encoder, predictor)
    set_seeded_weights(model, seed=1)
    return model


@pytest.fixture
def images():
    return np.random.default_rng(0).normal(size=(2, 8, 8, 1)).astype("float32")


def _png_written(path):
    return path.exists() and path.stat().st_size > 1000 and (
        path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    )


def _known_masks():
    # Two target blocks that share patch 5 in sample 0, and one padded slot.
    return {
        "context_indices": np.array([[0, 1, 2, 3, 12, 13], [8, 9, 10, 11, 14, 15]], "int32"),
        "target_indices": np.array(
            [[[4, 5, 6], [5, 9, 10]], [[0, 1, 4], [2, 3, 3]]], "int32"
        ),
        "target_weights": np.array(
            [[[1, 1, 1], [1, 1, 1]], [[1, 1, 1], [1, 1, 0]]], "float32"
        ),
    }


def test_probe_curves_draw_every_method_and_baseline(tmp_path):
    path = tmp_path / "curves" / "probe.png"
    figure = plot_probe_curves(
        {"I-JEPA": ([1, 2, 3], [0.5, 0.6, 0.7]), "MAE": (np.arange(4), [0.4, 0.45, 0.5, 0.5])},
        baselines={"pixels": 0.42, "untrained": 0.3}, xlabel="step", path=path,
    )
    assert _png_written(path)
    (ax,) = figure.axes
    lines = ax.get_lines()
    assert len(lines) == 4
    np.testing.assert_allclose(lines[0].get_ydata(), [0.5, 0.6, 0.7])
    np.testing.assert_allclose(lines[2].get_ydata(), [0.42, 0.42])
    assert ax.get_xlabel() == "step"


@pytest.mark.parametrize(
    "curves, baselines, message",
    [
        ({}, None, "curves"),
        ({"a": ([1, 2], [0.1])}, None, r"curves\['a'\]"),
        ({"a": 0.5}, None, r"curves\['a'\]"),
        ({"a": ([1], [0.1])}, {"pixels": "high"}, r"baselines\['pixels'\]"),
        ({"a": ([1], [0.1])}, [0.3], "baselines"),
    ],
)
def test_probe_curves_reject_bad_input(curves, baselines, message):
    with pytest.raises(ValueError, match=message):
        plot_probe_curves(curves, baselines=baselines)


@pytest.mark.parametrize(
    "generator",
    [MultiBlockMaskGenerator(4, num_targets=2, target_scale=(0.1, 0.2), seed=0),
     RasterizedMaskGenerator(4, seed=0)],
    ids=["multi-block", "rasterized"],
)
def test_mask_overlays_for_any_generator(tmp_path, images, generator):
    path = tmp_path / "masks.png"
    masks = generator.sample(2, seed=0)
    figure = plot_mask_overlays(images, masks, generator.grid_size, title="t", path=path)
    assert _png_written(path)
    (legend,) = figure.legends
    assert len(legend.get_texts()) == 1 + generator.num_targets


def test_training_mask_figure_is_the_evaluation_one(tmp_path, images):
    """training_figures' mask figure (the runner's masks.png) delegates to
    plot_mask_overlays: the same panels, with the generator's masks of `seed`."""
    generator = MultiBlockMaskGenerator(4, num_targets=2, target_scale=(0.1, 0.2), seed=0)
    path = tmp_path / "masks.png"
    assert save_mask_overlays(images, generator, path, seed=3) == path
    assert _png_written(path)
    figure = mask_overlay_figure(images, generator, seed=3)
    reference = plot_mask_overlays(images, generator.sample(2, seed=3), generator.grid_size)
    assert len(figure.axes) == len(reference.axes) == 2
    for ax, expected in zip(figure.axes, reference.axes):
        np.testing.assert_array_equal(ax.images[0].get_array(),
                                      expected.images[0].get_array())
    (legend,) = figure.legends
    assert len(legend.get_texts()) == 1 + generator.num_targets
    with pytest.raises(ValueError, match="grid_size"):
        mask_overlay_figure(images[:, :6], generator)


def test_mask_overlays_reject_bad_input(images):
    masks = RasterizedMaskGenerator(4, seed=0).sample(2, seed=0)
    with pytest.raises(ValueError, match="grid_size"):
        plot_mask_overlays(images, masks, (3, 3))
    with pytest.raises(ValueError, match="one row per image"):
        plot_mask_overlays(images[:1], masks, 4)
    with pytest.raises(ValueError, match=r"target_indices.*\[0, 16\)"):
        plot_mask_overlays(images, dict(masks, target_indices=masks["target_indices"] + 16), 4)
    with pytest.raises(ValueError, match="images"):
        plot_mask_overlays(images[0], masks, 4)
    with pytest.raises(ValueError, match="masks"):
        plot_mask_overlays(images, {"context_indices": masks["context_indices"]}, 4)


def test_prediction_error_map_equals_the_per_token_loss(model, images):
    masks = _known_masks()
    errors = prediction_error_map(model, images, masks)
    # Independent float64 forward pass and smooth-L1 per target token.
    x = images.astype(np.float64)
    targets_full = layer_norm(encoder_forward(model.target_encoder, x),
                              eps=model.target_norm_epsilon)
    context = encoder_forward(model.context_encoder, x, masks["context_indices"])
    predictions = predictor_forward(model.predictor, context, masks["context_indices"],
                                    masks["target_indices"])
    expected = np.full((2, 16), np.nan)
    for b in range(2):
        sums, counts = {}, {}
        for m in range(2):
            for k in range(3):
                if masks["target_weights"][b, m, k] == 0:
                    continue
                patch = masks["target_indices"][b, m, k]
                diff = predictions[b, m, k] - targets_full[b, patch]
                loss = np.where(np.abs(diff) < 1, 0.5 * diff**2, np.abs(diff) - 0.5).mean()
                sums[patch] = sums.get(patch, 0.0) + loss
                counts[patch] = counts.get(patch, 0) + 1
        for patch in sums:
            expected[b, patch] = sums[patch] / counts[patch]
    assert errors.shape == (2, 4, 4)
    np.testing.assert_array_equal(np.isnan(errors.reshape(2, 16)), np.isnan(expected))
    np.testing.assert_allclose(errors.reshape(2, 16), expected, rtol=1e-4, atol=1e-6)
    # Patch 5 of sample 0 is in both blocks (the mean of two errors, checked above);
    # the padded slot of sample 1 points at patch 3, which is also a real target.
    assert np.isfinite(errors[0, 1, 1]) and np.isnan(errors[0, 0, 0])


def test_prediction_error_figure_and_bad_input(tmp_path, model, images):
    path = tmp_path / "errors.png"
    figure = plot_prediction_error_maps(model, images, _known_masks(), path=path)
    assert _png_written(path)
    assert len(figure.axes) == 5  # 2 x 2 panels and a colour bar
    with pytest.raises(ValueError, match="IJEPA"):
        prediction_error_map(model.context_encoder, images, _known_masks())
    with pytest.raises(ValueError, match="masks"):
        prediction_error_map(model, images, {"target_indices": np.zeros((2, 1, 1))})


def test_feature_pca_orders_known_directions_by_variance():
    rng = np.random.default_rng(0)
    strong, weak = rng.normal(size=(2, 3, 20))
    basis, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    first, second = basis[:, 0], basis[:, 1]
    first = first * np.sign(first[np.argmax(np.abs(first))])
    features = (3.0 * strong[..., None] * first + 1.0 * weak[..., None] * second
                + 0.01 * rng.normal(size=(3, 20, 12)))
    rgb = feature_pca_rgb(features)
    assert rgb.shape == (3, 20, 3)
    flat = rgb.reshape(-1, 3)
    np.testing.assert_allclose(flat.min(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(flat.max(axis=0), 1.0)
    # The strongest direction is red, with the sign that makes its largest loading
    # positive; the second is green (either sign).
    assert np.corrcoef(flat[:, 0], strong.ravel())[0, 1] > 0.999
    assert abs(np.corrcoef(flat[:, 1], weak.ravel())[0, 1]) > 0.99
    assert abs(np.corrcoef(flat[:, 0], weak.ravel())[0, 1]) < 0.2


def test_feature_pca_figure_for_models_and_encoders(tmp_path, model, images):
    for name, source in (("ijepa", model), ("encoder", model.context_encoder)):
        path = tmp_path / f"{name}.png"
        figure = plot_feature_pca(source, images, path=path)
        assert _png_written(path)
        patches = figure.axes[2].get_images()[0].get_array()
        assert patches.shape == (4, 4, 3)
    with pytest.raises(ValueError, match="model_or_encoder"):
        plot_feature_pca(object(), images)
    with pytest.raises(ValueError, match="D >= 3"):
        feature_pca_rgb(np.zeros((2, 5, 2)))
    with pytest.raises(ValueError, match="finite"):
        feature_pca_rgb(np.full((2, 5, 4), np.nan))
