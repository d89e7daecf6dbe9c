"""keras_jepa: joint-embedding predictive architectures for Keras 3.

I-JEPA and an MAE baseline that train with ``model.fit`` on the JAX, TensorFlow and
PyTorch backends, multi-block masking, evaluation tools, and ``keras_jepa.theory``, a
runnable version of the deep-linear analysis of why JEPA avoids noisy features.

``keras_jepa.data`` (tf.data pipelines) is imported on first use so that code which
never touches the pipelines does not pay for importing TensorFlow.
"""

import importlib
import os
import sys

__version__ = "0.1.0"


def _started_as_command_line():
    """True while `keras-jepa ...` or `python -m keras_jepa ...` is starting.

    The command line then defers importing Keras (and through it TensorFlow, JAX or
    PyTorch) until a command runs, so `keras-jepa --help` answers at once; the commands
    import what they use, which registers the models with Keras as usual.
    """
    original = getattr(sys, "orig_argv", [])
    if "-m" in original[:-1] and original[original.index("-m") + 1] == "keras_jepa":
        return True
    name = os.path.basename(sys.argv[0]) if sys.argv else ""
    return name in ("keras-jepa", "keras-jepa.exe", "keras-jepa-script.py")


_EAGER_SUBMODULES = ("layers", "masking", "models", "training")
_LAZY_SUBMODULES = ("data", "evaluation", "plotting", "theory", "configs", "experiment")

if _started_as_command_line():
    _LAZY_SUBMODULES = _EAGER_SUBMODULES + _LAZY_SUBMODULES
else:
    # Imported eagerly: `import keras_jepa` registers the models' classes with Keras, so
    # `keras.models.load_model` restores a saved IJEPA or MAE in a fresh process.
    from keras_jepa import layers  # noqa: F401
    from keras_jepa import masking  # noqa: F401
    from keras_jepa import models  # noqa: F401
    from keras_jepa import training  # noqa: F401


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"keras_jepa.{name}")
    raise AttributeError(f"module 'keras_jepa' has no attribute {name!r}")
