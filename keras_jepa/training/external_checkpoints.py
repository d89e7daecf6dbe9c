"""Reading checkpoints written by other libraries into name → numpy-array mappings.

PyTorch `.pth` / `.pth.tar` / `.pt` files (the I-JEPA reference's released weights) and
safetensors files (Hugging Face). torch and safetensors are imported inside the
functions that need them, so keras_jepa works without them; the conversion of the
arrays into keras_jepa models lives in `keras_jepa.models.pretrained`.
"""

import os

import numpy as np


def _import_torch(purpose):
    try:
        import torch
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"{purpose} needs PyTorch: `pip install torch` (CPU build is enough)."
        ) from error
    return torch


def load_torch_checkpoint(path, weights_only=True):
    """Loads a PyTorch checkpoint file onto the CPU, tensors left as torch tensors.

    Args:
        path: a `.pth`, `.pth.tar` or `.pt` file written by `torch.save`.
        weights_only: passed to `torch.load`. True (default) unpickles only tensors and
            plain containers, which is safe for files from the internet and enough for
            the I-JEPA reference's checkpoints; set False only for files you trust.

    Returns:
        The unpickled object (for the reference, a dict with keys `encoder`,
        `predictor`, `target_encoder` and training state).

    Example:
    checkpoint = load_torch_checkpoint("IN1K-vit.h.14-300e.pth.tar")
    encoder_state = to_numpy_state_dict(checkpoint["target_encoder"])
    """
    torch = _import_torch("Reading a .pth checkpoint")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"`path` {path!r} is not a file.")
    return torch.load(path, map_location="cpu", weights_only=weights_only)


def load_safetensors(path):
    """Loads a safetensors file into a dict of float32/integer numpy arrays.

    Args:
        path: a `.safetensors` file (e.g. a Hugging Face `model.safetensors`).

    Returns:
        `{name: numpy array}`; bfloat16 and float16 tensors are converted to float32.

    Example:
    state_dict = load_safetensors("model.safetensors")
    encoder = keras_jepa.models.vit_encoder_from_hf_ijepa(state_dict, config=config)
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"`path` {path!r} is not a file.")
    try:
        from safetensors.torch import load_file
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Reading a safetensors file needs `pip install safetensors torch`."
        ) from error
    return to_numpy_state_dict(load_file(path, device="cpu"))


def _to_numpy(name, value):
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach"):  # a torch tensor
        torch = _import_torch("Converting torch tensors")
        value = value.detach().cpu()
        if value.is_floating_point() and value.dtype != torch.float64:
            value = value.to(torch.float32)
        return value.numpy()
    if isinstance(value, (int, float, list, tuple)) or np.isscalar(value):
        return np.asarray(value)
    raise ValueError(
        f"State-dict entry {name!r} is a {type(value).__name__}, expected a tensor or "
        "an array."
    )


def to_numpy_state_dict(state_dict):
    """Converts a state dict (torch tensors or arrays) into `{name: numpy array}`.

    Args:
        state_dict: a mapping of names to torch tensors or numpy arrays, e.g.
            `torch_module.state_dict()` or one entry of a reference checkpoint.

    Returns:
        A new dict with the same keys and numpy values; floating tensors of lower
        precision (bfloat16, float16) become float32.

    Example:
    arrays = to_numpy_state_dict(hf_model.state_dict())
    """
    if not hasattr(state_dict, "items"):
        raise ValueError(
            f"`state_dict` must be a mapping of names to tensors, got "
            f"{type(state_dict).__name__}."
        )
    return {str(name): _to_numpy(name, value) for name, value in state_dict.items()}
