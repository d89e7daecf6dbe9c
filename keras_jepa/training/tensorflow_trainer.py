"""The TensorFlow train step: GradientTape, optimizer.apply, then the target update."""

import tensorflow as tf
from keras import ops

from keras_jepa.training.base_model import SelfSupervisedModelBase


class TensorFlowSelfSupervisedModel(SelfSupervisedModelBase):
    def train_step(self, data):
        with tf.GradientTape() as tape:
            loss, logs = self.compute_ssl_loss(data, training=True)
        grads = tape.gradient(loss, self.trainable_variables)
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
