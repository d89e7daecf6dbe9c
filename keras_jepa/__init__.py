"""keras_jepa: joint-embedding predictive architectures for Keras 3.

I-JEPA and an MAE baseline that train with ``model.fit`` on the JAX, TensorFlow and
PyTorch backends, multi-block masking, evaluation tools, and ``keras_jepa.theory``, a
runnable version of the deep-linear analysis of why JEPA avoids noisy features.

``keras_jepa.data`` (tf.data pipelines) is imported on first use so that code which
never touches the pipelines does not pay for importing TensorFlow.
"""

import importlib

from keras_jepa import layers
from keras_jepa import masking
from keras_jepa import models
from keras_jepa import training

__version__ = "0.1.0"

_LAZY_SUBMODULES = ("data", "evaluation", "plotting", "theory")


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"keras_jepa.{name}")
    raise AttributeError(f"module 'keras_jepa' has no attribute {name!r}")
