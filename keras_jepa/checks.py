"""Argument checks shared by every package: one function, one wording per kind of mistake.

A leaf module (it imports numpy and the standard library, nothing of keras_jepa), so
that `layers`, `masking` and the others can use it without an arrow between them. The
checks run at the public boundary (constructors, top-level functions); a `ValueError`
names the argument, the value given and what is expected.

Checks of tensors inside a compiled train step live in `keras_jepa/training/`
(`tensor_checks.py`, `step_checks.py`): they need the backends. Converting a backend
tensor to numpy (`keras_jepa.evaluation.arrays.to_numpy`) needs `keras.ops`, so it stays
out of this leaf; the array checks below take what numpy can read.
"""

import math
import numbers

import numpy as np

SEED_OR_SEQUENCE = "a non-negative int or a sequence of them"


def _refuse(name, expected, value):
    raise ValueError(f"`{name}` must be {expected}, got {value!r}.")


def is_int(value):
    """Whether `value` is an integer (Python or numpy) and not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_whole_number(value):
    """Whether `value` is an int, or a finite real number equal to one (e.g. `3.0`)."""
    return is_int(value) or (
        isinstance(value, numbers.Real) and not isinstance(value, bool)
        and math.isfinite(value) and int(value) == value)


def is_number(value):
    """Whether `value` is a finite real number (Python or numpy) and not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and \
        math.isfinite(value)


def check_positive_int(value, name, *, whole_floats=False, optional=False):
    """`int(value)`; a ValueError naming `name` unless it is an int ≥ 1 (not a bool).

    With `whole_floats`, a whole float such as `3.0` (as a JSON config gives) is accepted
    too, and the message says "integer" rather than "int". With `optional`, None is
    accepted (and returned) too, and the message says so.

    Example:
    batch_size = keras_jepa.checks.check_positive_int(32, "batch_size")
    """
    if optional and value is None:
        return None
    accepted = is_whole_number(value) if whole_floats else is_int(value)
    if not accepted or value < 1:
        expected = "a positive integer" if whole_floats else "a positive int"
        _refuse(name, expected + (" or None" if optional else ""), value)
    return int(value)


def check_non_negative_int(value, name, *, optional=False, expected="a non-negative int"):
    """`int(value)`; a ValueError naming `name` unless it is an int ≥ 0 (not a bool).

    With `optional`, None is accepted (and returned) too, and the message says so.
    `expected` words the message otherwise ("`name` must be <expected>, got ...").

    Example:
    seed = keras_jepa.checks.check_non_negative_int(0, "seed")
    """
    if optional and value is None:
        return None
    if not is_int(value) or value < 0:
        _refuse(name, expected + (" or None" if optional else ""), value)
    return int(value)


def check_seed(seed, name="seed", *, sequence=False):
    """A seed: an int ≥ 0 (see `check_non_negative_int`).

    With `sequence`, also a non-empty sequence (or numpy array) of such ints, such as
    `(base_seed, batch_counter)`, returned as a list of Python ints; numpy integers and
    0-d arrays (as `tf.numpy_function` passes them) become Python ints.
    """
    if not sequence:
        return check_non_negative_int(seed, name)
    if isinstance(seed, np.ndarray):
        seed = seed.tolist()
    if isinstance(seed, (list, tuple)):
        if not seed:
            raise ValueError(f"`{name}` must not be an empty sequence.")
        return [check_non_negative_int(v, name, expected=SEED_OR_SEQUENCE) for v in seed]
    return check_non_negative_int(seed, name, expected=SEED_OR_SEQUENCE)


def check_bool(value, name):
    """`bool(value)`; a ValueError naming `name` unless it is True or False.

    numpy bools and the ints 0 and 1 are accepted; the string 'False' is not.
    """
    if not isinstance(value, (bool, np.bool_)) and not (
            isinstance(value, numbers.Integral) and value in (0, 1)):
        _refuse(name, "True or False", value)
    return bool(value)


def check_number(value, name, low=None, high=None, low_open=False, high_open=False, *,
                 optional=False):
    """`float(value)`; a ValueError unless it is a finite real number in the range.

    Args:
        value: the value given.
        name: the argument's name, for the message.
        low, high: the bounds (None: unbounded on that side).
        low_open, high_open: whether the bound itself is excluded.
        optional: accept (and return) None too; the message then says so.

    Strings, booleans, None, NaN and infinities are refused: a `momentum="0.99"` would
    otherwise fail later with a TypeError that names no argument.

    Example:
    momentum = keras_jepa.checks.check_number(0.996, "momentum", 0.0, 1.0)
    """
    if optional and value is None:
        return None
    left = "(" if low_open or low is None else "["
    right = ")" if high_open or high is None else "]"
    expected = f"a number in {left}{'-inf' if low is None else low}, " \
               f"{'inf' if high is None else high}{right}" + (" or None" if optional else "")
    if not is_number(value):
        _refuse(name, expected, value)
    value = float(value)
    if low is not None and (value < low or (low_open and value == low)):
        _refuse(name, expected, value)
    if high is not None and (value > high or (high_open and value == high)):
        _refuse(name, expected, value)
    return value


