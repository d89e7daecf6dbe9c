"""The I-JEPA "block" masking ablation: one large target block, context its complement.

``BlockMaskGenerator`` is multi-block masking reduced to a single big target block
whose context is everything outside it; it reuses ``MultiBlockMaskGenerator``'s block
sampler, so its blocks are drawn by the same rules, with fixed shapes and vectorised.
"""

import keras

from keras_jepa.masking.base import MaskGenerator
from keras_jepa.masking.jepa_masks import check_grid_size
from keras_jepa.masking.jepa_masks import check_token_count
from keras_jepa.masking.multi_block import MultiBlockMaskGenerator


@keras.saving.register_keras_serializable(package="keras_jepa")
class BlockMaskGenerator(MultiBlockMaskGenerator):
    """Draws the "block" ablation masks of I-JEPA: one big target block, context outside.

    Per sample, one target block (M = 1) is drawn on the `rows × cols` patch grid
    exactly as a `MultiBlockMaskGenerator` target block: scale `s` and aspect ratio
    `a` uniform in their ranges, size `h = round(sqrt(s·N·a))`,
    `w = round(sqrt(s·N/a))` clipped to the grid, top-left corner uniform over every
    position where it fits. The context is a uniform random subset of the patches
    outside the block. This is the paper's "block" masking (Assran et al., 2023,
    Table 6: a single random target block of 60% of the image, the context its
    complement), which trains a far weaker encoder than multi-block masking.

    Fixed shapes: by default `Kt` is the largest block area the settings allow, so
    every block is predicted whole (a block smaller through rounding is padded with
    weight-0 slots repeating its first patch), and `Kc = N − Kt`, the smallest
    complement, so a sample whose block has the largest area gets its whole
    complement as context and the others a uniform subset of theirs. The context
    never holds a patch of the target block, whatever `num_target_tokens` is.

    Every patch can be in the target block, but a block this large always covers
    the centre of the grid (with sides about `sqrt(0.6) ≈ 0.77` of the grid's, any
    placement covers the middle ~half of each side), so central patches are never
    in the context with the paper's scale; with `target_scale[0]` below about 0.25
    every patch can be in the context too. That is the ablation's geometry, not a
    sampler bias.

    Args:
        grid_size: int or `(rows, cols)`, the patch grid (image size / patch size).
        target_scale: `(min, max)` in (0, 1], the block's area as a fraction of the
            grid (the paper: 0.6).
        target_aspect_ratio: `(min, max)` > 0, the block's height / width.
        num_context_tokens: int (Kc) in `[1, N − largest block area]`, or None for
            that maximum.
        num_target_tokens: int (Kt) in `[1, largest block area]`, or None for that
            maximum; fewer gives a uniform subset of the block.
        seed: int or None, seeds the stream behind `generator(batch_size)`.

    Attributes `grid_size` `(rows, cols)`, `num_patches` (N), `num_targets` (1),
    `num_context_tokens` and `num_target_tokens` are fixed for the generator's life;
    `sample_with_boxes` also returns the block (and the context box, the whole grid).

    Example:

    ```python
    generator = keras_jepa.masking.BlockMaskGenerator(grid_size=14, seed=0)
    masks = generator(64)
    masks["context_indices"].shape  # (64, 75): outside the block
    masks["target_indices"].shape   # (64, 1, 121): the whole block, padded
    masks = generator.sample(64, seed=(0, 17))  # stateless: batch 17 of seed 0
    ```

    Reference:
    - [Assran et al., 2023](https://arxiv.org/abs/2301.08243): Self-Supervised
      Learning from Images with a Joint-Embedding Predictive Architecture.
    """

    def __init__(
        self,
        grid_size,
        target_scale=(0.6, 0.6),
        target_aspect_ratio=(0.75, 1.5),
        num_context_tokens=None,
        num_target_tokens=None,
        seed=None,
    ):
        rows, cols = check_grid_size(grid_size)
        # A context "block" of the grid's own shape at scale 1 is the whole grid, so
        # the parent's context draw is uniform over the complement of the target.
        # The token counts passed here only satisfy the parent's checks; this
        # class's own rule sets them below.
        super().__init__(
            (rows, cols),
            num_targets=1,
            target_scale=target_scale,
            target_aspect_ratio=target_aspect_ratio,
            context_scale=(1.0, 1.0),
            context_aspect_ratio=(rows / cols, rows / cols),
            num_context_tokens=1,
            num_target_tokens=1,
            seed=seed,
        )
        largest = self._max_target_area
        if num_target_tokens is None:
            num_target_tokens = largest
        else:
            num_target_tokens = check_token_count(
                num_target_tokens, "num_target_tokens", largest,
                "no target block of these settings has more patches",
            )
        max_context = self.num_patches - largest
        if max_context < 1:
            raise ValueError(
                f"A target block of `target_scale`={self.target_scale} and "
                f"`target_aspect_ratio`={self.target_aspect_ratio} can cover the whole "
                f"{rows}x{cols} grid, leaving no context: lower target_scale[1]."
            )
        if num_context_tokens is None:
            num_context_tokens = max_context
        else:
            num_context_tokens = check_token_count(
                num_context_tokens, "num_context_tokens", max_context,
                f"N minus the largest target block, {largest} patches, so the context "
                "never holds a patch of the block",
            )
        self.num_target_tokens = int(num_target_tokens)
        self.num_context_tokens = int(num_context_tokens)

    def get_config(self):
        config = {
            "grid_size": self.grid_size,
            "target_scale": self.target_scale,
            "target_aspect_ratio": self.target_aspect_ratio,
            "num_context_tokens": self.num_context_tokens,
            "num_target_tokens": self.num_target_tokens,
        }
        config.update(MaskGenerator.get_config(self))
        return config
