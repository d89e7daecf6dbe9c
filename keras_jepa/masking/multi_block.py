"""I-JEPA's multi-block masks: M target blocks and one context block, fixed sizes.

``MultiBlockMaskGenerator`` draws, for a whole batch at once (vectorised numpy, no
per-sample loop and no rejection loop), the context and target token indices that
``keras_jepa.models.IJEPA`` consumes, with shapes that never change over a run.
"""

import math

import keras
import numpy as np

from keras_jepa.checks import check_positive_int
from keras_jepa.checks import check_range
from keras_jepa.masking.base import rng_from_seed
from keras_jepa.masking.jepa_masks import JEPAMaskGenerator
from keras_jepa.masking.jepa_masks import check_grid_size
from keras_jepa.masking.jepa_masks import check_token_count

# The default context size is this quantile of the available-region size (context
# block minus the target blocks), estimated once at construction from a fixed-seed
# Monte Carlo draw, so that the same settings always give the same size.
_CONTEXT_QUANTILE = 0.02
_CALIBRATION_SAMPLES = 4096
_CALIBRATION_SEED = 20240611

# Priority tiers of the context draw, lowest used up first (target tokens, tier 3,
# never: construction checks Kc <= N - M*Kt).
_AVAILABLE, _OUTSIDE_CONTEXT_BLOCK, _INSIDE_TARGET_BLOCK = 0, 1, 2


