"""A loud but weakly predictable distractor for images: the noisy-feature experiment.

The theory (docs/theory.md, 'The model') describes each feature by its covariance λ
between the two views and its regression coefficient ρ (how much of it one view predicts
of the other).
MAE learns by λ, JEPA by ρ, so a feature that is loud (large variance, hence large λ)
but mostly unpredictable (small ρ) should pull MAE's features towards it and leave
JEPA's less affected.

On images, the two "views" of I-JEPA and MAE are different patches of one image. The
distractor realises the static two-view model `x = z + ξ`, `y = z + ξ'` per patch:

    D[pixel in patch p] = strength · (z + ξ_p) · G[pixel]

- `G` is a fixed ±1 checkerboard at pixel level (zero mean within every even-sized
  patch, so it does not change a patch's mean brightness);
- `z ~ N(0, ρ)` is one amplitude per image, shared by all patches: the predictable part;
- `ξ_p ~ N(0, 1 − ρ)` is an independent amplitude per patch: the unpredictable part.

Every pixel's distractor has variance `strength²`; the amplitudes of two different
patches have covariance `strength² · ρ` (λ of the distractor) and correlation ρ, so a
patch predicts another's distractor with regression coefficient ρ. With ρ small and
`strength` large the distractor is the loudest and one of the least predictable signals
in the image. It carries no label information.
"""

import numpy as np


def checkerboard(image_size):
    """The fixed ±1 pixel checkerboard `G`, `float32 [image_size, image_size, 1]`."""
    rows, cols = np.indices((image_size, image_size))
    return np.where((rows + cols) % 2 == 0, 1.0, -1.0).astype("float32")[..., None]


def add_patch_distractor(images, patch_size, strength, predictability=0.2, seed=0):
    """Adds the loud, weakly predictable distractor to images.

    Args:
        images: `[N, H, W, C]` float array (H = W, divisible by `patch_size`).
        patch_size: side of the model's patches; the unpredictable amplitude changes
            from patch to patch.
        strength: standard deviation of the distractor at every pixel (0 = unchanged).
        predictability: ρ in (0, 1]: correlation of the distractor between two patches
            of one image (the share of its variance shared by the whole image).
        seed: seed of the amplitudes (the same seed gives the same distractor).

    Returns:
        `float32 [N, H, W, C]`: `images + distractor` (the same value on every channel).

    Example:
    images, labels = keras_jepa.data.load_digits("train", image_size=16)
    noisy = keras_jepa.data.add_patch_distractor(images, patch_size=2, strength=0.5)
    """
    images = np.asarray(images, "float32")
    if images.ndim != 4:
        raise ValueError(f"`images` must be [N, H, W, C], got shape {images.shape}.")
    height, width = images.shape[1:3]
    if int(patch_size) != patch_size or patch_size < 1:
        raise ValueError(f"`patch_size` must be a positive integer, got {patch_size!r}.")
    if height != width or height % patch_size:
        raise ValueError(
            f"`images` must be square with a side divisible by `patch_size` ({patch_size}), "
            f"got {height}×{width}.")
    if not np.isfinite(strength) or strength < 0:
        raise ValueError(f"`strength` must be a finite number >= 0, got {strength!r}.")
    if not 0.0 < predictability <= 1.0:
        raise ValueError(f"`predictability` must be in (0, 1], got {predictability!r}.")
    if strength == 0:
        return images.copy()
    grid = height // patch_size
    rng = np.random.default_rng(seed)
    shared = rng.normal(0.0, np.sqrt(predictability), (len(images), 1, 1))
    own = rng.normal(0.0, np.sqrt(1.0 - predictability), (len(images), grid, grid))
    amplitude = np.repeat(np.repeat(shared + own, patch_size, axis=1), patch_size, axis=2)
    distractor = strength * amplitude[..., None] * checkerboard(height)
    return (images + distractor).astype("float32")
