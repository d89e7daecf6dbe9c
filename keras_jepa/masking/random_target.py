"""The I-JEPA "random" masking ablation: random target patches, context the rest.

``RandomTargetMaskGenerator`` draws a uniform random subset of the patches as one
target set and takes the context from the remaining patches, with fixed shapes, for a
whole batch at once (vectorised numpy).
"""

import math

import keras
import numpy as np

from keras_jepa.masking.jepa_masks import JEPAMaskGenerator
from keras_jepa.masking.jepa_masks import check_grid_size
from keras_jepa.masking.jepa_masks import check_token_count


@keras.saving.register_keras_serializable(package="keras_jepa")
class RandomTargetMaskGenerator(JEPAMaskGenerator):
    """Draws the "random" ablation masks of I-JEPA: scattered target patches.

    Per sample, `num_target_tokens = floor(N · target_ratio)` patches, a uniform
    random subset of the `rows × cols` grid (N patches, row-major indices), form one
    target set (M = 1, every weight 1); the context is a uniform random subset of
    `num_context_tokens` of the other patches, by default all of them. This is the
    paper's "random" masking (Assran et al., 2023, Table 6: 60% random target
    patches, the context their complement), which trains a far weaker encoder than
    multi-block masking. Unlike `RandomMaskGenerator` (MAE's visible/masked split),
    the masks are in the I-JEPA contract, so `keras_jepa.models.IJEPA` trains on
    them. Each row of indices is sorted ascending.

    Args:
        grid_size: int or `(rows, cols)`, the patch grid, at least 2 patches.
        target_ratio: float in [1/N, 1), the fraction of patches that are targets
            (`floor(N · target_ratio)` of them; at least one).
        num_context_tokens: int (Kc) in `[1, N − Kt]`, or None for `N − Kt` (the
            whole complement).
        seed: int or None, seeds the stream behind `generator(batch_size)`.

    Attributes `grid_size` `(rows, cols)`, `num_patches` (N), `num_targets` (1),
    `num_context_tokens` and `num_target_tokens` are fixed for the generator's life.

    Example:

    ```python
    generator = keras_jepa.masking.RandomTargetMaskGenerator(14, seed=0)
    masks = generator(64)
    masks["context_indices"].shape  # (64, 79)
    masks["target_indices"].shape   # (64, 1, 117): 60% of 196 patches
    masks = generator.sample(64, seed=(0, 17))  # stateless: batch 17 of seed 0
    ```

    Reference:
    - [Assran et al., 2023](https://arxiv.org/abs/2301.08243): Self-Supervised
      Learning from Images with a Joint-Embedding Predictive Architecture.
    """

    num_targets = 1

    def __init__(self, grid_size, target_ratio=0.6, num_context_tokens=None, seed=None):
        super().__init__(seed=seed)
        self.grid_size = check_grid_size(grid_size)
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        message = f"`target_ratio` must be a float in (0, 1), got {target_ratio!r}."
        try:
            target_ratio = float(target_ratio)
        except (TypeError, ValueError):
            raise ValueError(message) from None
        if not 0.0 < target_ratio < 1.0:
            raise ValueError(message)
        self.target_ratio = target_ratio
        # The epsilon keeps e.g. 10 * 0.3 = 3.0000000000000004 and 0.29999... exact.
        targets = math.floor(self.num_patches * target_ratio + 1e-9)
        if targets < 1:
            raise ValueError(
                f"`target_ratio`={target_ratio} with {self.num_patches} patches gives "
                "no target patch: target_ratio must be at least "
                f"1 / {self.num_patches} = {1 / self.num_patches:.4g}."
            )
        self.num_target_tokens = int(targets)
        max_context = self.num_patches - self.num_target_tokens
        if num_context_tokens is None:
            num_context_tokens = max_context
        else:
            num_context_tokens = check_token_count(
                num_context_tokens, "num_context_tokens", max_context,
                "the patches that are not targets",
            )
        self.num_context_tokens = int(num_context_tokens)

    def _sample(self, batch_size, rng):
        # A uniform random order of the patches per sample: the first Kt are the
        # targets, the next Kc the context.
        keys = rng.random((batch_size, self.num_patches))
        order = np.argsort(keys, axis=-1).astype(np.int32)
        targets = np.sort(order[:, : self.num_target_tokens], axis=-1)
        end = self.num_target_tokens + self.num_context_tokens
        context = np.sort(order[:, self.num_target_tokens : end], axis=-1)
        return {
            "context_indices": context,
            "target_indices": targets[:, None, :],
            "target_weights": np.ones(targets[:, None, :].shape, np.float32),
        }

    def get_config(self):
        config = {
            "grid_size": self.grid_size,
            "target_ratio": self.target_ratio,
            "num_context_tokens": self.num_context_tokens,
        }
        config.update(super().get_config())
        return config
