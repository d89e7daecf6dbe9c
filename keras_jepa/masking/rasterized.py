"""The I-JEPA "rasterized" masking ablation: predict three quadrants from the fourth.

``RasterizedMaskGenerator`` splits the patch grid into four quadrants; one of them,
drawn per sample, is the context and the other three are three target blocks. Masks
have fixed shapes and are drawn for a whole batch at once (vectorised numpy).
"""

import keras
import numpy as np

from keras_jepa.checks import check_positive_int
from keras_jepa.masking.base import rng_from_seed
from keras_jepa.masking.jepa_masks import JEPAMaskGenerator
from keras_jepa.masking.jepa_masks import check_grid_size
from keras_jepa.masking.jepa_masks import check_token_count

# _OTHER_QUADRANTS[q]: the target quadrants, in quadrant order, when q is the context.
# Quadrants are numbered 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right.
_OTHER_QUADRANTS = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])


@keras.saving.register_keras_serializable(package="keras_jepa")
class RasterizedMaskGenerator(JEPAMaskGenerator):
    """Draws the "rasterized" ablation masks of I-JEPA: one quadrant predicts the others.

    The `rows × cols` patch grid (N patches, row-major indices) is cut into four
    quadrants by a horizontal line after row `h` and a vertical line after column
    `w`. Per sample, one quadrant, uniform over the four, is the context; the other
    three are the M = 3 target blocks, in quadrant order (top-left, top-right,
    bottom-left, bottom-right, skipping the context). This is the paper's
    "rasterized" masking (Assran et al., 2023, Table 6: context one quadrant,
    targets the three others), which trains a far weaker encoder than multi-block
    masking.

    Even sides are halved: `h = rows / 2`, `w = cols / 2`, all quadrants have
    `(rows/2)·(cols/2)` patches, and by default the context is exactly its quadrant
    and each target exactly one other quadrant. An odd side has no middle line, so
    each sample draws its split uniformly from the two nearest ones,
    `h ∈ {floor(rows/2), ceil(rows/2)}` (likewise `w`); the middle row or column
    then belongs to either half with probability 1/2, and no patch is favoured.
    Quadrants then differ in size, and the fixed shapes are: context
    `Kc = floor(rows/2)·floor(cols/2)` (the smallest quadrant; a larger context
    quadrant gives a uniform random subset of Kc of its patches) and targets
    `Kt = ceil(rows/2)·ceil(cols/2)` (the largest; a smaller target quadrant gives
    all its patches, then padding with weight 0 that repeats its first patch).
    Each row of indices is sorted ascending (real tokens first in each target).

    Args:
        grid_size: int or `(rows, cols)`, the patch grid; both sides >= 2.
        num_context_tokens: int (Kc) in `[1, floor(rows/2)·floor(cols/2)]`, or None
            for that maximum. Fewer gives a uniform subset of the context quadrant.
        num_target_tokens: int (Kt) in `[1, ceil(rows/2)·ceil(cols/2)]`, or None for
            that maximum. Fewer gives a uniform subset of each target quadrant
            (padded when the quadrant is smaller still).
        seed: int or None, seeds the stream behind `generator(batch_size)`.

    Attributes `grid_size` `(rows, cols)`, `num_patches` (N), `num_targets` (3),
    `num_context_tokens` and `num_target_tokens` are fixed for the generator's life.

    Example:

    ```python
    generator = keras_jepa.masking.RasterizedMaskGenerator(grid_size=14, seed=0)
    masks = generator(64)
    masks["context_indices"].shape  # (64, 49): one quadrant
    masks["target_indices"].shape   # (64, 3, 49): the three others
    masks = generator.sample(64, seed=(0, 17))  # stateless: batch 17 of seed 0
    ```

    Reference:
    - [Assran et al., 2023](https://arxiv.org/abs/2301.08243): Self-Supervised
      Learning from Images with a Joint-Embedding Predictive Architecture.
    """

    num_targets = 3

    def __init__(
        self, grid_size, num_context_tokens=None, num_target_tokens=None, seed=None
    ):
        super().__init__(seed=seed)
        message = (
            "`grid_size` must be a positive int or a pair (rows, cols) of positive "
            f"ints, both at least 2 so that every quadrant has a patch, got {grid_size!r}."
        )
        try:
            self.grid_size = check_grid_size(grid_size)
        except ValueError:
            raise ValueError(message) from None
        rows, cols = self.grid_size
        if rows < 2 or cols < 2:
            raise ValueError(message)
        self.num_patches = rows * cols
        smallest = (rows // 2) * (cols // 2)
        largest = ((rows + 1) // 2) * ((cols + 1) // 2)
        self.num_context_tokens = _check_count(
            num_context_tokens, "num_context_tokens", smallest,
            "the smallest quadrant", self.grid_size,
        )
        self.num_target_tokens = _check_count(
            num_target_tokens, "num_target_tokens", largest,
            "the largest quadrant", self.grid_size,
        )
        self._row_of = np.arange(self.num_patches) // cols
        self._col_of = np.arange(self.num_patches) % cols

    def sample_with_quadrants(self, batch_size, seed):
        """Like `sample`, also returning each patch's quadrant and the context's.

        Returns:
            `(masks, quadrants)`: `masks` as from `sample`; `quadrants` a dict with
            `patch_quadrants` int32 `[B, N]` (0 top-left, 1 top-right,
            2 bottom-left, 3 bottom-right), `context_quadrant` int32 `[B]` and
            `target_quadrants` int32 `[B, 3]`. Useful for plots and for checking
            the sampler.
        """
        batch_size = check_positive_int(batch_size, "batch_size")
        return self._sample_with_quadrants(batch_size, rng_from_seed(seed))

    def _sample(self, batch_size, rng):
        return self._sample_with_quadrants(batch_size, rng)[0]

    def _sample_with_quadrants(self, batch_size, rng):
        rows, cols = self.grid_size
        num_patches = self.num_patches
        # Split lines: rows // 2 or (rows + 1) // 2 with probability 1/2 each (the
        # same line twice for an even side).
        split = rng.integers(0, 2, size=(2, batch_size))
        split_row = (rows // 2 + split[0] * (rows % 2))[:, None]
        split_col = (cols // 2 + split[1] * (cols % 2))[:, None]
        quadrant = 2 * (self._row_of >= split_row) + (self._col_of >= split_col)
        context_quadrant = rng.integers(0, 4, size=batch_size)
        target_quadrants = _OTHER_QUADRANTS[context_quadrant]

        # Context: the Kc patches of its quadrant with the lowest random keys; every
        # patch outside the quadrant gets a key above every patch inside.
        keys = rng.random((batch_size, num_patches))
        keys += 2.0 * (quadrant != context_quadrant[:, None])
        context = _lowest(keys, self.num_context_tokens)
        context_indices = np.sort(context, axis=-1)

        # Targets: the same per quadrant; slots beyond a quadrant's size become
        # padding, which sorts after the real tokens and then repeats the first.
        member = quadrant[:, None, :] == target_quadrants[:, :, None]
        keys = rng.random((batch_size, self.num_targets, num_patches)) + 2.0 * ~member
        chosen = _lowest(keys, self.num_target_tokens)
        real = np.take_along_axis(member, chosen, axis=-1)
        chosen = np.sort(np.where(real, chosen, chosen + num_patches), axis=-1)
        real = chosen < num_patches
        target_indices = np.where(real, chosen, chosen[..., :1])

        masks = {
            "context_indices": context_indices.astype(np.int32),
            "target_indices": target_indices.astype(np.int32),
            "target_weights": real.astype(np.float32),
        }
        quadrants = {
            "patch_quadrants": quadrant.astype(np.int32),
            "context_quadrant": context_quadrant.astype(np.int32),
            "target_quadrants": target_quadrants.astype(np.int32),
        }
        return masks, quadrants

    def get_config(self):
        config = {
            "grid_size": self.grid_size,
            "num_context_tokens": self.num_context_tokens,
            "num_target_tokens": self.num_target_tokens,
        }
        config.update(super().get_config())
        return config


def _lowest(keys, count):
    """Indices of the `count` lowest keys along the last axis (in no order)."""
    if count < keys.shape[-1]:
        return np.argpartition(keys, count - 1, axis=-1)[..., :count]
    return np.broadcast_to(np.arange(keys.shape[-1]), keys.shape).copy()


def _check_count(value, name, maximum, what, grid_size):
    if value is None:
        return maximum
    return check_token_count(value, name, maximum,
                             f"{what} of the {grid_size[0]}x{grid_size[1]} grid")
