"""What the generators of I-JEPA's masks share: the grid, the token counts, the spec.

``MultiBlockMaskGenerator`` and the paper's masking ablations (rasterized, block,
random targets) all draw masks in the I-JEPA contract (`context_indices` `[B, Kc]`,
`target_indices` and `target_weights` `[B, M, Kt]`) on a patch grid, with token counts
fixed at construction. ``JEPAMaskGenerator`` holds their `mask_spec`; `check_grid_size`
and `check_token_count` their argument checks, one wording each.
"""

from keras_jepa.checks import check_positive_int
from keras_jepa.masking.base import MaskGenerator
from keras_jepa.masking.base import jepa_mask_spec


class JEPAMaskGenerator(MaskGenerator):
    """A mask generator in the I-JEPA contract.

    Subclasses set `num_context_tokens` (Kc), `num_targets` (M) and `num_target_tokens`
    (Kt), fixed for the generator's life, and implement `_sample`.
    """

    def mask_spec(self, batch_size):
        """Returns `{key: (shape, numpy dtype)}` of the masks for `batch_size`."""
        return jepa_mask_spec(batch_size, self.num_context_tokens, self.num_targets,
                              self.num_target_tokens)


def check_grid_size(grid_size):
    """Returns `grid_size` (an int or a pair) as `(rows, cols)`: at least 2 patches."""
    message = (
        "`grid_size` must be a positive int or a pair (rows, cols) of positive ints "
        f"with at least 2 patches, got {grid_size!r}."
    )
    if isinstance(grid_size, (list, tuple)):
        if len(grid_size) != 2:
            raise ValueError(message)
        rows, cols = grid_size
    else:
        rows = cols = grid_size
    try:
        rows = check_positive_int(rows, "grid_size")
        cols = check_positive_int(cols, "grid_size")
    except ValueError:
        raise ValueError(message) from None
    if rows * cols < 2:
        raise ValueError(message)
    return (rows, cols)


def check_token_count(value, name, maximum, why):
    """Returns `value` as an int in `[1, maximum]`, or raises ValueError saying `why`.

    `why` says where the maximum comes from, e.g. "the patches that are not targets".
    """
    if check_positive_int(value, name) > maximum:
        raise ValueError(f"`{name}` must be in [1, {maximum}] ({why}), got {value}.")
    return int(value)
