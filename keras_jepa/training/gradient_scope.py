"""`no_gradient()`: a context in which no backward graph is recorded.

Only torch records a graph for a forward pass through non-trainable weights; skipping it
saves memory and time for the target encoder. JAX and TensorFlow differentiate only what
they are asked to, so the context does nothing there.
"""

import contextlib

import keras


def no_gradient():
    if keras.backend.backend() == "torch":
        import torch

        return torch.no_grad()
    return contextlib.nullcontext()
