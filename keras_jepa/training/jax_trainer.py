"""The JAX train step: stateless, with the keras.ops model code run in a StatelessScope.

`fit` jits `train_step(state, data)`. The model's own stateful code (the loss, the EMA
`assign`s) runs unchanged inside `keras.StatelessScope`, whose recorded assignments become
the new state.
"""

import jax
import keras

from keras_jepa.training.base_model import SelfSupervisedModelBase


def _scope_values(scope, variables, old_values):
    """New values assigned in `scope`, falling back to the old ones."""
    out = []
    for variable, old in zip(variables, old_values):
        new = scope.get_current_value(variable)
        out.append(old if new is None else new)
    return out


class JaxSelfSupervisedModel(SelfSupervisedModelBase):
    def _stateless_ssl_loss(self, trainable_values, non_trainable_values, data, training):
        mapping = list(zip(self.trainable_variables, trainable_values)) + list(
            zip(self.non_trainable_variables, non_trainable_values)
        )
        with keras.StatelessScope(state_mapping=mapping) as scope:
            loss, logs = self.compute_ssl_loss(data, training=training)
        non_trainable_values = _scope_values(
            scope, self.non_trainable_variables, non_trainable_values
        )
        return loss, (logs, non_trainable_values)

    def _stateless_track_loss(self, metrics_values, loss):
        mapping = list(zip(self.metrics_variables, metrics_values))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            self.loss_tracker.update_state(loss)
            result = self.loss_tracker.result()
        return result, _scope_values(scope, self.metrics_variables, metrics_values)

    def train_step(self, state, data):
        tv, ntv, ov, mv = state
        grad_fn = jax.value_and_grad(self._stateless_ssl_loss, has_aux=True)
        (loss, (logs, ntv)), grads = grad_fn(tv, ntv, data, True)

        with keras.StatelessScope(state_mapping=list(zip(self.optimizer.variables, ov))):
            step = self.optimizer.iterations.value
            learning_rate = self._current_learning_rate()
        tv, ov = self.optimizer.stateless_apply(ov, grads, tv)

        mapping = list(zip(self.trainable_variables, tv)) + list(
            zip(self.non_trainable_variables, ntv)
        )
        with keras.StatelessScope(state_mapping=mapping) as scope:
            target_logs = self.update_target(step)
        ntv = _scope_values(scope, self.non_trainable_variables, ntv)

        mean_loss, mv = self._stateless_track_loss(mv, loss)
        logs = {"loss": mean_loss, **logs, **target_logs, "lr": learning_rate}
        return logs, (tv, ntv, ov, mv)

    def test_step(self, state, data):
        tv, ntv, mv = state
        loss, (logs, ntv) = self._stateless_ssl_loss(tv, ntv, data, False)
        mean_loss, mv = self._stateless_track_loss(mv, loss)
        return {"loss": mean_loss, **logs}, (tv, ntv, mv)
