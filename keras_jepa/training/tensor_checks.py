"""`is_concrete(x)`: whether a tensor holds values now or is symbolic inside a trace.

Lets models validate data-dependent properties (index ranges) of concrete inputs without
breaking compiled steps, where only static shapes can be checked.
"""

import keras


def is_concrete(x):
    if keras.backend.is_keras_tensor(x):
        return False
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return not isinstance(x, jax.core.Tracer)
    if backend == "tensorflow":
        import tensorflow as tf

        return not tf.is_symbolic_tensor(x) if tf.is_tensor(x) else True
    if backend == "torch":
        import torch

        # Reading an accelerator tensor would synchronise the device every step.
        return not isinstance(x, torch.Tensor) or x.device.type == "cpu"
    return True
