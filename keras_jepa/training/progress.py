"""`ProgressBar`: Keras's progress bar, showing a few chosen metrics, loss first.

A self-supervised step logs many numbers (the loss, the run-health monitors, the EMA
momentum, the learning rate); Keras's `ProgbarLogger` prints them all, in the order
the step returns them (alphabetical on JAX), on lines that wrap several times. This
logger prints only the metrics it is given, in that order; the logs the other callbacks
receive (`History`, `CSVLogger`, `TensorBoard`, ...) are not touched.

`SelfSupervisedModel.fit` and `evaluate` use it in place of Keras's own bar (with
`verbose=1` or `2`, when no `ProgbarLogger` is passed), with the metrics named by
`compile(progress_metrics=...)`.
"""

import keras

# The loss, two collapse monitors (logged by IJEPA and MAE) and, at the end of an epoch,
# a ProbeCallback's accuracy; names a run does not log are skipped.
DEFAULT_PROGRESS_METRICS = ("loss", "rankme", "feature_std", "probe_acc")


def check_progress_metrics(metrics):
    """`metrics` as a tuple of names, or None (every metric, the loss first)."""
    if metrics is None:
        return None
    if isinstance(metrics, str):
        metrics = (metrics,)
    metrics = tuple(metrics)
    if not all(isinstance(name, str) and name for name in metrics):
        raise ValueError(
            f"`progress_metrics` must be None or a sequence of metric names, got {metrics!r}."
        )
    return metrics


class ProgressBar(keras.callbacks.ProgbarLogger):
    """A `ProgbarLogger` that shows the given metrics only, in the given order.

    Args:
        metrics: names of the logged metrics to show, e.g. `("loss", "rankme")`; each
            also shows its `val_` counterpart at the end of an epoch. Names a step does
            not log are skipped. None shows every metric, the loss first.

    Example:
    model.fit(dataset, epochs=10, callbacks=[ProgressBar(("loss", "rankme", "probe_acc"))])
    """

    def __init__(self, metrics=DEFAULT_PROGRESS_METRICS):
        super().__init__()
        self.metrics = check_progress_metrics(metrics)

    def _shown(self, logs):
        if not logs:
            return logs
        if self.metrics is None:
            first = [key for key in ("loss", "val_loss") if key in logs]
            return {**{key: logs[key] for key in first}, **logs}
        shown = {}
        for prefix in ("", "val_"):
            for name in self.metrics:
                if prefix + name in logs:
                    shown[prefix + name] = logs[prefix + name]
        return shown

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, self._shown(logs))

    def on_test_batch_end(self, batch, logs=None):
        super().on_test_batch_end(batch, self._shown(logs))

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, self._shown(logs))

    def on_test_end(self, logs=None):
        super().on_test_end(self._shown(logs))
