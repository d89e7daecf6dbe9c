"""`SelfSupervisedModel`: the base class whose train step matches the Keras backend.

Chosen once, at import, from `keras.backend.backend()`; subclasses implement
`compute_ssl_loss(data, training)` and optionally `update_target(step)` in keras.ops
(see `base_model.SelfSupervisedModelBase`).

Example:
class Autoencoder(keras_jepa.training.SelfSupervisedModel):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(8)

    def compute_ssl_loss(self, data, training=True):
        x = data
        return keras.ops.mean((self.dense(x) - x) ** 2), {}
"""

import keras

_BACKEND = keras.backend.backend()

if _BACKEND == "jax":
    from keras_jepa.training.jax_trainer import JaxSelfSupervisedModel as _Model
elif _BACKEND == "tensorflow":
    from keras_jepa.training.tensorflow_trainer import TensorFlowSelfSupervisedModel as _Model
elif _BACKEND == "torch":
    from keras_jepa.training.torch_trainer import TorchSelfSupervisedModel as _Model
else:
    raise ImportError(
        f"keras_jepa supports the jax, tensorflow and torch backends, not {_BACKEND!r}."
    )


class SelfSupervisedModel(_Model):
    """Keras Model base class for self-supervised objectives, on every backend.

    Implement `compute_ssl_loss(data, training)` → `(loss, logs)` and, for a model
    with a target network, `update_target(step)` → `logs`; `fit` then trains it on
    jax, tensorflow and torch alike. See the module docstring for an example.
    """
