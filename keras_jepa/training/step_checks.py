"""Every train step checks its batch and its loss; `fit` stops at the first bad one.

Values inside a compiled step are symbolic, so a batch from a `tf.data` pipeline cannot
be checked in Python before the step. Instead a model's `compute_ssl_loss` computes a
few cheap reductions of the batch (index min/max, weight range, finiteness of the
images), turns them into an integer `batch_errors` code in its logs (one bit per
problem, see `batch_error_code`), makes the gathers safe (indices clamped) and the
step's loss NaN when the code is not 0. On the host, `StepGuard` — added by
`SelfSupervisedModel.fit`/`evaluate` to the callbacks — reads the code and the loss
after each step and raises:

- `InvalidBatchError` (a `ValueError`) naming the epoch, the batch and what is wrong
  with it (e.g. "`context_indices` hold values outside [0, 64)");
- `NonFiniteLossError` (a `FloatingPointError`) when the loss of a valid batch is NaN
  or infinite (training diverged), naming the epoch and the batch;
- a `ValueError` naming `x` when an epoch yields no batch at all.

The error ends `fit` before the epoch's end, so a `SafeModelCheckpoint` keeps the last
checkpoint written from finite weights. With `keras.callbacks.TerminateOnNaN` among
the callbacks a non-finite loss stops the run the Keras way instead (no error); bad
batches still raise. The `batch_errors` key never reaches `history`, `CSVLogger` or
the progress bar.

The check costs a few reductions per step on the device and reads two scalars per
step on the host, right after the step (as Keras's progress bar does): the error comes
before the next step runs. The step that finds a bad batch applies no update (see
`SelfSupervisedModelBase.valid_step`), so the weights, the optimizer's state and the
EMA target are those from before that batch.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_jepa.training.distribution import replica_sum
from keras_jepa.training.tensor_checks import is_concrete

BATCH_ERRORS = "batch_errors"
# Set by `keras_jepa.data.attach_masks` on the dataset it returns: the generator whose
# masks the dataset carries, so that `fit` can compare it with the model.
MASK_GENERATOR_ATTRIBUTE = "_keras_jepa_mask_generator"


class InvalidBatchError(ValueError):
    """A batch given to `fit`/`evaluate` breaks the model's contract (found in the step)."""


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


def batch_error_code(flags):
    """An int32 scalar with bit `i` set when `flags[i]` (a boolean scalar tensor) is true.

    Under `tf.distribute` the flags of every replica are combined, so each replica
    logs the code of the whole global batch.
    """
    bits = ops.convert_to_tensor([1 << i for i in range(len(flags))], "int32")
    flags = ops.stack([ops.cast(flag, "int32") for flag in flags])
    flags = ops.cast(replica_sum(flags) > 0, "int32")
    return ops.sum(flags * bits)


def any_outside(indices, num_patches):
    """Whether an integer tensor holds a value outside `[0, num_patches)`."""
    return ops.logical_or(ops.any(indices < 0), ops.any(indices >= num_patches))


def clamp_indices(indices, num_patches):
    """`indices` clipped into `[0, num_patches)`: the gathers then never fail or wrap."""
    return ops.clip(indices, 0, num_patches - 1)


def non_finite(values):
    """Whether a float tensor holds a NaN or an infinity (False for integer tensors)."""
    if "float" not in keras.backend.standardize_dtype(values.dtype):
        return ops.convert_to_tensor(False)
    return ops.logical_not(ops.all(ops.isfinite(values)))


def finite_or_zero(values):
    """`values` with NaN and infinities replaced by 0 (integer tensors unchanged)."""
    if "float" not in keras.backend.standardize_dtype(values.dtype):
        return values
    return ops.where(ops.isfinite(values), values, ops.zeros_like(values))


def nan_if(code, loss):
    """`loss`, or NaN (with a zero gradient) when the batch error code is not 0."""
    return ops.where(code > 0, ops.full_like(loss, math.nan), loss)


def _concrete_numpy(values):
    """`values` as a numpy array when they hold values now (not symbolic), else None."""
    if values is None or not hasattr(values, "shape") or not is_concrete(values):
        return None
    return np.asarray(ops.convert_to_numpy(values))


def check_finite_images(images, name="images"):
    """Raises a ValueError naming `name` and the first image holding a NaN or an inf.

    Symbolic tensors (a dataset's specs, a traced step) and integer images pass.
    """
    values = _concrete_numpy(images)
    if values is None or values.dtype.kind != "f" or values.ndim == 0:
        return
    finite = np.isfinite(values.reshape(len(values), -1)).all(axis=1) if values.size \
        else np.ones(len(values), bool)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise ValueError(
            f"`{name}` must be finite, but image {bad[0]} (of {len(values)}; "
            f"{len(bad)} in all) holds NaN or infinite values.")


def check_weight_values(weights, name="target_weights"):
    """Raises a ValueError unless concrete weights lie in [0, 1] with a positive per row.

    A row is the last axis (`[batch, block]` of I-JEPA's `[B, M, Kt]` weights).
    """
    values = _concrete_numpy(weights)
    if values is None or values.size == 0:
        return
    values = values.astype("float64")
    outside = ~((values >= 0) & (values <= 1))
    if outside.any():
        raise ValueError(
            f"`{name}` must lie in [0, 1] (1 for a real target token, 0 for padding), "
            f"got values in [{np.nanmin(values)}, {np.nanmax(values)}]"
            + (" and NaN" if np.isnan(values).any() else "") + ".")
    empty = values.max(axis=-1) <= 0
    if empty.any():
        where = tuple(int(i) for i in np.argwhere(empty)[0])
        raise ValueError(
            f"`{name}` must have a positive weight in every target block, but row "
            f"{where} (of shape {values.shape[:-1]}) is all 0.")


