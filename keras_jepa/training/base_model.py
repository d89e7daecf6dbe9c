"""The backend-independent half of `SelfSupervisedModel`.

A self-supervised model in keras_jepa (I-JEPA, MAE, the deep linear theory models) is a
Keras Model that implements two methods in keras.ops:

- `compute_ssl_loss(data, training)` → `(loss, logs)`: the objective on one batch;
- `update_target(step)` → `logs`: what happens after each optimizer step (the EMA target
  update), `step` being the optimizer's iteration count before that step.

The per-backend train steps (`jax_trainer.py`, `tensorflow_trainer.py`, `torch_trainer.py`)
call these two and know nothing of any model.
"""

import keras
from keras import ops


class SelfSupervisedModelBase(keras.Model):
    """Shared parts of the per-backend self-supervised train steps.

    Subclasses implement `compute_ssl_loss` and, when they have a target to update,
    `update_target`. Logs of a step: `loss` (running mean over the epoch), the extra logs
    returned by the two methods (last value), and `lr`.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.loss_tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.loss_tracker]

    def fit(self, x=None, *args, **kwargs):
        # A tf.data pipeline shuffles itself; Keras would warn about its default
        # `shuffle=True` on every call.
        if hasattr(x, "element_spec") and "shuffle" not in kwargs and len(args) < 4:
            kwargs["shuffle"] = False
        # Built before the first traced step: variables created while tracing make
        # TensorFlow trace the step a second time.
        optimizer = getattr(self, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.trainable_variables)
        return super().fit(x, *args, **kwargs)

    def compute_ssl_loss(self, data, training=True):
        raise NotImplementedError(
            f"{type(self).__name__} must implement compute_ssl_loss(data, training)."
        )

    def update_target(self, step):
        return {}

    def _current_learning_rate(self):
        return ops.convert_to_tensor(self.optimizer.learning_rate, "float32")

    def _collect_logs(self, loss_logs, target_logs=None, learning_rate=None):
        logs = {"loss": self.loss_tracker.result()}
        logs.update(loss_logs)
        if target_logs:
            logs.update(target_logs)
        if learning_rate is not None:
            logs["lr"] = learning_rate
        return logs
