"""MAE reconstructions show what the model predicts, never the hidden pixels' statistics."""

import matplotlib
import numpy as np
import pytest
from helpers import tiny_encoder

from keras_jepa.models import MAE
from keras_jepa.plotting import reconstructions
from keras_jepa.plotting.reconstructions import ReconstructionFigureCallback
from keras_jepa.plotting.reconstructions import reconstruction_caption
from keras_jepa.plotting.reconstructions import reconstruction_figure
from keras_jepa.plotting.reconstructions import visible_pixels

matplotlib.use("Agg")

PATCH = 4  # an 8×8 image is a 2×2 grid of patches


def _mae(norm_pix_loss=True):
    encoder = tiny_encoder(patch_size=PATCH, depth=1)
    return MAE(encoder, mask_ratio=0.5, norm_pix_loss=norm_pix_loss, seed=0)


def _masks(batch_size):
    # The left column of patches is visible, the right column hidden.
    return {"visible_indices": np.tile(np.array([[0, 2]], "int32"), (batch_size, 1)),
            "masked_indices": np.tile(np.array([[1, 3]], "int32"), (batch_size, 1))}


def _images(rng, batch_size=3):
    """Dim, flat visible patches; bright, high-contrast hidden ones."""
    images = rng.normal(0.0, 0.1, size=(batch_size, 8, 8, 1)).astype("float32")
    images[:, :, 4:] = rng.normal(5.0, 2.0, size=(batch_size, 8, 4, 1))
    return images


@pytest.mark.parametrize("norm_pix_loss", [True, False])
def test_hidden_pixels_do_not_change_the_reconstruction(rng, norm_pix_loss):
    model = _mae(norm_pix_loss)
    images = _images(rng)
    masks = _masks(len(images))
    changed = images.copy()
    changed[:, :, 4:] = 100.0 * rng.normal(size=changed[:, :, 4:].shape) - 50.0
    np.testing.assert_allclose(model.reconstruct(changed, masks), model.reconstruct(images, masks),
                               rtol=1e-5, atol=1e-5)


def test_untrained_model_does_not_reconstruct_hidden_patch_statistics(rng):
    model = _mae()
    images = _images(rng)
    masks = _masks(len(images))
    hidden = ~visible_pixels(masks["visible_indices"], images.shape[1:], PATCH)
    out = model.reconstruct(images, masks)
    # The oracle that shows each hidden patch at its true mean: what an untrained model
    # looked like when its normalised prediction was scaled with the true statistics.
    oracle_error = np.mean((images[:, :, 4:] - images[:, :, 4:].mean(axis=(1, 2),
                                                                      keepdims=True)) ** 2)
    error = np.mean((out[hidden] - images[hidden]) ** 2)
    assert error > 5 * oracle_error
    # The hidden patches sit at the visible pixels' level (≈ 0), not the hidden one (≈ 5).
    assert abs(out[hidden].mean() - images[:, :, :4].mean()) < 0.5
    assert abs(out[hidden].mean() - images[hidden].mean()) > 4.0


def test_figures_say_where_the_scale_comes_from(rng, tmp_path, monkeypatch):
    assert "visible patches' mean and std" in reconstruction_caption(_mae(True))
    assert "visible" not in reconstruction_caption(_mae(False))
    model = _mae()
    model.compile(optimizer="sgd")
    images = _images(rng, batch_size=4)
    callback = ReconstructionFigureCallback(images[:2], str(tmp_path / "r_{epoch}.png"))
    titles = []

    def recording(*args, **kwargs):
        titles.append(kwargs.get("title"))
        return reconstruction_figure(*args, **kwargs)

    monkeypatch.setattr(reconstructions, "reconstruction_figure", recording)
    model.fit(images, batch_size=4, epochs=1, verbose=0, callbacks=[callback])
    assert (tmp_path / "r_1.png").exists()
    assert "visible patches' mean and std" in titles[0]
