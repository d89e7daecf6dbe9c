"""Figures for evaluating a pretrained encoder: probe curves, masks, errors, features.

``plot_probe_curves`` compares probe accuracy over training across methods;
``plot_mask_overlays`` draws any generator's context and target blocks over images;
``plot_prediction_error_maps`` shows where an I-JEPA predicts its targets well or
badly, patch by patch; ``plot_feature_pca`` shows patch features as colours (the
first three principal components as RGB). Each returns a
``matplotlib.figure.Figure`` (no pyplot state, so it works headless) and writes a
PNG when given a ``path``. ``prediction_error_map`` and ``feature_pca_rgb`` return
the numbers behind the last two figures.
"""

import os

import numpy as np
from keras import ops
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from keras_jepa.models.feature_extraction import pooled_features
from keras_jepa.models.ijepa import MASK_KEYS
from keras_jepa.models.ijepa import regression_loss
from keras_jepa.plotting.training_figures import _CONTEXT_COLOR
from keras_jepa.plotting.training_figures import _TARGET_COLORS
from keras_jepa.plotting.training_figures import _grey_rgb
from keras_jepa.plotting.training_figures import draw_mask_overlays


def plot_probe_curves(curves, baselines=None, xlabel="epoch",
                      ylabel="probe accuracy", title=None, path=None):
    """Probe accuracy over training for several methods on one axes.

    Args:
        curves: dict from a method's name to a pair `(x, accuracies)` of equal-length
            1-D sequences: the epochs (or steps) of each probe and its accuracy.
        baselines: optional dict from a name to one accuracy (e.g. a probe on raw
            pixels or on an untrained encoder), drawn as a dashed horizontal line.
        xlabel: x-axis label ("epoch" or "step").
        ylabel: y-axis label.
        title: optional axes title.
        path: optional PNG path to write (folders are created).

    Returns:
        A `matplotlib.figure.Figure` with one axes: a line per method, a dashed line
        per baseline.

    Example:
    figure = keras_jepa.plotting.evaluation_figures.plot_probe_curves(
        {"I-JEPA": ([1, 2, 3], [0.61, 0.70, 0.74]), "MAE": ([1, 2, 3], [0.55, 0.60, 0.63])},
        baselines={"pixels": 0.52, "untrained": 0.40}, path="probe_curves.png")
    """
    if not isinstance(curves, dict) or not curves:
        raise ValueError(
            "`curves` must be a non-empty dict {name: (x, accuracies)}, got "
            f"{type(curves).__name__}."
        )
    baselines = {} if baselines is None else baselines
    if not isinstance(baselines, dict):
        raise ValueError(
            f"`baselines` must be a dict {{name: accuracy}} or None, got "
            f"{type(baselines).__name__}."
        )
    figure = Figure(figsize=(5.5, 3.6))
    ax = figure.subplots()
    for name, pair in curves.items():
        try:
            x, accuracies = pair
            x = np.asarray(x, np.float64)
            accuracies = np.asarray(accuracies, np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"`curves[{name!r}]` must be a pair (x, accuracies) of numbers."
            ) from None
        if x.ndim != 1 or x.shape != accuracies.shape or x.size == 0:
            raise ValueError(
                f"`curves[{name!r}]` must be a pair (x, accuracies) of equal-length "
                f"non-empty 1-D sequences, got shapes {x.shape} and {accuracies.shape}."
            )
        ax.plot(x, accuracies, marker="o", markersize=3,
                label=f"{name} (last {accuracies[-1]:.3f})")
    for index, (name, value) in enumerate(baselines.items()):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ValueError(
                f"`baselines[{name!r}]` must be one number, got {value!r}."
            ) from None
        ax.axhline(value, ls="--", lw=1, color=f"{0.25 + 0.2 * (index % 3):.2f}",
                   label=f"{name} ({value:.3f})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    figure.tight_layout()
    return _maybe_save(figure, path)


def plot_mask_overlays(images, masks, grid_size, title=None, panel_size=1.5,
                       path=None):
    """Images with their context patches (blue) and each target block in a colour.

    Works for the masks of any I-JEPA generator (multi-block, rasterized, block,
    random). Padded target slots (weight 0) are not drawn; patches in neither the
    context nor a target are dimmed.

    Args:
        images: `[B, H, W, C]` images (C = 1 or 3).
        masks: dict with `context_indices` `int [B, Kc]`, `target_indices`
            `int [B, M, Kt]` and optionally `target_weights` `[B, M, Kt]` (all ones
            when absent), e.g. `generator.sample(B, seed)`.
        grid_size: int or `(rows, cols)`, the patch grid; the patches must be
            square (`H / rows == W / cols`).
        title: optional figure title.
        panel_size: inches per image panel.
        path: optional PNG path to write (folders are created).

    Returns:
        A `matplotlib.figure.Figure`: a panel per image, a legend of the colours below.

    Example:
    generator = keras_jepa.masking.RasterizedMaskGenerator(grid_size=8, seed=0)
    figure = keras_jepa.plotting.evaluation_figures.plot_mask_overlays(
        images[:6], generator.sample(6, seed=0), generator.grid_size)
    """
    images = _check_images(images)
    grid_size, patch_size = _grid_and_patch(images, grid_size)
    masks = _check_masks(masks, len(images), grid_size[0] * grid_size[1])
    count = len(images)
    figure = Figure(figsize=(panel_size * count, panel_size + 0.7))
    axes = figure.subplots(1, count, squeeze=False)[0]
    draw_mask_overlays(axes, images, masks, grid_size, patch_size)
    for ax in axes:
        ax.set_axis_off()
    num_blocks = masks["target_indices"].shape[1]
    handles = [Patch(color=_CONTEXT_COLOR, label="context")] + [
        Patch(color=_TARGET_COLORS[b % len(_TARGET_COLORS)], label=f"target {b + 1}")
        for b in range(num_blocks)
    ]
    figure.legend(handles=handles, loc="lower center", ncol=min(len(handles), 5),
                  fontsize=7, frameon=False)
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout(rect=(0, 0.12, 1, 1))
    return _maybe_save(figure, path)


def prediction_error_map(model, images, masks):
    """An I-JEPA's per-patch prediction error on the patch grid.

    The error of a target token is the model's loss per token (smooth-L1 or L2,
    averaged over the feature axis) between its prediction, `model(batch)`, and its
    target, `model.compute_targets`. A patch predicted in several target blocks
    gets the mean of its errors; padded slots (weight 0) are ignored; patches not
    predicted are NaN.

    Args:
        model: a `keras_jepa.models.IJEPA`.
        images: `[B, H, W, C]` images.
        masks: dict with `context_indices`, `target_indices` and `target_weights` in
            the I-JEPA contract (e.g. `generator.sample(B, seed)`).

    Returns:
        A float64 numpy array `[B, rows, cols]`.

    Example:
    masks = generator.sample(8, seed=0)
    errors = keras_jepa.plotting.evaluation_figures.prediction_error_map(
        model, images[:8], masks)
    """
    if not (hasattr(model, "compute_targets") and hasattr(model, "target_encoder")):
        raise ValueError(
            "`model` must be a keras_jepa.models.IJEPA (with `compute_targets`), got "
            f"{type(model).__name__}."
        )
    images = _check_images(images)
    grid_size = tuple(model.target_encoder.grid_size)
    num_patches = grid_size[0] * grid_size[1]
    masks = _check_masks(masks, len(images), num_patches)
    batch = {"images": images.astype("float32"),
             **{key: masks[key] for key in MASK_KEYS}}
    predictions = model(batch, training=False)
    targets = model.compute_targets(batch["images"], batch["target_indices"])
    per_token = ops.mean(regression_loss(predictions, targets, model.loss_name), axis=-1)
    per_token = np.asarray(ops.convert_to_numpy(per_token), np.float64)

    count = len(images)
    weights = masks["target_weights"].astype(np.float64).reshape(count, -1)
    flat = masks["target_indices"].astype(np.int64).reshape(count, -1)
    flat = flat + num_patches * np.arange(count)[:, None]
    totals = np.zeros(count * num_patches)
    hits = np.zeros(count * num_patches)
    np.add.at(totals, flat, per_token.reshape(count, -1) * weights)
    np.add.at(hits, flat, weights)
    with np.errstate(invalid="ignore", divide="ignore"):
        errors = np.where(hits > 0, totals / hits, np.nan)
    return errors.reshape(count, *grid_size)


def plot_prediction_error_maps(model, images, masks, title=None, panel_size=1.5,
                               cmap="magma", path=None):
    """Images with their masks, and beneath each its per-patch I-JEPA prediction error.

    The top row shows each image with the context (blue) and target blocks
    (colours); the bottom row the error of each predicted patch
    (`prediction_error_map`) on one colour scale shared by all images, patches not
    predicted left blank.

    Args:
        model: a `keras_jepa.models.IJEPA`.
        images: `[B, H, W, C]` images.
        masks: dict in the I-JEPA mask contract, e.g. `generator.sample(B, seed)`.
        title: optional figure title.
        panel_size: inches per image panel.
        cmap: matplotlib colormap of the errors.
        path: optional PNG path to write (folders are created).

    Returns:
        A `matplotlib.figure.Figure` with two rows (masks; errors, with a colour bar).

    Example:
    generator = keras_jepa.masking.MultiBlockMaskGenerator(grid_size=8, seed=0)
    figure = keras_jepa.plotting.evaluation_figures.plot_prediction_error_maps(
        model, images[:6], generator.sample(6, seed=0), path="errors.png")
    """
    errors = prediction_error_map(model, images, masks)
    images = _check_images(images)
    masks = _check_masks(masks, len(images), errors[0].size)
    grid_size = errors.shape[1:]
    patch_size = images.shape[1] // grid_size[0]
    count = len(images)
    finite = errors[np.isfinite(errors)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    colormap = _colormap_with_blank(cmap)
    figure = Figure(figsize=(panel_size * count + 1.0, 2 * panel_size + 0.5))
    axes = figure.subplots(2, count, squeeze=False)
    draw_mask_overlays(axes[0], images, masks, grid_size, patch_size)
    for i in range(count):
        shown = axes[1, i].imshow(np.ma.masked_invalid(errors[i]), cmap=colormap,
                                  vmin=low, vmax=high, interpolation="nearest")
        for ax in axes[:, i]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("masks")
    axes[1, 0].set_ylabel(f"{model.loss_name} error")
    figure.colorbar(shown, ax=list(axes[1]), fraction=0.03, pad=0.02)
    if title:
        figure.suptitle(title, fontsize=9)
    return _maybe_save(figure, path)


def feature_pca_rgb(features):
    """Patch features as colours: their first three principal components as RGB.

    The principal components are fit over all tokens of all images together; each
    component's sign is fixed so that its largest-magnitude loading is positive,
    and each channel is mapped from its minimum over all tokens (0) to its maximum
    (1), so colours are comparable across the images.

    Args:
        features: `[B, T, D]` (or `[T, D]`) token features, `D >= 3`.

    Returns:
        A float64 array of the same leading shape with a last axis of 3, in [0, 1].

    Example:
    tokens = model.encode(images, pool="none")            # [B, N, D]
    rgb = keras_jepa.plotting.evaluation_figures.feature_pca_rgb(tokens)
    """
    features = np.asarray(ops.convert_to_numpy(features), np.float64)
    if features.ndim not in (2, 3) or features.shape[-1] < 3:
        raise ValueError(
            "`features` must be [B, T, D] or [T, D] with D >= 3 (three components "
            f"for RGB), got shape {features.shape}."
        )
    if not np.isfinite(features).all():
        raise ValueError("`features` must be finite; it holds NaN or inf.")
    flat = features.reshape(-1, features.shape[-1])
    if len(flat) < 3:
        raise ValueError(
            f"`features` must hold at least 3 tokens to fit 3 components, got {len(flat)}."
        )
    centered = flat - flat.mean(axis=0)
    _, _, components = np.linalg.svd(centered, full_matrices=False)
    components = components[:3]
    largest = np.argmax(np.abs(components), axis=1)
    components *= np.sign(components[np.arange(3), largest])[:, None]
    projected = centered @ components.T
    low, high = projected.min(axis=0), projected.max(axis=0)
    rgb = (projected - low) / np.where(high > low, high - low, 1.0)
    return rgb.reshape(features.shape[:-1] + (3,))


def plot_feature_pca(model_or_encoder, images, title=None, panel_size=1.5, path=None):
    """Images and, beneath each, its patch features as colours (PCA → RGB).

    The tokens of the encoder on whole images (`training=False`) are reduced by
    `feature_pca_rgb` (three components fit over all patches of all the images), so
    patches that the encoder represents alike get alike colours.

    Args:
        model_or_encoder: a `keras_jepa.models.IJEPA` (its target encoder is used),
            a `keras_jepa.models.MAE` (its encoder), or an encoder such as a
            `ViTEncoder` that exposes `grid_size` and returns `[B, N, D]` tokens.
        images: `[B, H, W, C]` images.
        title: optional figure title.
        panel_size: inches per image panel.
        path: optional PNG path to write (folders are created).

    Returns:
        A `matplotlib.figure.Figure` with two rows (images; their patches' colours).

    Example:
    figure = keras_jepa.plotting.evaluation_figures.plot_feature_pca(
        model, images[:8], path="feature_pca.png")
    """
    encoder = getattr(model_or_encoder, "target_encoder", None)
    if encoder is None:
        encoder = getattr(model_or_encoder, "encoder", model_or_encoder)
    grid_size = getattr(encoder, "grid_size", None)
    if grid_size is None or not callable(encoder):
        raise ValueError(
            "`model_or_encoder` must be an IJEPA, an MAE or an encoder with "
            f"`grid_size`, got {type(model_or_encoder).__name__}."
        )
    images = _check_images(images)
    tokens = pooled_features(encoder, images.astype("float32"), pool="none")
    rows, cols = grid_size
    if tokens.shape[1] != rows * cols:
        raise ValueError(
            f"The encoder returned {tokens.shape[1]} tokens per image but its "
            f"`grid_size` {tuple(grid_size)} has {rows * cols} patches."
        )
    rgb = feature_pca_rgb(tokens).reshape(len(images), rows, cols, 3)
    count = len(images)
    figure = Figure(figsize=(panel_size * count, 2 * panel_size + 0.3))
    axes = figure.subplots(2, count, squeeze=False)
    for i in range(count):
        axes[0, i].imshow(_grey_rgb(images[i]), interpolation="nearest")
        axes[1, i].imshow(rgb[i], interpolation="nearest")
        for ax in axes[:, i]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("image")
    axes[1, 0].set_ylabel("PCA of patches")
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return _maybe_save(figure, path)


def _maybe_save(figure, path):
    if path is not None:
        path = os.fspath(path)
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        figure.savefig(path, dpi=120)
    return figure


def _check_images(images):
    images = np.asarray(ops.convert_to_numpy(images))
    if images.ndim != 4 or len(images) == 0 or images.shape[-1] not in (1, 3):
        raise ValueError(
            "`images` must be a non-empty [B, H, W, C] array with C = 1 or 3, got "
            f"shape {images.shape}."
        )
    return images


def _grid_and_patch(images, grid_size):
    if isinstance(grid_size, (list, tuple)) and len(grid_size) == 2:
        rows, cols = (int(v) for v in grid_size)
    elif isinstance(grid_size, (int, np.integer)) and not isinstance(grid_size, bool):
        rows = cols = int(grid_size)
    else:
        raise ValueError(
            f"`grid_size` must be an int or a pair (rows, cols), got {grid_size!r}."
        )
    height, width = images.shape[1:3]
    if (rows < 1 or cols < 1 or height % rows or width % cols
            or height // rows != width // cols):
        raise ValueError(
            f"`grid_size` {(rows, cols)} must split the {height}x{width} images "
            "into square patches."
        )
    return (rows, cols), height // rows


def _check_masks(masks, count, num_patches):
    if not isinstance(masks, dict) or not {"context_indices", "target_indices"} <= set(masks):
        raise ValueError(
            "`masks` must be a dict with 'context_indices' [B, Kc] and "
            "'target_indices' [B, M, Kt] (and optionally 'target_weights')."
        )
    context = np.asarray(ops.convert_to_numpy(masks["context_indices"]))
    targets = np.asarray(ops.convert_to_numpy(masks["target_indices"]))
    weights = masks.get("target_weights")
    weights = (np.ones(targets.shape, np.float32) if weights is None
               else np.asarray(ops.convert_to_numpy(weights), np.float32))
    if context.ndim != 2 or targets.ndim != 3 or weights.shape != targets.shape:
        raise ValueError(
            "`masks` must hold context_indices [B, Kc], target_indices [B, M, Kt] and "
            f"target_weights [B, M, Kt], got shapes {context.shape}, {targets.shape} "
            f"and {weights.shape}."
        )
    if len(context) != count or len(targets) != count:
        raise ValueError(
            f"`masks` must have one row per image ({count}), got {len(context)} "
            f"context and {len(targets)} target rows."
        )
    for name, values in (("context_indices", context), ("target_indices", targets)):
        if values.size and (values.min() < 0 or values.max() >= num_patches):
            raise ValueError(
                f"`masks['{name}']` must lie in [0, {num_patches}), got values in "
                f"[{values.min()}, {values.max()}]."
            )
    return {"context_indices": context.astype(np.int32),
            "target_indices": targets.astype(np.int32),
            "target_weights": weights}


def _colormap_with_blank(name):
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad=(1.0, 1.0, 1.0, 0.0))
