"""`ResponseHistory`: a callback that records per-feature encoder responses during ``fit``.

It is how a trained network is put on the same axes as `simulate`: the recorded steps
convert to paper time (``depth * learning_rate * step`` for the deep linear models), the
responses are ``diag(W̄)`` for `DeepLinearJEPA` / `DeepLinearMAE`, or `feature_response` on
a probe set for any other encoder.
"""

import keras
import numpy as np

from keras_jepa.checks import is_int
from keras_jepa.theory.feature_response import feature_response


class ResponseHistory(keras.callbacks.Callback):
    """Records the per-feature encoder response every ``every`` optimizer steps.

    Each ``fit`` starts a new record. A record is taken when training begins (at the
    optimizer's current step, 0 for a fresh optimizer) and then whenever its iteration
    count reaches a multiple of ``every`` (with ``steps_per_execution > 1``, at the first
    batch end at or after it). On JAX each record syncs the model state to its variables,
    so keep ``every`` coarse for large models.

    Args:
        every: record interval in optimizer steps, >= 1.
        probe: ``None`` (default: use ``model.encoder_response()``, the diagonal of ``W̄``
            of the deep linear models) or an array ``[n, d]`` of inputs on which
            `feature_response` of ``model.encoder`` is measured.

    Attributes:
        steps: int64 array ``[records]``, optimizer steps of the records.
        responses: float64 array ``[records, d]``.

    Example:

    ```python
    history = keras_jepa.theory.ResponseHistory(every=10)
    model.fit(x, y, batch_size=len(x), epochs=500, shuffle=False, callbacks=[history])
    t = model.paper_time(history.steps, learning_rate=0.05)
    ```
    """

    def __init__(self, every=1, probe=None):
        super().__init__()
        if not is_int(every) or every < 1:
            raise ValueError(f"`every` must be an integer >= 1, got {every!r}.")
        self.every = int(every)
        self.probe = None if probe is None else np.asarray(probe)
        self._steps, self._responses = [], []
        self._next = 0
        self._epoch_start = 0

    @property
    def steps(self):
        return np.asarray(self._steps, dtype=np.int64)

    @property
    def responses(self):
        return np.asarray(self._responses, dtype=np.float64)

    def _record(self, step):
        model = self.model
        if self.probe is None:
            if not hasattr(model, "encoder_response"):
                raise ValueError(
                    f"{type(model).__name__} has no `encoder_response()`; pass a `probe` "
                    "array to measure `feature_response` of `model.encoder` instead."
                )
            response = model.encoder_response()
        else:
            response = feature_response(model.encoder, self.probe)
        self._steps.append(int(step))
        self._responses.append(np.asarray(response, dtype=np.float64))
        self._next = (int(step) // self.every + 1) * self.every

    def _iterations(self):
        return int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def on_train_begin(self, logs=None):
        self._steps, self._responses = [], []
        self._record(self._iterations())

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = self._iterations()

    def on_train_batch_end(self, batch, logs=None):
        # Counting steps here instead of reading the optimizer avoids touching
        # `self.model`, which on JAX forces a state sync on every batch.
        step = self._epoch_start + batch + 1
        if step >= self._next:
            self._record(step)
