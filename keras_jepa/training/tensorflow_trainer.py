"""The TensorFlow train step: GradientTape, optimizer.apply, then the target update.

`compile()` with `jit_compile` left at "auto" compiles the steps with XLA on every
device, CPU included (Keras alone leaves XLA off on CPU): the tiny I-JEPA step is about
1.4× faster so (benchmarks/results/ijepa_step_time.md). Under `tf.distribute` it stays
off, as in Keras. `compile(jit_compile=False)` restores the plain `tf.function` step.
"""

import tensorflow as tf
from keras import ops

from keras_jepa.training.base_model import SelfSupervisedModelBase


class TensorFlowSelfSupervisedModel(SelfSupervisedModelBase):
    def _resolve_auto_jit_compile(self):
        if self._distribute_strategy:
            return False
        try:
            from keras.src.trainers.trainer import model_supports_jit
        except ImportError:  # a Keras without it: its own choice
            return super()._resolve_auto_jit_compile()
        return model_supports_jit(self)

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
        valid = self.valid_step(logs)
        if valid is None:
            self.optimizer.apply(grads, self.trainable_variables)
            target_logs = self.update_target(step)
        else:
            # An invalid batch changes no weight and no state (`fit` then raises).
            before = [ops.copy(v.value) for v in self.non_trainable_variables]
            self._apply_if(valid, grads)
            target_logs = self.update_target(step)
            for variable, old in zip(self.non_trainable_variables, before):
                variable.assign(ops.where(valid, variable.value, old))
        self.loss_tracker.update_state(loss)
        return self._collect_logs(logs, target_logs, learning_rate)

    def _apply_if(self, valid, grads):
        """`optimizer.apply(grads)` when the boolean scalar `valid` is true, else nothing.

        The optimizer's update under `tf.distribute` is a cross-replica `merge_call`,
        which a `cond` in replica context cannot hold: the `cond` is taken in
        cross-replica context, on the first replica's `valid` (every replica holds the
        same, since the batch checks are combined across replicas).
        """
        variables = self.trainable_variables

        def apply_on_replicas(strategy, grads, valid):
            def apply():
                strategy.extended.call_for_each_replica(
                    lambda g: self.optimizer.apply(g, variables), args=(grads,))

            ops.cond(strategy.experimental_local_results(valid)[0], apply, lambda: None)

        tf.distribute.get_replica_context().merge_call(
            apply_on_replicas, args=(grads, valid))

    def test_step(self, data):
        loss, logs = self.compute_ssl_loss(data, training=False)
        self.loss_tracker.update_state(loss)
        return self._collect_logs(logs)
