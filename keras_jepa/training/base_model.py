"""The backend-independent half of `SelfSupervisedModel`.

A self-supervised model in keras_jepa (I-JEPA, MAE, the deep linear theory models) is a
Keras Model that implements two methods in keras.ops:

- `compute_ssl_loss(data, training)` → `(loss, logs)`: the objective on one batch;
- `update_target(step)` → `logs`: what happens after each optimizer step (the EMA target
  update), `step` being the optimizer's iteration count before that step.

The per-backend train steps (`jax_trainer.py`, `tensorflow_trainer.py`, `torch_trainer.py`)
call these two and know nothing of any model.

A model may also implement `check_batch(batch)`: `fit`, `evaluate` and `predict` call it
on the data they are given (arrays as given, a `tf.data.Dataset` as `keras.KerasTensor`
specs of its elements) before the first compiled step, so that a malformed batch raises
a clear error in plain Python rather than from inside a traced function.
"""

import inspect

import keras
from keras import ops

from keras_jepa.training.progress import DEFAULT_PROGRESS_METRICS
from keras_jepa.training.progress import ProgressBar
from keras_jepa.training.progress import check_progress_metrics


def _batch_spec(x):
    """What `check_batch` sees for `x`: arrays as given, a dataset's element specs.

    None when the data is neither (a generator, a `PyDataset`, a torch `DataLoader`):
    such data is not looked at before the step.
    """
    if x is None:
        return None
    spec = getattr(x, "element_spec", None)
    if spec is not None:
        leaves = keras.tree.flatten(spec)
        if not all(hasattr(leaf, "shape") and hasattr(leaf, "dtype") for leaf in leaves):
            return None
        return keras.tree.map_structure(
            lambda leaf: keras.KerasTensor(
                tuple(leaf.shape.as_list()) if leaf.shape.rank is not None else None,
                dtype=keras.backend.standardize_dtype(leaf.dtype.name),
            ),
            spec,
        )
    leaves = keras.tree.flatten(x)
    if leaves and all(hasattr(leaf, "shape") and hasattr(leaf, "dtype") for leaf in leaves):
        return x
    return None


class SelfSupervisedModelBase(keras.Model):
    """Shared parts of the per-backend self-supervised train steps.

    Subclasses implement `compute_ssl_loss` and, when they have a target to update,
    `update_target`. Logs of a step: `loss` (running mean over the epoch), the extra logs
    returned by the two methods (last value), and `lr`.

    The progress bar of `fit` and `evaluate` shows the loss first and only the metrics
    named by `compile(progress_metrics=...)`; every logged metric still reaches
    `history` and the other callbacks (`CSVLogger`, `TensorBoard`, ...).
    """

    progress_metrics = DEFAULT_PROGRESS_METRICS

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.loss_tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.loss_tracker]

    def compile(self, *args, progress_metrics=DEFAULT_PROGRESS_METRICS, **kwargs):
        """`keras.Model.compile`, plus what the progress bar shows.

        Args:
            *args, **kwargs: those of `keras.Model.compile` (`optimizer`, ...).
            progress_metrics: names of the logged metrics the progress bar of `fit`
                and `evaluate` shows, in that order (default `("loss", "rankme",
                "feature_std", "probe_acc")`, the last logged by a `ProbeCallback`;
                names the run does not log are skipped, and each name's `val_`
                counterpart shows at the end of an epoch). None shows
                every metric, the loss first. Only the bar is filtered: `history`,
                `CSVLogger` and `TensorBoard` get every metric. With `verbose=0`, or
                with a `keras.callbacks.ProgbarLogger` in `callbacks`, the bar is
                Keras's own choice.

        Example:
        model.compile(optimizer=ijepa_optimizer(total_steps=500),
                      progress_metrics=("loss", "rankme", "probe_acc"))
        """
        self.progress_metrics = check_progress_metrics(progress_metrics)
        super().compile(*args, **kwargs)

    def get_compile_config(self):
        config = super().get_compile_config()
        if config and self.progress_metrics != DEFAULT_PROGRESS_METRICS:
            metrics = self.progress_metrics
            config["progress_metrics"] = None if metrics is None else list(metrics)
        return config

    def compile_from_config(self, config):
        # Keras skips this for models with their own `compile`; the saved config is
        # the arguments of `compile`.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def _with_progress_bar(self, method, x, args, kwargs):
        """`(args, kwargs)` of a `fit`/`evaluate` call, with a `ProgressBar` added."""
        bound = inspect.signature(method).bind(self, x, *args, **kwargs)
        verbose = bound.arguments.get("verbose", "auto")
        callbacks = bound.arguments.get("callbacks")
        if verbose == 0 or isinstance(callbacks, keras.callbacks.CallbackList):
            return (x, *args), kwargs
        callbacks = keras.tree.flatten(callbacks) if callbacks else []
        if any(isinstance(c, keras.callbacks.ProgbarLogger) for c in callbacks):
            return (x, *args), kwargs
        bound.arguments["callbacks"] = callbacks + [ProgressBar(self.progress_metrics)]
        return bound.args[1:], bound.kwargs

    def check_batch(self, batch):
        """Validates the structure and static shapes of the data given to a step.

        Called by `fit`, `evaluate` and `predict` before the first step with the data
        (`x`, unbatched arrays or a dataset's element specs); raises a `ValueError` for
        data the step cannot take. Accepts everything here; models override it.
        """

    def _check_data(self, x):
        batch = _batch_spec(x)
        if batch is not None:
            self.check_batch(batch)

    def evaluate(self, x=None, *args, **kwargs):
        if kwargs.get("_use_cached_eval_dataset"):  # fit's validation: fit checked it
            return super().evaluate(x, *args, **kwargs)
        self._check_data(x)
        args, kwargs = self._with_progress_bar(keras.Model.evaluate, x, args, kwargs)
        return super().evaluate(*args, **kwargs)

    def predict(self, x, *args, **kwargs):
        self._check_data(x)
        return super().predict(x, *args, **kwargs)

    def fit(self, x=None, *args, **kwargs):
        self._check_data(x)
        if kwargs.get("validation_data") is not None:
            self._check_data(kwargs["validation_data"])
        # A tf.data pipeline shuffles itself; Keras would warn about its default
        # `shuffle=True` on every call.
        if hasattr(x, "element_spec") and "shuffle" not in kwargs and len(args) < 4:
            kwargs["shuffle"] = False
        # Built before the first traced step: variables created while tracing make
        # TensorFlow trace the step a second time.
        optimizer = getattr(self, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.trainable_variables)
        args, kwargs = self._with_progress_bar(keras.Model.fit, x, args, kwargs)
        return super().fit(*args, **kwargs)

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
