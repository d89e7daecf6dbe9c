"""The theory's own arguments: the objective and the depth, and results as scalar or array.

The generic checks (positive numbers, the open unit interval, finite arrays, shapes that
broadcast) are in `keras_jepa.checks`; this module holds what only the theory's
functions take. Each check raises a ``ValueError`` that names the argument, the value it
got and the value it expected.
"""

import numpy as np

from keras_jepa.checks import check_finite_array

OBJECTIVES = ("jepa", "mae")


def check_objective(objective):
    """``objective`` in lower case, after checking it is 'jepa' or 'mae'."""
    if not isinstance(objective, str) or objective.lower() not in OBJECTIVES:
        raise ValueError(
            f"`objective` must be one of {OBJECTIVES}, got {objective!r}."
        )
    return objective.lower()


def check_depth(value):
    """Returns ``depth`` as an int64 array after checking that it holds integers >= 1."""
    array = check_finite_array(value, "depth")
    if np.any(array != np.round(array)) or np.any(array < 1):
        raise ValueError(f"`depth` must be an integer >= 1, got {value!r}.")
    return array.astype(np.int64)


def check_depth_int(value):
    """Returns ``depth`` as a Python int >= 1 (for models, which have one depth)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not number.is_integer() or number < 1:
        raise ValueError(f"`depth` must be an integer >= 1, got {value!r}.")
    return int(number)


def scalar_or_array(array):
    """Returns a Python float for a 0-d result, the array otherwise."""
    array = np.asarray(array)
    return float(array) if array.ndim == 0 else array
