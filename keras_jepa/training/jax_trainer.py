"""The JAX train step: stateless, with the keras.ops model code run in a StatelessScope.

`fit` jits `train_step(state, data)`. The model's own stateful code (the loss, the EMA
`assign`s) runs unchanged inside `keras.StatelessScope`, whose recorded assignments become
the new state.

Keras's JAX `fit`/`evaluate`/`predict` detach the variables' values while the compiled
steps run and reattach them at the end. When a step raises (a batch the step cannot
take, an error in a callback, a KeyboardInterrupt), the model here gets its values back
(the last completed step's, else those it had before the call), so it stays usable.
"""

import contextlib

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


def _is_live(value):
    return value is not None and not (isinstance(value, jax.Array) and value.is_deleted())


class JaxSelfSupervisedModel(SelfSupervisedModelBase):
    def _state_variables(self):
        variables = list(self.trainable_variables) + list(self.non_trainable_variables)
        optimizer = getattr(self, "optimizer", None)
        if optimizer is not None and optimizer.built:
            variables += list(optimizer.variables)
        variables += list(self.metrics_variables)
        unique = {id(v): v for v in variables}
        return list(unique.values())

    @contextlib.contextmanager
    def _state_restored_on_error(self):
        # References, not copies: a step that fails while tracing donates nothing.
        before = [(v, v._value) for v in self._state_variables()]
        try:
            yield
        except BaseException:
            self._restore_state(before)
            raise

    def _restore_state(self, before):
        # Keras sets `_jax_state` after each completed step: the newest values.
        if getattr(self, "_jax_state", None) and not self._jax_state_synced:
            try:
                self.jax_state_sync()
            except Exception:  # noqa: BLE001 - the values below are the fallback
                pass
        for variable, value in before:
            if not _is_live(variable._value) and _is_live(value):
                variable._value = value
        self._jax_state = None
        self._jax_state_synced = True

    def fit(self, *args, **kwargs):
        with self._state_restored_on_error():
            return super().fit(*args, **kwargs)

    def evaluate(self, *args, **kwargs):
        with self._state_restored_on_error():
            return super().evaluate(*args, **kwargs)

    def predict(self, *args, **kwargs):
        with self._state_restored_on_error():
            return super().predict(*args, **kwargs)

    def train_on_batch(self, *args, **kwargs):
        with self._state_restored_on_error():
            return super().train_on_batch(*args, **kwargs)

    def test_on_batch(self, *args, **kwargs):
        with self._state_restored_on_error():
            return super().test_on_batch(*args, **kwargs)

    def predict_on_batch(self, *args, **kwargs):
        with self._state_restored_on_error():
            return super().predict_on_batch(*args, **kwargs)

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
        before = (tv, ntv, ov)
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

        with keras.StatelessScope(state_mapping=list(zip(self.metrics_variables, mv))):
            valid = self.valid_step(logs)
        if valid is not None:  # an invalid batch changes no weight and no state
            tv, ntv, ov = jax.tree_util.tree_map(
                lambda new, old: jax.numpy.where(valid, new, old), (tv, ntv, ov), before)
        mean_loss, mv = self._stateless_track_loss(mv, loss)
        logs = {"loss": mean_loss, **logs, **target_logs, "lr": learning_rate}
        return logs, (tv, ntv, ov, mv)

    def test_step(self, state, data):
        tv, ntv, mv = state
        loss, (logs, ntv) = self._stateless_ssl_loss(tv, ntv, data, False)
        mean_loss, mv = self._stateless_track_loss(mv, loss)
        return {"loss": mean_loss, **logs}, (tv, ntv, mv)
