"""The TensorFlow train step: GradientTape, optimizer.apply, then the target update."""

import tensorflow as tf
from keras import ops

from keras_jepa.training.base_model import SelfSupervisedModelBase


class TensorFlowSelfSupervisedModel(SelfSupervisedModelBase):
    def fit(self, *args, **kwargs):
        # Under tf.distribute the optimizer, built before the first step, must be built
        # in the strategy's scope (the default strategy's scope otherwise).
        with self.distribute_strategy.scope():
            return super().fit(*args, **kwargs)

    def train_step(self, data):
        with tf.GradientTape() as tape:
            loss, logs = self.compute_ssl_loss(data, training=True)
            # The optimizer sums the replicas' gradients under tf.distribute: each
            # replica's share makes the sum the gradient of the mean loss.
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled_loss = loss / replicas if replicas > 1 else loss
        grads = tape.gradient(scaled_loss, self.trainable_variables)
        # Read before the step: the schedules of this step use the pre-step count.
        step = ops.copy(self.optimizer.iterations.value)
        learning_rate = self._current_learning_rate()
        self.optimizer.apply(grads, self.trainable_variables)
        target_logs = self.update_target(step)
        self.loss_tracker.update_state(loss)
        return self._collect_logs(logs, target_logs, learning_rate)

    def test_step(self, data):
        loss, logs = self.compute_ssl_loss(data, training=False)
        self.loss_tracker.update_state(loss)
        return self._collect_logs(logs)
