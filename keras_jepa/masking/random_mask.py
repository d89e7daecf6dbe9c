"""MAE's random masks: a uniform random split of the patches into visible and masked.

``RandomMaskGenerator`` draws, for a whole batch at once, the visible and masked token
indices of a masked autoencoder, with sizes fixed by ``mask_ratio``.
"""

import math

import keras
import numpy as np

from keras_jepa.checks import check_positive_int
from keras_jepa.masking.base import MaskGenerator


@keras.saving.register_keras_serializable(package="keras_jepa")
class RandomMaskGenerator(MaskGenerator):
    """Draws MAE masks: a uniform random partition of the patches per sample.

    Each sample's patches are split uniformly at random into
    `num_visible_tokens = floor(num_patches · (1 − mask_ratio))` visible and
    `num_masked_tokens = num_patches − num_visible_tokens` masked patches (MAE's
    `int(L · (1 − mask_ratio))`, computed so that float round-off cannot drop a
    token). Each row of indices is sorted ascending.

    Args:
        num_patches: int >= 2, patches per image.
        mask_ratio: float in (0, 1), the fraction of patches to mask.
        seed: int or None, seeds the stream behind `generator(batch_size)`.

    Example:

    ```python
    generator = keras_jepa.masking.RandomMaskGenerator(196, mask_ratio=0.75, seed=0)
    masks = generator(64)
    masks["visible_indices"].shape  # (64, 49)
    masks["masked_indices"].shape   # (64, 147)
    masks = generator.sample(64, seed=(0, 17))  # stateless: batch 17 of seed 0
    ```

    Reference:
    - [He et al., 2022](https://arxiv.org/abs/2111.06377): Masked Autoencoders Are
      Scalable Vision Learners.
    """

    def __init__(self, num_patches, mask_ratio=0.75, seed=None):
        super().__init__(seed=seed)
        self.num_patches = check_positive_int(num_patches, "num_patches")
        try:
            mask_ratio = float(mask_ratio)
        except (TypeError, ValueError):
            raise ValueError(
                f"`mask_ratio` must be a float in (0, 1), got {mask_ratio!r}."
            ) from None
        if not 0.0 < mask_ratio < 1.0:
            raise ValueError(
                f"`mask_ratio` must be a float in (0, 1), got {mask_ratio!r}."
            )
        self.mask_ratio = mask_ratio
        # The epsilon keeps e.g. 10 * (1 - 0.9) = 0.9999999999999998 from flooring to 0.
        visible = math.floor(self.num_patches * (1.0 - mask_ratio) + 1e-9)
        if not 1 <= visible <= self.num_patches - 1:
            raise ValueError(
                f"`mask_ratio`={mask_ratio} with `num_patches`={self.num_patches} "
                f"leaves {visible} visible and {self.num_patches - visible} masked "
                "tokens; both must be at least 1, so mask_ratio must be in "
                f"({1 / self.num_patches:.4g}, {1 - 1 / self.num_patches:.4g}]."
            )
        self.num_visible_tokens = int(visible)
        self.num_masked_tokens = self.num_patches - self.num_visible_tokens

    def mask_spec(self, batch_size):
        """Returns `{key: (shape, numpy dtype)}` of the masks for `batch_size`."""
        return {
            "visible_indices": ((batch_size, self.num_visible_tokens), np.int32),
            "masked_indices": ((batch_size, self.num_masked_tokens), np.int32),
        }

    def _sample(self, batch_size, rng):
        keys = rng.random((batch_size, self.num_patches))
        # The patches with the lowest keys are visible: a uniform random partition.
        order = np.argpartition(keys, self.num_visible_tokens - 1, axis=-1)
        order = order.astype(np.int32)
        return {
            "visible_indices": np.sort(order[:, : self.num_visible_tokens], axis=-1),
            "masked_indices": np.sort(order[:, self.num_visible_tokens :], axis=-1),
        }

    def sample_tensors(self, batch_size, seed=None):
        """Draws a batch of masks with `keras.random`, as tensors of the Keras backend.

        The same rule as `generator(batch_size)` (the patches with the lowest uniform
        keys are visible; rows sorted ascending), written in keras.ops so that it can
        run inside a compiled train step on every backend; the random stream is the
        backend's, so the draws differ from the numpy ones and between backends.

        Args:
            batch_size: positive int, or a scalar integer tensor (a dynamic batch
                dimension inside a traced step).
            seed: a `keras.random.SeedGenerator` (needed inside a compiled JAX step:
                its state then advances as part of the model's state), an int, or
                None for Keras's global generator.

        Returns:
            Dict of int32 tensors `visible_indices` `[batch_size, num_visible_tokens]`
            and `masked_indices` `[batch_size, num_masked_tokens]`.
        """
        if isinstance(batch_size, (int, np.integer)):
            batch_size = check_positive_int(batch_size, "batch_size")
        keys = keras.random.uniform((batch_size, self.num_patches), seed=seed)
        order = keras.ops.cast(keras.ops.argsort(keys, axis=-1), "int32")
        visible = self.num_visible_tokens
        return {
            "visible_indices": keras.ops.sort(order[:, :visible], axis=-1),
            "masked_indices": keras.ops.sort(order[:, visible:], axis=-1),
        }

    def get_config(self):
        config = {"num_patches": self.num_patches, "mask_ratio": self.mask_ratio}
        config.update(super().get_config())
        return config
