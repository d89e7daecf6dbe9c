"""The probes' inputs as numpy arrays: recognising a `tf.data.Dataset`, converting tensors.

Kept out of the leaf `keras_jepa.checks` because converting a backend tensor needs
`keras.ops`; the checks of the converted features and labels are in `keras_jepa.checks`.
"""

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
