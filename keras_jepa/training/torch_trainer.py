"""The PyTorch train step: backward, optimizer.apply, then the target update, no autograd."""

import torch
from keras import ops

from keras_jepa.training.base_model import SelfSupervisedModelBase


def _detached(logs):
    return {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in logs.items()}


class TorchSelfSupervisedModel(SelfSupervisedModelBase):
    def train_step(self, data):
        self.zero_grad()
        loss, logs = self.compute_ssl_loss(data, training=True)
        loss.backward()
        variables = self.trainable_variables
        grads = [v.value.grad for v in variables]
        with torch.no_grad():
            # A copy: the optimizer increments the iteration count in place.
            step = ops.copy(self.optimizer.iterations.value)
            learning_rate = self._current_learning_rate()
            valid = self.valid_step(logs)
            # An invalid batch changes no weight and no state (`fit` then raises).
            if valid is None or bool(valid):
                self.optimizer.apply(grads, variables)
                target_logs = self.update_target(step)
            else:
                target_logs = {}
        loss = loss.detach()
        self.loss_tracker.update_state(loss)
        return self._collect_logs(_detached(logs), _detached(target_logs), learning_rate)

    def test_step(self, data):
        with torch.no_grad():
            loss, logs = self.compute_ssl_loss(data, training=False)
        self.loss_tracker.update_state(loss)
        return self._collect_logs(_detached(logs))