def check_finite_array(value, name):
    """`value` as a float64 numpy array; a ValueError unless it holds finite numbers."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"`{name}` must be a number or an array of numbers, got {value!r}."
        ) from error
    if not np.all(np.isfinite(array)):
        raise ValueError(f"`{name}` must be finite, got {value!r}.")
    return array


def check_positive_number(value, name, *, elementwise=False, expected="a positive number"):
    """`float(value)`; a ValueError naming `name` unless it is a finite number > 0.

    `expected` words the scalar message ("`name` must be <expected>, got ...").
    With `elementwise`, `value` may be a number or an array of them (each finite and
    > 0), returned as a float64 array.
    """
    if elementwise:
        array = check_finite_array(value, name)
        if np.any(array <= 0):
            raise ValueError(f"`{name}` must be > 0, got {value!r}.")
        return array
    if not is_number(value) or value <= 0:
        _refuse(name, expected, value)
    return float(value)


def check_non_negative_number(value, name):
    """`float(value)`; a ValueError naming `name` unless it is a finite number ≥ 0."""
    if not is_number(value) or value < 0:
        _refuse(name, "a finite number ≥ 0", value)
    return float(value)


def check_open_unit_interval(value, name):
    """`value` (a number or an array of them) as a float64 array, each in (0, 1)."""
    array = check_finite_array(value, name)
    if np.any((array <= 0) | (array >= 1)):
        raise ValueError(f"`{name}` must lie strictly between 0 and 1, got {value!r}.")
    return array


def check_range(value, name, low, high, low_inclusive, high_inclusive):
    """A `(min, max)` pair with `low <(=) min <= max <(=) high`, as a tuple of floats.

    Raises a ValueError naming `name` and the expected range otherwise.
    """
    interval = (
        ("[" if low_inclusive else "(")
        + f"{low}, {high}"
        + ("]" if high_inclusive else ")")
    )
    message = (
        f"`{name}` must be a pair (min, max) with min <= max, both in {interval}, "
        f"got {value!r}."
    )
    try:
        low_value, high_value = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    for v in (low_value, high_value):
        above = v >= low if low_inclusive else v > low
        below = v <= high if high_inclusive else v < high
        if not (above and below):
            raise ValueError(message)
    if low_value > high_value:
        raise ValueError(message)
    return (low_value, high_value)


def broadcast_arrays(**arrays):
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


def check_features(features, name):
    """`features` (a numpy array or what numpy reads) as a non-empty float32 `[N, D]` array.

    Convert backend tensors first (`keras_jepa.evaluation.arrays.to_numpy`).
    """
    features = np.asarray(features)
    if features.dtype.name in ("bfloat16", "float16"):
        # Features of an encoder run under mixed precision (ml_dtypes' bfloat16 is not
        # a numpy number type): probes compute in float32.
        features = features.astype("float32")
    if features.ndim != 2:
        raise ValueError(f"`{name}` must be a 2-D [N, D] array of features, got shape "
                         f"{features.shape}.")
    if features.shape[0] == 0 or features.shape[1] == 0:
        raise ValueError(f"`{name}` must be non-empty (N ≥ 1, D ≥ 1), got shape "
                         f"{features.shape}.")
    if not np.issubdtype(features.dtype, np.number) or np.issubdtype(features.dtype,
                                                                     np.complexfloating):
        raise ValueError(f"`{name}` must be real numbers, got dtype {features.dtype}.")
    features = features.astype("float32", copy=False)
    if not np.all(np.isfinite(features)):
        raise ValueError(f"`{name}` must be finite; it holds NaN or infinite values.")
    return features


def check_labels(labels, name, count=None, count_name=None, num_classes=None):
    """`labels` as an int64 `[N]` numpy array of classes in `[0, num_classes)`.

    Args:
        labels: the labels to check (a numpy array or what numpy reads; convert backend
            tensors first).
        name: the argument's name, for messages.
        count: the expected length (the number of feature rows), or None.
        count_name: the features argument that fixes `count`, for messages.
        num_classes: the exclusive upper bound of the labels, or None (then only
            `labels ≥ 0` is checked).
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"`{name}` must be a 1-D array of class indices, got shape "
                         f"{labels.shape}.")
    if len(labels) == 0:
        raise ValueError(f"`{name}` must be non-empty.")
    if count is not None and len(labels) != count:
        raise ValueError(f"`{name}` has {len(labels)} labels but `{count_name}` has {count} "
                         "rows; they must match.")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"`{name}` must be integer class indices, got dtype {labels.dtype}.")
    labels = labels.astype("int64", copy=False)
    if labels.min() < 0:
        raise ValueError(f"`{name}` must be ≥ 0, got {labels.min()}.")
    if num_classes is not None and labels.max() >= num_classes:
        raise ValueError(f"`{name}` must be < num_classes ({num_classes}), got "
                         f"{labels.max()}.")
    return labels


def check_num_classes(num_classes, *labels):
    """`num_classes`, checked (an int ≥ 2), or one more than the largest given label."""
    if num_classes is None:
        return int(max(int(np.max(array)) for array in labels)) + 1
    if not is_int(num_classes) or num_classes < 2:
        _refuse("num_classes", "an int ≥ 2 or None", num_classes)
    return int(num_classes)
