"""Checks of constructor arguments shared by the encoder, the predictor and the decoder.

Each check raises a ValueError naming the argument, the value given and what was
expected, before any layer is built with it.
"""

import math
import numbers

import numpy as np


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) or (
        isinstance(value, numbers.Real) and not isinstance(value, bool)
        and math.isfinite(value) and int(value) == value)


def check_positive_ints(**values):
    """Raises a ValueError naming the first argument that is not a positive integer."""
    for name, value in values.items():
        if not _is_int(value) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")


def check_number(name, value, low=None, high=None, low_open=False, high_open=False):
    """Returns `value` as a float after checking it is a real number in the range.

    Args:
        name: the argument's name, for the message.
        value: the value given.
        low, high: the bounds (None: unbounded on that side).
        low_open, high_open: whether the bound itself is excluded.

    Strings, booleans, None, NaN and infinities are refused: a `momentum="0.99"` would
    otherwise fail later with a TypeError that names no argument.
    """
    left = "(" if low_open or low is None else "["
    right = ")" if high_open or high is None else "]"
    expected = f"a number in {left}{'-inf' if low is None else low}, " \
               f"{'inf' if high is None else high}{right}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            not math.isfinite(value):
        raise ValueError(f"`{name}` must be {expected}, got {value!r}.")
    value = float(value)
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"`{name}` must be {expected}, got {value!r}.")
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(f"`{name}` must be {expected}, got {value!r}.")
    return value


def check_bool(name, value):
    """Returns `value` after checking it is a bool (e.g. not the string 'False')."""
    if not isinstance(value, (bool, np.bool_)) and not (
            isinstance(value, numbers.Integral) and value in (0, 1)):
        raise ValueError(f"`{name}` must be True or False, got {value!r}.")
    return bool(value)


def check_block_args(mlp_ratio, hidden_dim, layer_norm_epsilon, init_std, qkv_bias):
    """Checks the arguments shared by the ViT encoder, the predictor and the decoder."""
    mlp_ratio = check_number("mlp_ratio", mlp_ratio, low=0, low_open=True)
    if int(round(hidden_dim * mlp_ratio)) < 1:
        raise ValueError(
            f"`mlp_ratio` ({mlp_ratio!r}) times `hidden_dim` ({hidden_dim}) must give an "
            "MLP of at least 1 unit (round(hidden_dim * mlp_ratio) ≥ 1).")
    check_number("layer_norm_epsilon", layer_norm_epsilon, low=0, low_open=True)
    check_number("init_std", init_std, low=0, low_open=True)
    check_bool("qkv_bias", qkv_bias)


def resolve_grid_size(num_patches, grid_size):
    """`(rows, cols)` from an explicit `grid_size`, or from a square `num_patches`."""
    if grid_size is None:
        if not _is_int(num_patches) or num_patches < 1:
            raise ValueError(
                f"`num_patches` must be a positive integer, got {num_patches!r}.")
        side = math.isqrt(int(num_patches))
        if side * side != num_patches:
            raise ValueError(
                "`num_patches` must be a perfect square (or pass `grid_size` for a "
                f"rectangular grid), got {num_patches!r}."
            )
        return (side, side)
    if not isinstance(grid_size, (tuple, list)) or len(grid_size) != 2:
        raise ValueError(f"`grid_size` must be a (rows, cols) pair, got {grid_size!r}.")
    check_positive_ints(grid_size=grid_size[0])
    check_positive_ints(grid_size=grid_size[1])
    return tuple(int(g) for g in grid_size)
