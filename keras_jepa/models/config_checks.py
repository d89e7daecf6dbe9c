"""Checks of constructor arguments shared by the encoder, the predictor and the decoder."""

import math


def check_positive_ints(**values):
    """Raises a ValueError naming the first argument that is not a positive integer."""
    for name, value in values.items():
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")


def resolve_grid_size(num_patches, grid_size):
    """`(rows, cols)` from an explicit `grid_size`, or from a square `num_patches`."""
    if grid_size is None:
        side = math.isqrt(num_patches or 0)
        if num_patches is None or side * side != num_patches:
            raise ValueError(
                "`num_patches` must be a perfect square (or pass `grid_size` for a "
                f"rectangular grid), got {num_patches!r}."
            )
        return (side, side)
    return tuple(int(g) for g in grid_size)
