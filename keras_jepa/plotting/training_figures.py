"""Figures of a pretraining run: loss curves, multi-block masks over images, reconstructions.

Each `save_*` function writes a PNG with matplotlib's Agg backend (no display needed) and
returns the path; the `*_figure` functions return the `Figure` for further editing.
"""

import numpy as np

# Tints of the context and of up to eight target blocks (RGB in [0, 1]).
_CONTEXT_COLOR = np.array([0.25, 0.55, 1.0])
_TARGET_COLORS = np.array([[1.0, 0.35, 0.2], [0.2, 0.8, 0.3], [0.95, 0.8, 0.1],
                           [0.8, 0.3, 0.9], [0.1, 0.8, 0.8], [1.0, 0.55, 0.0],
                           [0.6, 0.4, 0.2], [0.9, 0.4, 0.6]])


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def loss_curves_figure(losses, title=None):
    """Per-epoch losses of several methods on one axes, each relative to its first epoch.

    I-JEPA's smooth-L1 on normalised features and MAE's pixel MSE live on different
    scales, so each curve is divided by its own first value; the legend gives the
    absolute first → last values.

    Args:
        losses: dict from a method's name to its per-epoch losses.
        title: optional axes title.

    Returns:
        A `matplotlib.figure.Figure`.

    Example:
    figure = keras_jepa.plotting.training_figures.loss_curves_figure(
        {"I-JEPA": ijepa_history["loss"], "MAE": mae_history["loss"]})
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for name, values in losses.items():
        values = np.asarray(values, "float64")
        if values.size == 0:
            raise ValueError(f"`losses[{name!r}]` is empty.")
        epochs = np.arange(1, len(values) + 1)
        ax.plot(epochs, values / values[0], marker="o", markersize=3,
                label=f"{name} ({values[0]:.4g} → {values[-1]:.4g})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss / first-epoch loss")
    ax.set_yscale("log")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def save_loss_curves(losses, path, title=None):
    """Writes `loss_curves_figure(losses, title)` to `path`; returns `path`."""
    plt = _pyplot()
    fig = loss_curves_figure(losses, title)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _grey_rgb(image):
    image = np.asarray(image, "float64")
    low, high = image.min(), image.max()
    image = (image - low) / (high - low) if high > low else np.zeros_like(image)
    return np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image[..., :3]


def mask_overlay(image, context_indices, target_indices, target_weights, grid_size,
                 patch_size, alpha=0.55):
    """One image as RGB with its context patches tinted blue and each target block coloured.

    Padded target slots (weight 0) are left out. A patch both in the context and a
    target keeps the target's colour (the generator removes targets from the context,
    so this only shows a bug).

    Args:
        image: `[H, W, C]`.
        context_indices: `int [Kc]` patch indices, raster order over the grid.
        target_indices: `int [M, Kt]`.
        target_weights: `[M, Kt]`, 1 for a real token, 0 for padding.
        grid_size: `(rows, cols)` or int.
        patch_size: patch side in pixels.
        alpha: tint strength.

    Returns:
        A float array `[H, W, 3]` in [0, 1].
    """
    rows, cols = (grid_size, grid_size) if np.isscalar(grid_size) else tuple(grid_size)
    tint = np.full((rows * cols, 3), np.nan)
    tint[np.asarray(context_indices)] = _CONTEXT_COLOR
    for block, (indices, weights) in enumerate(zip(target_indices, target_weights)):
        real = np.asarray(indices)[np.asarray(weights) > 0]
        tint[real] = _TARGET_COLORS[block % len(_TARGET_COLORS)]
    # Patch-level tint → pixel-level tint.
    tint = tint.reshape(rows, cols, 3).repeat(patch_size, 0).repeat(patch_size, 1)
    rgb = _grey_rgb(image)
    has_tint = ~np.isnan(tint[..., 0])
    rgb[has_tint] = (1 - alpha) * rgb[has_tint] + alpha * tint[has_tint]
    # Patches in neither the context nor a target are dimmed: the encoder never sees them.
    rgb[~has_tint] *= 0.35
    return rgb


def draw_mask_overlays(axes, images, masks, grid_size, patch_size, alpha=0.55):
    """Draws each image, its context and target blocks tinted, on the matching axes.

    The one place that draws mask overlays: `plot_mask_overlays` (and through it
    `mask_overlay_figure`) and `plot_prediction_error_maps` call it. Image `i` is drawn
    (`mask_overlay`) on `axes[i]`; the axes' ticks and frames are left to the caller.

    Args:
        axes: one matplotlib axes per image.
        images: `[B, H, W, C]`.
        masks: dict with `context_indices` `int [B, Kc]`, `target_indices`
            `int [B, M, Kt]` and `target_weights` `[B, M, Kt]`.
        grid_size: `(rows, cols)` or int.
        patch_size: patch side in pixels.
        alpha: tint strength.

    Returns:
        The list of the `AxesImage`s drawn.
    """
    return [ax.imshow(mask_overlay(images[i], masks["context_indices"][i],
                                   masks["target_indices"][i], masks["target_weights"][i],
                                   grid_size, patch_size, alpha), interpolation="nearest")
            for i, ax in enumerate(axes)]


def mask_overlay_figure(images, generator, seed=0, panel_size=1.5):
    """Example multi-block masks (blue: context; colours: target blocks) over images.

    The masks `generator.sample(len(images), seed)` drawn by
    `keras_jepa.plotting.plot_mask_overlays`, with a title that names the colours.

    Args:
        images: `[N, H, W, C]` (C = 1 or 3).
        generator: a `MultiBlockMaskGenerator` (or another I-JEPA mask generator)
            whose `grid_size` splits the images into square patches.
        seed: seed of `generator.sample` (stateless: training's stream is untouched).
        panel_size: inches per panel.

    Returns:
        A `matplotlib.figure.Figure`.

    Example:
    generator = keras_jepa.masking.MultiBlockMaskGenerator(grid_size=8, seed=0)
    figure = keras_jepa.plotting.training_figures.mask_overlay_figure(images[:8], generator)
    """
    # Imported here: evaluation_figures imports this module.
    from keras_jepa.plotting.evaluation_figures import plot_mask_overlays

    images = np.asarray(images)
    return plot_mask_overlays(images, generator.sample(len(images), seed), generator.grid_size,
                              title="I-JEPA masks: context (blue), target blocks (colours)",
                              panel_size=panel_size)


def save_mask_overlays(images, generator, path, seed=0):
    """Writes `mask_overlay_figure(images, generator, seed)` to `path`; returns `path`."""
    mask_overlay_figure(images, generator, seed).savefig(path, dpi=120)
    return path


def save_reconstructions(model, images, path, seed=0):
    """Writes an MAE's reconstructions of `images` (original / masked / output) to `path`."""
    from keras_jepa.plotting.reconstructions import reconstruction_caption
    from keras_jepa.plotting.reconstructions import reconstruction_figure

    plt = _pyplot()
    masks = model.mask_generator.sample(len(images), seed)
    fig = reconstruction_figure(images, model.reconstruct(images, masks),
                                masks["visible_indices"], model.patch_size,
                                title="MAE: original, visible patches, reconstruction\n"
                                      + reconstruction_caption(model))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