def describe_batch_errors(model, code):
    """The messages of the bits set in `code`, from `model.batch_error_messages()`."""
    messages = model.batch_error_messages() if hasattr(model, "batch_error_messages") \
        else []
    found = [text for bit, text in enumerate(messages) if int(code) >> bit & 1]
    unknown = int(code) >> len(messages)
    if unknown or not found:
        found.append(f"error code {int(code)}")
    return found


def _is_terminate_on_nan(callback):
    return isinstance(callback, keras.callbacks.TerminateOnNaN)


def add_step_guard(callbacks):
    """`callbacks` (a list or None) with a `StepGuard` first, unless one is there.

    With a `keras.callbacks.TerminateOnNaN` in the list the guard leaves a
    non-finite loss to it (a graceful stop) and checks the batches only.
    """
    callbacks = list(callbacks or [])
    if any(isinstance(c, StepGuard) for c in callbacks):
        return callbacks
    check_loss = not any(_is_terminate_on_nan(c) for c in callbacks)
    return [StepGuard(check_loss=check_loss)] + callbacks


class StepGuard(keras.callbacks.Callback):
    """Raises at the first invalid batch or non-finite loss of `fit` (see module doc).

    Added by `SelfSupervisedModel.fit` and `evaluate`; pass one yourself to choose
    `check_loss`.

    Args:
        check_loss: whether a non-finite training loss raises `NonFiniteLossError`
            (default True; False leaves it to e.g. `keras.callbacks.TerminateOnNaN`).

    Attributes:
        batches: batches trained in the current epoch.
    """

    # Not `async_safe`: Keras then calls it right after each step, so the error is
    # raised before the next step runs (asynchronous dispatch could let several more
    # steps run and, on JAX, race with the state being reattached).

    def __init__(self, check_loss=True):
        super().__init__()
        self.check_loss = bool(check_loss)
        self.epoch = None
        self.batches = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.batches = 0

    def _where(self, batch, training):
        if training and self.epoch is not None:
            return f"epoch {self.epoch + 1}, batch {batch + 1}"
        return f"batch {batch + 1}"

    def _check_errors(self, batch, logs, training):
        code = logs.pop(BATCH_ERRORS, None) if logs else None
        if code is None or int(code) == 0:
            return
        problems = describe_batch_errors(self.model, code)
        what = "Training" if training else "Evaluation"
        raise InvalidBatchError(
            f"{what} stopped at {self._where(batch, training)}: the batch is invalid: "
            + "; ".join(problems) + ". Checkpoints written before this batch are kept.")

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
        self._check_errors(batch, logs, training=True)
        if not self.check_loss or not logs or logs.get("loss") is None:
            return
        loss = float(logs["loss"])
        if not math.isfinite(loss):
            raise NonFiniteLossError(
                f"Training stopped at {self._where(batch, True)}: the loss is {loss} (the "
                "running mean of the epoch; this batch is the first to make it "
                "non-finite). The batch's inputs passed the checks, so training diverged: "
                "lower the learning rate, or check the weights (e.g. "
                "keras_jepa.training.non_finite_weights(model)). Checkpoints written "
                "before this batch (SafeModelCheckpoint) are kept.")

    def on_test_batch_end(self, batch, logs=None):
        self._check_errors(batch, logs, training=False)

    def on_epoch_end(self, epoch, logs=None):
        for key in (BATCH_ERRORS, "val_" + BATCH_ERRORS):
            (logs or {}).pop(key, None)
        if self.batches == 0:
            raise ValueError(empty_data_message(epoch))


class PredictGuard(keras.callbacks.Callback):
    """Raises `InvalidBatchError` at the first batch of `predict` whose outputs are NaN.

    keras_jepa's models return NaN outputs for a batch that breaks their contract
    inside a compiled call (indices outside the grid, NaN images of a `tf.data`
    batch), where they cannot raise. Added by `SelfSupervisedModel.predict`.
    """

    def on_predict_batch_end(self, batch, logs=None):
        outputs = (logs or {}).get("outputs")
        for leaf in keras.tree.flatten(outputs) if outputs is not None else []:
            values = np.asarray(ops.convert_to_numpy(leaf))
            if values.dtype.kind == "f" and np.isnan(values).any():
                messages = getattr(self.model, "batch_error_messages", list)()
                problems = messages or ["its inputs break the model's contract"]
                raise InvalidBatchError(
                    f"Prediction stopped at batch {batch + 1}: the model's outputs for it "
                    "are NaN, so the batch is invalid: one of: " + "; ".join(problems)
                    + " (or the model's weights are not finite: see "
                    "keras_jepa.training.non_finite_weights(model)).")


def empty_data_message(epoch=None):
    when = f" in epoch {epoch + 1}" if epoch is not None else ""
    return (f"`x` yielded no batch{when}: the dataset (or array) given to fit is empty. "
            "Check the data source (an empty folder, a filter that drops everything, a "
            "`take(0)`, fewer samples than one batch with `drop_remainder=True`).")


def attached_mask_generators(dataset):
    """The mask generators `attach_masks` put on `dataset` or on a dataset it reads.

    Walks the chain of `tf.data` input datasets (`prefetch`, `map`, ... keep a
    reference to their input), so a generator attached before `prefetch` is found.
    """
    found, stack, seen = [], [dataset], set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        generator = getattr(current, MASK_GENERATOR_ATTRIBUTE, None)
        if generator is not None:
            found.append(generator)
        inputs = getattr(current, "_inputs", None)
        if callable(inputs):
            try:
                stack.extend(inputs())
            except Exception:  # noqa: BLE001 - a dataset kind without inputs
                pass
    return found
