"""Argument checks shared by the probes: features, labels, class counts.

Every check raises a ValueError that names the argument and the expected value.
"""

import numbers

import numpy as np
from keras import ops


def is_dataset(value):
    """True for a `tf.data.Dataset` (recognised without importing TensorFlow)."""
    return hasattr(value, "as_numpy_iterator") and hasattr(value, "element_spec")


def to_numpy(value):
    """A numpy array from a numpy array, a backend tensor or a nested list."""
    if isinstance(value, np.ndarray):
        return value
    if type(value).__module__.startswith("tensorflow"):
        # A TensorFlow tensor (e.g. from a tf.data pipeline) under any Keras backend.
        return np.asarray(value)
    if hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, np.generic):
        return np.asarray(ops.convert_to_numpy(value))
    return np.asarray(value)


def check_features(features, name):
    """Returns `features` as a non-empty float32 `[N, D]` numpy array."""
    features = to_numpy(features)
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
    """Returns `labels` as an int64 `[N]` array of classes in `[0, num_classes)`.

    Args:
        labels: the labels to check.
        name: the argument's name, for messages.
        count: the expected length (the number of feature rows), or None.
        count_name: the features argument that fixes `count`, for messages.
        num_classes: the exclusive upper bound of the labels, or None (then only
            `labels ≥ 0` is checked).
    """
    labels = to_numpy(labels)
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
    """`num_classes`, checked, or one more than the largest of the given labels."""
    if num_classes is None:
        return int(max(int(np.max(array)) for array in labels)) + 1
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or \
            num_classes < 2:
        raise ValueError(f"`num_classes` must be an int ≥ 2 or None, got {num_classes!r}.")
    return int(num_classes)


def check_positive_number(value, name):
    """Returns `value` as a float, or raises ValueError unless it is finite and > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            not np.isfinite(value) or value <= 0:
        raise ValueError(f"`{name}` must be a positive number, got {value!r}.")
    return float(value)


def check_non_negative_number(value, name):
    """Returns `value` as a float, or raises ValueError unless it is finite and ≥ 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            not np.isfinite(value) or value < 0:
        raise ValueError(f"`{name}` must be a non-negative number, got {value!r}.")
    return float(value)
