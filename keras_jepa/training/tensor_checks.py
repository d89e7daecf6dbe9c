"""Checks of tensors that work inside and outside compiled steps.

`is_concrete(x)`: whether a tensor holds values now or is symbolic inside a trace, so
that models validate data-dependent properties (index ranges) of concrete inputs without
breaking compiled steps, where only static shapes can be checked. `check_token_indices`
applies that to the token indices every network takes.
"""

import keras
from keras import ops


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


def check_token_indices(indices, num_patches, name, rank):
    """Validates token indices: rank, integer dtype and, when concrete, their range.

    Inside a compiled step the values are symbolic and only the static checks apply;
    pipelines built with keras_jepa's mask generators produce valid indices by
    construction.
    """
    shape = tuple(indices.shape)
    if len(shape) != rank:
        raise ValueError(f"`{name}` must have rank {rank}, got shape {shape}.")
    dtype = keras.backend.standardize_dtype(indices.dtype)
    if "int" not in dtype:
        raise ValueError(f"`{name}` must be an integer tensor, got dtype {dtype}.")
    if shape[-1] is not None and shape[-1] > num_patches:
        raise ValueError(
            f"`{name}` holds {shape[-1]} tokens per row but the grid has only "
            f"{num_patches} patches."
        )
    if not is_concrete(indices):
        return
    values = ops.convert_to_numpy(indices)
    if values.size and (values.min() < 0 or values.max() >= num_patches):
        raise ValueError(
            f"`{name}` must lie in [0, {num_patches}), got values in "
            f"[{values.min()}, {values.max()}]."
        )
