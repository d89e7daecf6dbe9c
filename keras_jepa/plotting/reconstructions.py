"""Masked-autoencoder reconstructions as figures: original / masked / reconstruction.

``reconstruction_figure`` draws the three rows for a few images; the Keras callback
``ReconstructionFigureCallback`` saves that figure as a PNG every N epochs of an MAE's
``fit``, with the same images and masks each time so that the figures can be compared
across epochs. Figures are built on ``matplotlib.figure.Figure`` (no pyplot state), so
they work in scripts, tests and headless machines alike.
"""

import os

import keras
import numpy as np
from matplotlib.figure import Figure

from keras_jepa.checks import check_positive_int

# Masked patches are filled with a colour that no grey-scale image contains.
MASK_COLOR = (0.55, 0.65, 0.85)


def reconstruction_caption(model):
    """What the reconstruction row shows, for a figure's title.

    With `norm_pix_loss` an MAE predicts normalised patches; its reconstructions take
    each masked patch's brightness and contrast from the visible patches, which the
    caption says, so that a reader does not take them for the hidden patch's own.
    """
    if getattr(model, "norm_pix_loss", False):
        return "masked patches: predicted, scaled to the visible patches' mean and std"
    return "masked patches: predicted pixels"


def visible_pixels(visible_indices, image_shape, patch_size):
    """Boolean `[N, H, W]` map of the pixels that lie in a visible patch.

    Args:
        visible_indices: `int [N, Kv]` row-major patch indices.
        image_shape: `(H, W)` or `(H, W, C)`.
        patch_size: patch side in pixels.
    """
    height, width = image_shape[0], image_shape[1]
    rows, cols = height // patch_size, width // patch_size
    visible_indices = np.asarray(visible_indices)
    grid = np.zeros((len(visible_indices), rows * cols), bool)
    np.put_along_axis(grid, visible_indices.astype(np.int64), True, axis=1)
    grid = grid.reshape(-1, rows, cols)
    return np.repeat(np.repeat(grid, patch_size, axis=1), patch_size, axis=2)


def _to_rgb(images, low, high):
    images = np.clip((np.asarray(images, np.float64) - low) / max(high - low, 1e-12), 0, 1)
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    elif images.shape[-1] != 3:
        raise ValueError(
            f"Images must have 1 or 3 channels to be drawn, got {images.shape[-1]}."
        )
    return images


def reconstruction_figure(images, reconstructions, visible_indices, patch_size,
                          title=None, panel_size=1.4):
    """A figure with one column per image: original, masked input, reconstruction.

    All three rows share one intensity scale, the originals' min and max, so a
    reconstruction that is too dark or too faint looks it.

    Args:
        images: `[N, H, W, C]` originals (C = 1 or 3).
        reconstructions: `[N, H, W, C]`, e.g. from `MAE.reconstruct`.
        visible_indices: `int [N, Kv]` patches the model saw.
        patch_size: patch side in pixels.
        title: optional figure title.
        panel_size: inches per image panel.

    Returns:
        A `matplotlib.figure.Figure`.

    Example:
    masks = model.mask_generator.sample(8, seed=0)
    figure = keras_jepa.plotting.reconstructions.reconstruction_figure(
        images[:8], model.reconstruct(images[:8], masks), masks["visible_indices"],
        model.patch_size)
    figure.savefig("reconstructions.png")
    """
    images = np.asarray(images)
    reconstructions = np.asarray(reconstructions)
    if images.ndim != 4 or reconstructions.shape != images.shape:
        raise ValueError(
            "`images` and `reconstructions` must both have shape [N, H, W, C], got "
            f"{images.shape} and {reconstructions.shape}."
        )
    low, high = float(images.min()), float(images.max())
    original = _to_rgb(images, low, high)
    masked = original.copy()
    masked[~visible_pixels(visible_indices, images.shape[1:], patch_size)] = MASK_COLOR
    rows = (("original", original), ("masked", masked),
            ("reconstruction", _to_rgb(reconstructions, low, high)))
    count = len(images)
    figure = Figure(figsize=(panel_size * count + 0.9, panel_size * 3 + (0.4 if title else 0)))
    axes = figure.subplots(3, count, squeeze=False)
    for r, (label, panels) in enumerate(rows):
        for c in range(count):
            ax = axes[r, c]
            ax.imshow(panels[c], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(label)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


class ReconstructionFigureCallback(keras.callbacks.Callback):
    """Saves a PNG of original / masked / reconstructed images every N epochs.

    The images and their masks are fixed when training starts (masks from
    `model.mask_generator.sample(len(images), seed)`), so successive figures differ
    only by what the model learned.

    Args:
        images: `[N, H, W, C]` images to reconstruct (a handful: one column each).
        filepath: PNG path, formatted with `epoch` (1-based), e.g.
            `"figures/reconstructions_{epoch:03d}.png"`; folders are created.
        every_n_epochs: save after epochs N, 2N, ... .
        seed: seed of the masks.

    Example:
    callback = keras_jepa.plotting.reconstructions.ReconstructionFigureCallback(
        images[:8], "figures/mae_{epoch:03d}.png", every_n_epochs=5)
    model.fit(images, batch_size=64, epochs=50, callbacks=[callback])
    """

    def __init__(self, images, filepath, every_n_epochs=1, seed=0):
        super().__init__()
        images = np.asarray(images)
        if images.ndim != 4 or len(images) == 0:
            raise ValueError(
                f"`images` must be a non-empty [N, H, W, C] array, got shape {images.shape}."
            )
        every_n_epochs = check_positive_int(every_n_epochs, "every_n_epochs", whole_floats=True)
        self.images = images
        self.filepath = os.fspath(filepath)
        self.every_n_epochs = int(every_n_epochs)
        self.seed = seed
        self.masks = None
        self.saved = []

    def on_train_begin(self, logs=None):
        model = self.model
        if not (hasattr(model, "mask_generator") and hasattr(model, "reconstruct")):
            raise ValueError(
                "ReconstructionFigureCallback needs a model with `mask_generator` and "
                f"`reconstruct` (e.g. keras_jepa.models.MAE), got {type(model).__name__}."
            )
        if self.masks is None:
            self.masks = model.mask_generator.sample(len(self.images), self.seed)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs:
            return
        model = self.model
        reconstructions = model.reconstruct(self.images, masks=self.masks)
        loss = (logs or {}).get("loss")
        title = f"epoch {epoch + 1}" + ("" if loss is None else f", loss {float(loss):.4f}")
        title += "\n" + reconstruction_caption(model)
        figure = reconstruction_figure(self.images, reconstructions,
                                       self.masks["visible_indices"], model.patch_size,
                                       title=title)
        path = self.filepath.format(epoch=epoch + 1)
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        figure.savefig(path, dpi=100)
        self.saved.append(path)
