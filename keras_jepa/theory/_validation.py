"""Argument checks shared by the theory functions.

Every public function in ``keras_jepa.theory`` validates its inputs here, so that bad input
always gets the same kind of message: a ``ValueError`` that names the argument, the value it
got and the value it expected.
"""

import numpy as np

OBJECTIVES = ("jepa", "mae")


def check_objective(objective):
    if not isinstance(objective, str) or objective.lower() not in OBJECTIVES:
        raise ValueError(
            f"`objective` must be one of {OBJECTIVES}, got {objective!r}."
        )
    return objective.lower()


def _as_float_array(name, value):
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"`{name}` must be a number or an array of numbers, got {value!r}."
        ) from error
    if not np.all(np.isfinite(array)):
        raise ValueError(f"`{name}` must be finite, got {value!r}.")
    return array


def check_positive(name, value):
    """Returns ``value`` as a float64 array after checking that it is finite and > 0."""
    array = _as_float_array(name, value)
    if np.any(array <= 0):
        raise ValueError(f"`{name}` must be > 0, got {value!r}.")
    return array


def check_open_unit(name, value):
    """Returns ``value`` as a float64 array after checking 0 < value < 1."""
    array = _as_float_array(name, value)
    if np.any((array <= 0) | (array >= 1)):
        raise ValueError(
            f"`{name}` must lie strictly between 0 and 1, got {value!r}."
        )
    return array


def check_depth(value):
    """Returns ``depth`` as an int64 array after checking that it holds integers >= 1."""
    array = _as_float_array("depth", value)
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


def broadcast(**arrays):
    """`np.broadcast_arrays` of the named arrays, in order, or a ValueError naming them.

    numpy's own error ("Mismatch is between arg 0 and arg 2") names positions, not the
    arguments the caller passed.
    """
    try:
        return np.broadcast_arrays(*arrays.values())
    except ValueError:
        shapes = ", ".join(f"`{name}` {np.shape(value)}" for name, value in arrays.items())
        raise ValueError(
            f"{', '.join(f'`{name}`' for name in arrays)} must broadcast to one shape (each "
            f"a scalar or an array of one common length), got shapes {shapes}.") from None