@keras.saving.register_keras_serializable(package="keras_jepa")
class MultiBlockMaskGenerator(JEPAMaskGenerator):
    """Draws I-JEPA multi-block context/target masks with static shapes.

    Per sample, `num_targets` (M) target blocks and one context block are drawn on a
    `rows × cols` patch grid (N patches, row-major indices). A block's scale `s` and
    aspect ratio `a` are drawn independently and uniformly from their ranges; its
    size is `h = round(sqrt(s·N·a))`, `w = round(sqrt(s·N/a))`, clipped to the grid;
    its top-left corner is uniform over every position where it fits. Each target
    block yields `num_target_tokens` (Kt) indices: a uniform random subset of its
    patches when it is larger, all of them plus padding (weight 0, repeating the
    block's first patch, at the end) when smaller. The context is a uniform random
    subset of `num_context_tokens` (Kc) patches of the context block minus the
    target blocks. Each row of indices is sorted ascending.

    Differences from the reference sampler (facebookresearch/ijepa), and why:

    - Corners are drawn with an inclusive upper bound, so every patch, including the
      last row and column, can be in a target and in the context, and a block can
      span the whole grid (the reference never covers the last row and column).
    - Scale and aspect ratio are independent draws (the reference uses one random
      number for both, so its big blocks are always tall), and block sizes are
      drawn per sample and block rather than once per batch.
    - Fixed sizes instead of batch-minimum truncation. The reference cuts every
      mask to the batch's shortest, keeping the first indices in raster order: the
      kept context is biased to the top of its region and its length changes every
      batch (a new XLA compilation each time). Here a block larger than Kt gives a
      uniform subset and the context a uniform subset of its region.
      `Kt = max(1, floor(target_scale[0]·N))` by default, about the reference's
      cut to the smallest block; padding keeps blocks that rounding made smaller
      whole. Kc defaults to the 2nd percentile of the available-region size
      (estimated from a fixed-seed draw at construction), capped at `N − M·Kt`.
      The reference keeps the minimum over a batch of 64, about that percentile,
      so the encoder does the reference's amount of work (the context encoder
      and predictor dominate a step's cost), and ~98% of samples fill their
      context from the available region alone. With the defaults Kc/Kt are 16/9
      (8×8), 57/29 (14×14), 77/38 (16×16); the reference keeps 13.5/10,
      53/33 and 74/43 on average at batch 64 (benchmarks/mask_generator_speed.py).
    - No rejection loop. When a sample's available region has fewer than Kc
      patches (~2% of samples with the defaults), the
      rest is a uniform draw of the patches outside the context block and outside
      every target block. Only if the target blocks leave fewer than Kc patches of
      the grid uncovered (<1% of samples; e.g. four 4×4 blocks can tile an 8×8
      grid) does the draw take target-block patches that were not drawn as target
      tokens. The context therefore never holds a target token, for any sample,
      since construction checks `Kc <= N − M·Kt`; excluding whole target blocks
      in every sample would need `Kc <= N − (largest union of M blocks)`, which is
      0 on the 8×8 grid with the defaults.
    - Impossible settings raise `ValueError` at construction.

    Uniform placement puts the centre patches in a target block far more often
    than border ones (~75-80% of samples with the defaults), so the centre is in
    the context in only ~8-12% of samples; within the available region, every
    patch is equally likely to be chosen.

    Args:
        grid_size: int or `(rows, cols)`, the patch grid (image size / patch size).
        num_targets: int, target blocks per sample (M).
        target_scale: `(min, max)` in (0, 1], a target block's area as a fraction
            of the grid.
        target_aspect_ratio: `(min, max)` > 0, a target block's height / width.
        context_scale: `(min, max)` in (0, 1], the context block's area fraction.
        context_aspect_ratio: `(min, max)` > 0, the context block's height / width.
        num_context_tokens: int in `[1, N − M·Kt]` (Kc), or None for the default
            above.
        num_target_tokens: int (Kt) from 1 to the largest block area the settings
            allow, or None for `max(1, floor(target_scale[0]·N))`.
        seed: int or None, seeds the stream behind `generator(batch_size)`.

    Attributes `grid_size` `(rows, cols)`, `num_patches` (N), `num_targets`,
    `num_context_tokens` and `num_target_tokens` are fixed for the generator's life.

    Example:

    ```python
    generator = keras_jepa.masking.MultiBlockMaskGenerator(grid_size=14, seed=0)
    masks = generator(64)
    masks["context_indices"].shape  # (64, generator.num_context_tokens)
    masks["target_indices"].shape   # (64, 4, generator.num_target_tokens)
    masks["target_weights"].shape   # (64, 4, generator.num_target_tokens)
    masks = generator.sample(64, seed=(0, 17))  # stateless: batch 17 of seed 0
    ```

    Reference:
    - [Assran et al., 2023](https://arxiv.org/abs/2301.08243): Self-Supervised
      Learning from Images with a Joint-Embedding Predictive Architecture.
    """

    def __init__(
        self,
        grid_size,
        num_targets=4,
        target_scale=(0.15, 0.2),
        target_aspect_ratio=(0.75, 1.5),
        context_scale=(0.85, 1.0),
        context_aspect_ratio=(1.0, 1.0),
        num_context_tokens=None,
        num_target_tokens=None,
        seed=None,
    ):
        super().__init__(seed=seed)
        self.grid_size = check_grid_size(grid_size)
        rows, cols = self.grid_size
        self.num_patches = rows * cols
        self.num_targets = check_positive_int(num_targets, "num_targets")
        self.target_scale = check_range(target_scale, "target_scale", 0, 1, False, True)
        self.target_aspect_ratio = check_range(
            target_aspect_ratio, "target_aspect_ratio", 0, math.inf, False, False
        )
        self.context_scale = check_range(
            context_scale, "context_scale", 0, 1, False, True
        )
        self.context_aspect_ratio = check_range(
            context_aspect_ratio, "context_aspect_ratio", 0, math.inf, False, False
        )

        # Per-block sampling ranges: M target blocks, then the context block.
        self._block_ranges = tuple(
            np.array([target[i]] * self.num_targets + [context[i]])
            for target, context in (
                (self.target_scale, self.context_scale),
                (self.target_aspect_ratio, self.context_aspect_ratio),
            )
            for i in (0, 1)
        )
        self._max_target_area = self._largest_target_area()
        # _block_offsets[w, p]: grid offset from a block's top-left corner of the
        # p-th patch (raster order) of a block of width w.
        position = np.arange(self._max_target_area)
        block_width = np.maximum(np.arange(cols + 1), 1)[:, None]
        self._block_offsets = position // block_width * cols + position % block_width
        if num_target_tokens is None:
            num_target_tokens = min(
                self._max_target_area,
                max(1, math.floor(self.target_scale[0] * self.num_patches)),
            )
        else:
            num_target_tokens = check_token_count(
                num_target_tokens, "num_target_tokens", self._max_target_area,
                "no target block of these settings has more patches",
            )
        self.num_target_tokens = int(num_target_tokens)

        max_context = self.num_patches - self.num_targets * self.num_target_tokens
        if max_context < 1:
            raise ValueError(
                f"The {self.num_targets} target blocks (`num_targets`) of "
                f"{self.num_target_tokens} tokens each (`num_target_tokens`, from "
                f"`target_scale`={self.target_scale}) can cover the whole "
                f"{rows}x{cols} grid, leaving no context: need num_targets * "
                f"num_target_tokens <= {self.num_patches - 1}."
            )
        if num_context_tokens is None:
            num_context_tokens = min(max_context, self._calibrate_context_size())
        else:
            num_context_tokens = check_token_count(
                num_context_tokens, "num_context_tokens", max_context,
                "N - num_targets * num_target_tokens, so the context never holds a "
                "target token",
            )
        self.num_context_tokens = int(num_context_tokens)

    def sample_with_boxes(self, batch_size, seed):
        """Like `sample`, also returning the blocks the masks were cut from.

        Returns:
            `(masks, boxes)`: `masks` as from `sample`; `boxes` a dict with
            `target_boxes` int32 `[B, M, 4]` and `context_boxes` int32 `[B, 4]`,
            each box `(top, left, height, width)` in patches. Useful for plots and
            for checking the sampler.
        """
        batch_size = check_positive_int(batch_size, "batch_size")
        masks, boxes = self._sample_with_boxes(batch_size, rng_from_seed(seed))
        boxes = np.stack(boxes, axis=-1).astype(np.int32)
        return masks, {
            "target_boxes": boxes[:, : self.num_targets],
            "context_boxes": boxes[:, self.num_targets],
        }

    def _sample(self, batch_size, rng):
        return self._sample_with_boxes(batch_size, rng)[0]

    def _sample_with_boxes(self, batch_size, rng):
        num_targets = self.num_targets
        boxes = self._draw_boxes(rng, batch_size)
        top, left, height, width = (b[:, :num_targets] for b in boxes)

        # Target tokens: rank the positions of each block by a random key and keep
        # the Kt lowest; positions beyond the block's area get a key above every
        # real one, so they are kept only when the block is smaller than Kt.
        area = (height * width)[..., None]
        keys = rng.random((batch_size, num_targets, self._max_target_area))
        positions = np.arange(self._max_target_area)
        keys = np.where(positions < area, keys, 2.0)
        if self.num_target_tokens < self._max_target_area:
            keys = np.argpartition(keys, self.num_target_tokens - 1, axis=-1)
            chosen = keys[..., : self.num_target_tokens]
        else:
            chosen = np.broadcast_to(positions, keys.shape)
        # Sorting the in-block raster positions sorts the grid indices too; padding
        # (positions past the area) sorts last and is then pointed at position 0.
        chosen = np.sort(chosen, axis=-1)
        real = chosen < area
        chosen = np.where(real, chosen, 0)
        corner = (top * self.grid_size[1] + left)[..., None]
        target_indices = corner + self._block_offsets[width[..., None], chosen]

        # Context: a uniform subset of the lowest tiers; tier offsets make the key
        # order use up the available region first, then the fallbacks.
        is_target_token = np.zeros((batch_size, self.num_patches), dtype=bool)
        rows_of_batch = np.arange(batch_size)[:, None]
        is_target_token[rows_of_batch, target_indices.reshape(batch_size, -1)] = True
        inside = self._box_membership(*boxes)
        in_target_block = inside[:, :num_targets].any(axis=1)
        # Target tokens lie inside target blocks, so this gives the four tiers.
        tier = np.where(
            in_target_block,
            _INSIDE_TARGET_BLOCK + is_target_token,
            np.where(inside[:, num_targets], _AVAILABLE, _OUTSIDE_CONTEXT_BLOCK),
        )
        keys = rng.random((batch_size, self.num_patches)) + tier
        if self.num_context_tokens < self.num_patches:
            keys = np.argpartition(keys, self.num_context_tokens - 1, axis=-1)
        context_indices = np.sort(keys[:, : self.num_context_tokens], axis=-1)

        masks = {
            "context_indices": context_indices.astype(np.int32),
            "target_indices": target_indices.astype(np.int32),
            "target_weights": real.astype(np.float32),
        }
        return masks, boxes

    def _draw_boxes(self, rng, batch_size):
        """Draws `(top, left, height, width)`, each `[B, M + 1]`.

        Columns `0 .. M-1` are the target blocks, column M the context block.
        """
        rows, cols = self.grid_size
        uniform = rng.random((4, batch_size, self.num_targets + 1))
        scale_low, scale_high, aspect_low, aspect_high = self._block_ranges
        scale = scale_low + uniform[0] * (scale_high - scale_low)
        aspect = aspect_low + uniform[1] * (aspect_high - aspect_low)
        height, width = self._block_size(scale, aspect)
        # floor(u * (rows - h + 1)) with u in [0, 1) is uniform over 0 .. rows - h:
        # the last corner that fits is included.
        top = (uniform[2] * (rows - height + 1)).astype(np.int64)
        left = (uniform[3] * (cols - width + 1)).astype(np.int64)
        return top, left, height, width

    def _block_size(self, scale, aspect):
        rows, cols = self.grid_size
        area = np.multiply(scale, self.num_patches)
        # Round half up (not numpy's half-to-even) so the rule reads like its text.
        height = np.clip(np.floor(np.sqrt(area * aspect) + 0.5), 1, rows)
        width = np.clip(np.floor(np.sqrt(area / aspect) + 0.5), 1, cols)
        return height.astype(np.int64), width.astype(np.int64)

    def _box_membership(self, top, left, height, width):
        """Boolean `[..., N]`: which patches each box covers."""
        rows, cols = self.grid_size
        row = np.arange(rows)
        col = np.arange(cols)
        in_rows = (row >= top[..., None]) & (row < (top + height)[..., None])
        in_cols = (col >= left[..., None]) & (col < (left + width)[..., None])
        inside = in_rows[..., :, None] & in_cols[..., None, :]
        return inside.reshape(top.shape + (self.num_patches,))

    def _largest_target_area(self):
        """The exact largest area `_block_size` gives for the target ranges.

        Height and width never shrink as the scale grows, so the maximum is at the
        largest scale; there, the size is piecewise constant in the aspect ratio,
        changing where sqrt(s·N·a) or sqrt(s·N/a) crosses k + 1/2. Evaluating at
        those breakpoints, the range ends and the midpoints between them visits
        every piece.
        """
        scale = self.target_scale[1]
        low, high = self.target_aspect_ratio
        area = scale * self.num_patches
        halves = np.arange(max(self.grid_size) + 1) + 0.5
        breakpoints = np.concatenate([halves**2 / area, area / halves**2])
        inside = breakpoints[(breakpoints > low) & (breakpoints < high)]
        aspects = np.unique(np.concatenate([[low, high], inside]))
        aspects = np.concatenate([aspects, (aspects[1:] + aspects[:-1]) / 2])
        height, width = self._block_size(scale, aspects)
        return int((height * width).max())

    def _calibrate_context_size(self):
        boxes = self._draw_boxes(
            np.random.default_rng(_CALIBRATION_SEED), _CALIBRATION_SAMPLES
        )
        inside = self._box_membership(*boxes)
        in_target_block = inside[:, : self.num_targets].any(axis=1)
        available = (inside[:, self.num_targets] & ~in_target_block).sum(axis=1)
        quantile = np.quantile(available, _CONTEXT_QUANTILE, method="lower")
        return max(1, int(quantile))

    def get_config(self):
        # The resolved token counts are stored (not None) so that a saved config
        # reproduces the same static shapes even if the defaults change.
        config = {
            "grid_size": self.grid_size,
            "num_targets": self.num_targets,
            "target_scale": self.target_scale,
            "target_aspect_ratio": self.target_aspect_ratio,
            "context_scale": self.context_scale,
            "context_aspect_ratio": self.context_aspect_ratio,
            "num_context_tokens": self.num_context_tokens,
            "num_target_tokens": self.num_target_tokens,
        }
        config.update(super().get_config())
        return config

