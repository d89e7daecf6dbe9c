"""Checks of tensors that work inside and outside compiled steps.

`is_concrete(x)`: whether a tensor holds values now or is symbolic inside a trace, so
that models validate data-dependent properties (index ranges) of concrete inputs without
breaking compiled steps, where only static shapes can be checked. `check_token_indices`
applies that to the token indices every network takes; a model that has checked its
masks runs its sub-networks inside `trusted_token_indices()` so that they are checked
once per step, not once per network.
"""

import contextlib
import threading

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


_trust = threading.local()


@contextlib.contextmanager
def trusted_token_indices():
    """Inside, the sub-networks trust the token indices they are given.

    A model checks its batch's masks once at its public boundary (`IJEPA.call`,
    `compute_ssl_loss`, `MAE.predict_patches`) and runs its encoder, predictor and
    decoder inside this context; called directly by a user, those sub-networks check
    their indices themselves (see `token_indices_trusted`). The flag is per thread, so
    the replicas of a `tf.distribute` strategy do not see each other's.
    """
    depth = getattr(_trust, "depth", 0)
    _trust.depth = depth + 1
    try:
        yield
    finally:
        _trust.depth = depth


def token_indices_trusted():
    """Whether a caller (a model, see `trusted_token_indices`) has checked the indices."""
    return getattr(_trust, "depth", 0) > 0


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
