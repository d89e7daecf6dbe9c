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

What only the step can see (index ranges and finite values of a `tf.data` batch, a
non-finite loss) is checked there: a model's `compute_ssl_loss` may log a
`batch_errors` code (see `keras_jepa.training.step_checks`), and `fit`/`evaluate` add a
`StepGuard` callback that raises at the first bad batch or non-finite loss, naming the
epoch and the batch. `fit` on empty data raises a `ValueError` naming `x`. A model may
implement `check_mask_generator(generator)`: `fit` calls it with each mask generator
that `keras_jepa.data.attach_masks` put on the dataset given.
"""

import inspect

import keras
from keras import ops

from keras_jepa.training.progress import DEFAULT_PROGRESS_METRICS
from keras_jepa.training.progress import ProgressBar
from keras_jepa.training.progress import check_progress_metrics
from keras_jepa.training.step_checks import BATCH_ERRORS
from keras_jepa.training.step_checks import InvalidBatchError
from keras_jepa.training.step_checks import PredictGuard
from keras_jepa.training.step_checks import StepGuard
from keras_jepa.training.step_checks import add_step_guard
from keras_jepa.training.step_checks import attached_mask_generators
from keras_jepa.training.step_checks import describe_batch_errors
from keras_jepa.training.step_checks import empty_data_message


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


def check_not_empty(x):
    """Raises a ValueError naming `x` when the data given to fit has no sample.

    Known before the first step for arrays (no row), datasets of known cardinality 0
    and sequences of length 0; other data is checked by the `StepGuard` at the end of
    the first epoch.
    """
    if x is None:
        return
    cardinality = getattr(x, "cardinality", None)
    if callable(cardinality) and hasattr(x, "element_spec"):
        if int(cardinality()) == 0:
            raise ValueError(empty_data_message() + " (`x.cardinality()` is 0)")
        return
    leaves = keras.tree.flatten(x) if isinstance(x, (dict, tuple, list)) else [x]
    shapes = [getattr(leaf, "shape", None) for leaf in leaves]
    if leaves and all(shape is not None and len(shape) > 0 for shape in shapes):
        if any(shape[0] == 0 for shape in shapes):
            raise ValueError(empty_data_message() + " (arrays with 0 rows)")
        return
    if hasattr(x, "__len__") and not isinstance(x, (dict, tuple, list)) and len(x) == 0:
        raise ValueError(empty_data_message() + " (`len(x)` is 0)")


def deserialize_layers(config, keys):
    """A copy of `config` with the serialized Keras objects under `keys` deserialized.

    The `from_config` of a model whose constructor takes layers (an encoder, a
    predictor, a decoder) that `get_config` saved with `keras.saving.serialize_keras_object`.

    Example:
    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_layers(config, ("encoder", "predictor")))
    """
    config = dict(config)
    for key in keys:
        config[key] = keras.saving.deserialize_keras_object(config[key])
    return config


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

    def check_mask_generator(self, generator):
        """Validates a mask generator whose masks a dataset given to `fit` carries.

        Called by `fit`, `evaluate` and `predict` with each generator that
        `keras_jepa.data.attach_masks` attached to the data (found through `prefetch`,
        `map`, ...); raises a `ValueError` when its masks do not fit the model (e.g.
        another grid). Accepts everything here; models override it.
        """

    def _check_data(self, x):
        # The generator first: its error says why the masks do not fit.
        if hasattr(x, "element_spec"):
            for generator in attached_mask_generators(x):
                self.check_mask_generator(generator)
        batch = _batch_spec(x)
        if batch is not None:
            self.check_batch(batch)

    def _with_step_guard(self, method, args, kwargs):
        """`(args, kwargs)` of a `fit`/`evaluate` call with a `StepGuard` first.

        Returns the guard too (None when `callbacks` is a `CallbackList`, which is
        used as given).
        """
        bound = inspect.signature(method).bind(self, *args, **kwargs)
        callbacks = bound.arguments.get("callbacks")
        if isinstance(callbacks, keras.callbacks.CallbackList):
            return args, kwargs, None
        callbacks = add_step_guard(keras.tree.flatten(callbacks) if callbacks else [])
        bound.arguments["callbacks"] = callbacks
        guard = next(c for c in callbacks if isinstance(c, StepGuard))
        return bound.args[1:], bound.kwargs, guard

    def _get_metrics_result_or_logs(self, logs):
        # The epoch's and evaluate's final logs: the step's error code is not a metric.
        logs = super()._get_metrics_result_or_logs(logs)
        if isinstance(logs, dict) and BATCH_ERRORS in logs:
            logs = {k: v for k, v in logs.items() if k != BATCH_ERRORS}
        return logs

    def _checked_batch_logs(self, method, args, kwargs, training):
        """`train_on_batch`/`test_on_batch` with the step's error code checked."""
        return_dict = kwargs.pop("return_dict", False)
        logs = method(*args, return_dict=True, **kwargs)
        code = logs.pop(BATCH_ERRORS, 0)
        if int(code):
            what = "train_on_batch" if training else "test_on_batch"
            raise InvalidBatchError(
                f"`{what}` got an invalid batch: "
                + "; ".join(describe_batch_errors(self, code)) + ".")
        return logs if return_dict else self._flatten_metrics_in_order(logs)

    def train_on_batch(self, *args, **kwargs):
        return self._checked_batch_logs(super().train_on_batch, args, kwargs, True)

    def test_on_batch(self, *args, **kwargs):
        return self._checked_batch_logs(super().test_on_batch, args, kwargs, False)

    def evaluate(self, x=None, *args, **kwargs):
        if kwargs.get("_use_cached_eval_dataset"):  # fit's validation: fit checked it
            return super().evaluate(x, *args, **kwargs)
        self._check_data(x)
        args, kwargs = self._with_progress_bar(keras.Model.evaluate, x, args, kwargs)
        args, kwargs, _ = self._with_step_guard(keras.Model.evaluate, args, kwargs)
        return super().evaluate(*args, **kwargs)

    def predict(self, x, *args, **kwargs):
        self._check_data(x)
        bound = inspect.signature(keras.Model.predict).bind(self, x, *args, **kwargs)
        callbacks = bound.arguments.get("callbacks")
        if not isinstance(callbacks, keras.callbacks.CallbackList):
            callbacks = keras.tree.flatten(callbacks) if callbacks else []
            if not any(isinstance(c, PredictGuard) for c in callbacks):
                bound.arguments["callbacks"] = [PredictGuard()] + callbacks
        return super().predict(*bound.args[1:], **bound.kwargs)

    def valid_step(self, logs):
        """A boolean scalar tensor: whether this step may change the model's state.

        False when the step's batch failed its in-step checks (a non-zero
        `batch_errors` code), and for every later step of the epoch: the invalid
        batch made the epoch's running loss NaN, and `fit` may run a few more steps
        before the `StepGuard`, dispatched asynchronously, raises. The train steps
        apply the optimizer and the target update only when it is true, so after
        `InvalidBatchError` the weights, the optimizer's state and the target are
        those from before the bad batch. None when the model logs no `batch_errors`
        code (every step is applied). Read it before the step's loss is tracked.
        """
        code = logs.get(BATCH_ERRORS) if isinstance(logs, dict) else None
        if code is None:
            return None
        no_earlier_failure = ops.isfinite(self.loss_tracker.total.value)
        return ops.logical_and(ops.equal(code, 0), no_earlier_failure)

    def fit(self, x=None, *args, **kwargs):
        check_not_empty(x)
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
        args, kwargs, guard = self._with_step_guard(keras.Model.fit, args, kwargs)
        try:
            return super().fit(*args, **kwargs)
        except UnboundLocalError as error:
            # Keras's JAX `fit` reads the last step's logs after an epoch without one.
            if guard is not None and guard.batches == 0:
                raise ValueError(empty_data_message(guard.epoch)) from error
            raise

    def load_weights(self, filepath, skip_mismatch=False, **kwargs):
        """`keras.Model.load_weights` that refuses a checkpoint of another architecture.

        Keras loads the weights of a `.keras` / `.weights.h5` file layer by layer and,
        for a deeper or differently built model's file, can load part of it without an
        error. Here every stored weight is first compared with the model's (names and
        shapes, as `keras_jepa.training.load_checkpoint` does) and a `ValueError` lists
        every difference; nothing is loaded then. A file without optimizer state
        (saved before `compile`) loads the model's weights and leaves the optimizer
        as it is. `skip_mismatch=True` asks for Keras's partial load explicitly and
        skips the check.
        """
        from keras_jepa.training.checkpoints import check_checkpoint_fits

        if not skip_mismatch and str(filepath).endswith((".keras", ".weights.h5")):
            check_checkpoint_fits(self, filepath, name="filepath", without_optimizer=True)
        return super().load_weights(filepath, skip_mismatch=skip_mismatch, **kwargs)

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
