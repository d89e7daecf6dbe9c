"""Keeps TensorFlow off the GPUs and TPUs when another backend trains the model.

tf.data runs the input pipeline on every Keras backend, but TensorFlow, once its
runtime starts, reserves most of every visible GPU's memory. Under JAX or PyTorch
that memory belongs to the model, so the pipeline builders call
``hide_accelerators_from_tensorflow`` before they create any tf.data op (never at
import time: importing ``keras_jepa.data`` changes nothing).
"""

import warnings

_ACCELERATOR_KINDS = ("GPU", "TPU")


def hide_accelerators_from_tensorflow(force=False):
    """Makes GPUs and TPUs invisible to TensorFlow unless Keras's backend is TF.

    With the TensorFlow backend this does nothing (unless `force=True`): TF then
    trains the model and needs its devices. tf.data itself always runs on the CPU.

    TensorFlow only accepts this before its runtime starts. If it has started
    already and still sees an accelerator, a warning says so (the memory may be
    taken; set `CUDA_VISIBLE_DEVICES` for TensorFlow's process or call this
    earlier); on a machine without accelerators nothing is ever hidden or warned.

    Args:
        force: bool, hide the accelerators whatever the Keras backend.

    Returns:
        A list of the device kinds (`"GPU"`, `"TPU"`) that TensorFlow can still
        see afterwards: empty when the accelerators are hidden or absent.

    Example:

    ```python
    import os
    os.environ["KERAS_BACKEND"] = "jax"
    import keras_jepa
    still_visible = keras_jepa.data.hide_accelerators_from_tensorflow()
    ```
    """
    import keras

    if not force and keras.backend.backend() == "tensorflow":
        return []
    import tensorflow as tf

    still_visible = []
    for kind in _ACCELERATOR_KINDS:
        try:
            tf.config.set_visible_devices([], kind)
        except RuntimeError:
            # "Visible devices cannot be modified after being initialized".
            pass
        except ValueError:
            # This TensorFlow build has no device type of this kind.
            continue
        if tf.config.get_visible_devices(kind):
            still_visible.append(kind)
    if still_visible:
        warnings.warn(
            f"TensorFlow had started before keras_jepa.data could hide the "
            f"{'/'.join(still_visible)} devices from it (Keras backend "
            f"{keras.backend.backend()!r}), so tf.data may hold accelerator memory "
            "the model needs. Build the pipeline before any other TensorFlow use, "
            "or call keras_jepa.data.hide_accelerators_from_tensorflow() first.",
            stacklevel=2,
        )
    return still_visible
