"""Checkpoints that survive a kill, refuse NaN, and never load partially.

- `save_atomically(model, path)` writes a `.keras` or `.weights.h5` file to a temporary
  file in the same folder and renames it over `path` (`os.replace`; `tf.io.gfile.rename`
  for `gs://` and other remote paths), so a kill in the middle of a write leaves the
  previous checkpoint whole.
- `SafeModelCheckpoint` is `keras.callbacks.ModelCheckpoint` with atomic writes that
  refuses to save when the loss or any weight is NaN or infinite: after
  `keras.callbacks.TerminateOnNaN` stops a run, the last good checkpoint is kept.
- `load_checkpoint(model, path)` compares every stored weight (path and shape) with the
  model's before loading and raises `ValueError` listing the missing, unexpected and
  mis-shaped weights, instead of Keras's partial load or generic error. The
  `load_weights` of keras_jepa's models (`SelfSupervisedModel`) runs the same check.
"""

import math
import os
import tempfile
import uuid

import h5py
import keras
import numpy as np

_WEIGHTS_FILE_IN_ARCHIVE = "model.weights.h5"
_SUFFIXES = (".keras", ".weights.h5")


def _suffix(path, name="path"):
    for suffix in _SUFFIXES:
        if str(path).endswith(suffix):
            return suffix
    raise ValueError(
        f"`{name}` must end in '.keras' (whole model) or '.weights.h5' (weights only), "
        f"got {str(path)!r}."
    )


def _is_remote(path):
    return "://" in str(path)


def _replace(source, target):
    if _is_remote(target):
        import tensorflow as tf

        tf.io.gfile.rename(source, target, overwrite=True)
    else:
        os.replace(source, target)


def _remove_quietly(path):
    try:
        if _is_remote(path):
            import tensorflow as tf

            if tf.io.gfile.exists(path):
                tf.io.gfile.remove(path)
        elif os.path.exists(path):
            os.remove(path)
    except OSError:
        pass


def save_atomically(model, path, weights_only=None):
    """Saves `model` to `path` so that `path` is never left half-written.

    The file is first written to `.<name>.tmp-<random>` beside `path` (same folder, same
    file system) and then renamed over `path` in one step. If the write fails or the
    process is killed during it, `path` still holds the previous checkpoint (a stray
    temporary file may remain).

    Args:
        model: a built Keras model.
        path: target file, ending in `.keras` (`model.save`: config, weights and
            optimizer state) or `.weights.h5` (`model.save_weights`). Local or remote
            (`gs://...`, renamed with `tf.io.gfile.rename`).
        weights_only: None (from the suffix), or a bool that must agree with it.

    Returns:
        `path`.

    Example:
    keras_jepa.training.save_atomically(model, "runs/ijepa/model.keras")
    """
    path = str(path)
    suffix = _suffix(path)
    implied = suffix == ".weights.h5"
    if weights_only is not None and bool(weights_only) != implied:
        raise ValueError(
            f"`weights_only={weights_only!r}` disagrees with `path` {path!r}: weights-only "
            "checkpoints end in '.weights.h5', whole models in '.keras'."
        )
    folder, name = os.path.split(path)
    if folder and not _is_remote(folder):
        os.makedirs(folder, exist_ok=True)
    # The temporary name keeps the suffix: Keras picks the format from it.
    temporary = os.path.join(folder, f".{name[: -len(suffix)]}.tmp-{uuid.uuid4().hex}{suffix}")
    try:
        if implied:
            model.save_weights(temporary, overwrite=True)
        else:
            model.save(temporary, overwrite=True)
        _replace(temporary, path)
    except BaseException:
        _remove_quietly(temporary)
        raise
    return path


def non_finite_weights(model):
    """Paths of the model's weights that hold a NaN or an infinity.

    Args:
        model: a Keras model or layer.

    Returns:
        A list of variable paths (empty when every weight is finite).

    Example:
    bad = keras_jepa.training.non_finite_weights(model)
    """
    bad = []
    for variable in model.weights:
        value = np.asarray(keras.ops.convert_to_numpy(variable.value))
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            bad.append(variable.path)
    return bad


class SafeModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """`keras.callbacks.ModelCheckpoint` that writes atomically and never saves NaN.

    Takes every argument of `ModelCheckpoint` (`filepath` with `{epoch}` placeholders,
    `monitor`, `save_best_only`, `save_weights_only`, `save_freq`, ...). Each write goes
    through `save_atomically`. Before a write, the logged `loss` and every weight of the
    model are checked: when one is NaN or infinite, nothing is written, the previous
    checkpoint stays, and `skipped` records `(epoch, reason)`. Put it with
    `keras.callbacks.TerminateOnNaN()`: the run stops at the first non-finite loss and
    the file holds the last finite state.

    Attributes:
        last_saved: path of the last checkpoint written by this callback, or None.
        last_saved_epoch: its 1-based epoch, or None.
        skipped: list of `(epoch, reason)` for the writes refused.

    Example:
    callbacks = [keras_jepa.training.SafeModelCheckpoint("runs/ijepa/model.keras"),
                 keras.callbacks.TerminateOnNaN()]
    model.fit(dataset, epochs=10, callbacks=callbacks)
    """

    def __init__(self, filepath, *args, **kwargs):
        super().__init__(filepath, *args, **kwargs)
        self.last_saved = None
        self.last_saved_epoch = None
        self.skipped = []

    def _non_finite_reason(self, logs):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            return f"loss is {float(loss)}"
        bad = non_finite_weights(self.model)
        if bad:
            shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
            return f"non-finite weights: {shown}"
        return None

    def _save_model(self, epoch, batch, logs):
        filepath = self._get_file_path(epoch, batch, logs)
        if not self._should_save_model(epoch, batch, logs, filepath):
            return
        reason = self._non_finite_reason(logs)
        if reason is not None:
            self.skipped.append((epoch + 1, reason))
            print(
                f"\nEpoch {epoch + 1}: not saving {filepath} ({reason}); the previous "
                f"checkpoint ({self.last_saved or 'none'}) is kept."
            )
            return
        if os.path.isdir(filepath):
            raise IOError(
                "`filepath` of SafeModelCheckpoint must be a file, not an existing "
                f"directory: {filepath}"
            )
        save_atomically(self.model, filepath, weights_only=self.save_weights_only)
        self.last_saved, self.last_saved_epoch = filepath, epoch + 1
        if self.verbose > 0:
            print(
                f"\nEpoch {epoch + 1}: finished saving model to {filepath}"
            )


# === Checked loading ===


def _weight_shapes(h5_group):
    """`{store path: shape}` of every array in a Keras weights file (or archive)."""
    shapes = {}

    def visit(name, item):
        if isinstance(item, h5py.Dataset):
            shapes[name] = tuple(item.shape)

    h5_group.visititems(visit)
    return shapes


def _checkpoint_shapes(path):
    import zipfile

    check_checkpoint_file(path)
    if str(path).endswith(".keras"):
        with zipfile.ZipFile(path) as archive:
            with archive.open(_WEIGHTS_FILE_IN_ARCHIVE) as raw, h5py.File(raw, "r") as f:
                return _weight_shapes(f)
    with h5py.File(path, "r") as f:
        return _weight_shapes(f)


def check_checkpoint_file(path, name="path"):
    """Raises a ValueError naming `path` unless it is a readable checkpoint file.

    Checked: the file exists, a `.keras` file is a complete zip archive holding its
    weights (a truncated copy is not), and the weights file opens as HDF5. Keras's own
    errors for these cases name other things ("File not found" for a truncated
    archive, `BadZipFile` or h5py's message without the path).

    Args:
        path: a local `.keras` or `.weights.h5` file.
        name: the argument name used in messages.

    Example:
    keras_jepa.training.check_checkpoint_file("runs/ijepa/model.keras")
    """
    import zipfile

    path = str(path)
    _suffix(path, name)
    if not os.path.isfile(path):
        raise ValueError(f"`{name}` {path!r} does not exist (or is not a file).")
    try:
        if path.endswith(".keras"):
            with zipfile.ZipFile(path) as archive:
                if _WEIGHTS_FILE_IN_ARCHIVE not in archive.namelist():
                    raise ValueError(
                        f"`{name}` {path!r} is a .keras archive without weights.")
                broken = archive.testzip()
                if broken is not None:
                    raise ValueError(
                        f"`{name}` {path!r} is a corrupt .keras archive ({broken!r} fails "
                        "its checksum).")
                with archive.open(_WEIGHTS_FILE_IN_ARCHIVE) as raw, h5py.File(raw, "r"):
                    pass
        else:
            with h5py.File(path, "r"):
                pass
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        kind = "a .keras zip archive" if path.endswith(".keras") else "an HDF5 weights file"
        raise ValueError(
            f"`{name}` {path!r} cannot be read as {kind} ({os.path.getsize(path)} bytes; "
            f"truncated or not a checkpoint?): {error}") from error


def load_model(path, **kwargs):
    """`keras.models.load_model` after `check_checkpoint_file`, with keras_jepa's classes.

    Args:
        path: a local `.keras` file.
        **kwargs: passed to `keras.models.load_model` (e.g. `compile=False`).

    Returns:
        The model.

    Example:
    model = keras_jepa.training.load_model("runs/ijepa/model.keras")
    """
    import keras_jepa  # noqa: F401  (registers the serializable classes)

    if not str(path).endswith(".keras"):
        raise ValueError(f"`path` must be a '.keras' file, got {str(path)!r}.")
    if not _is_remote(path):
        check_checkpoint_file(path)
    return keras.models.load_model(path, **kwargs)


def _model_shapes(model):
    with tempfile.TemporaryDirectory() as folder:
        reference = os.path.join(folder, "expected.weights.h5")
        model.save_weights(reference)
        with h5py.File(reference, "r") as f:
            return _weight_shapes(f)


def _local_copy(path, folder):
    if not _is_remote(path):
        return path
    import tensorflow as tf

    local = os.path.join(folder, os.path.basename(path))
    tf.io.gfile.copy(path, local, overwrite=True)
    return local


def checkpoint_mismatches(model, path, without_optimizer=False):
    """Differences between a checkpoint's stored weights and `model`'s weights.

    Weights are named by their path in Keras's weights store, e.g.
    `context_encoder/blocks/transformer_block_1/qkv/vars/0` (layer attribute path, then
    the variable's index in its layer). Optimizer entries are compared only when the
    model's optimizer is built.

    Args:
        model: a built Keras model.
        path: a `.keras` or `.weights.h5` file.
        without_optimizer: when the file holds no optimizer state at all, compare
            the model's weights only (a built optimizer is otherwise compared too).

    Returns:
        Dict with `missing` (in the model, not in the file), `unexpected` (in the file,
        not in the model) and `shape` (`(name, file shape, model shape)`), each a
        sorted list; all empty when the checkpoint fits the model.

    Example:
    mismatches = keras_jepa.training.checkpoint_mismatches(model, "model.keras")
    """
    _suffix(path)
    expected = _model_shapes(model)
    with tempfile.TemporaryDirectory() as folder:
        stored = _checkpoint_shapes(_local_copy(str(path), folder))
    optimizer = getattr(model, "optimizer", None)
    has_optimizer = any(k.startswith("optimizer/") for k in stored)
    if optimizer is None or not optimizer.built or (without_optimizer and not has_optimizer):
        # An unbuilt optimizer has its step counter only; Keras skips loading into it.
        stored = {k: v for k, v in stored.items() if not k.startswith("optimizer/")}
        expected = {k: v for k, v in expected.items() if not k.startswith("optimizer/")}
    return {
        "missing": sorted(set(expected) - set(stored)),
        "unexpected": sorted(set(stored) - set(expected)),
        "shape": sorted(
            (name, stored[name], expected[name])
            for name in set(expected) & set(stored)
            if stored[name] != expected[name]
        ),
    }


def load_checkpoint(model, path):
    """Loads a checkpoint's weights into `model` after checking every name and shape.

    `keras.Model.load_weights` fails on a checkpoint of another architecture with an
    error about one layer's variable count, or, with `skip_mismatch=True`, loads what
    fits and warns. This function first compares every stored weight with the model's
    (see `checkpoint_mismatches`) and raises one `ValueError` listing all differences;
    only a checkpoint that fits exactly is loaded. A compiled model whose optimizer is
    not built yet gets it built first, so the optimizer state (step count, moments) is
    restored as well.

    Args:
        model: a built Keras model of the checkpoint's architecture.
        path: a `.keras` or `.weights.h5` file (local or remote).

    Returns:
        `model`, with the checkpoint's weights.

    Example:
    model = keras_jepa.models.IJEPA(encoder, predictor)
    model.compile(optimizer=keras_jepa.training.ijepa_optimizer(total_steps=500))
    keras_jepa.training.load_checkpoint(model, "runs/ijepa/model.keras")
    model.fit(dataset, epochs=10, initial_epoch=4)
    """
    path = str(path)
    _suffix(path)
    if not model.built:
        raise ValueError(
            f"`model` ({type(model).__name__}) must be built before loading a checkpoint; "
            "call it on a batch or build it first."
        )
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not optimizer.built:
        optimizer.build(model.trainable_variables)
    check_checkpoint_fits(model, path)
    # The check is done: keras_jepa's models would run it again in their load_weights.
    keras.Model.load_weights(model, path)
    return model


def check_checkpoint_fits(model, path, name="path", without_optimizer=False):
    """Raises one ValueError listing every difference between a checkpoint and `model`.

    The check behind `load_checkpoint` and the `load_weights` of keras_jepa's models:
    missing, unexpected and mis-shaped weights (see `checkpoint_mismatches`); nothing
    is loaded.

    Args:
        model: a built Keras model.
        path: a `.keras` or `.weights.h5` file (local or remote).
        name: the argument name used in messages.
        without_optimizer: accept a file that holds no optimizer state at all (the
            model's weights alone, e.g. saved before `compile`); the optimizer then
            keeps its state.
    """
    path = str(path)
    mismatches = checkpoint_mismatches(model, path, without_optimizer=without_optimizer)
    if any(mismatches.values()):
        lines = [f"The checkpoint `{name}`={path!r} does not fit {type(model).__name__} "
                 f"{model.name!r}; nothing was loaded."]
        if mismatches["missing"]:
            lines.append(f"Missing from the checkpoint ({len(mismatches['missing'])}): "
                         + ", ".join(mismatches["missing"]))
        if mismatches["unexpected"]:
            lines.append(f"Unexpected in the checkpoint ({len(mismatches['unexpected'])}): "
                         + ", ".join(mismatches["unexpected"]))
        if mismatches["shape"]:
            lines.append(f"Shape mismatches ({len(mismatches['shape'])}): " + ", ".join(
                f"{weight} checkpoint {stored} vs model {wanted}"
                for weight, stored, wanted in mismatches["shape"]))
        raise ValueError("\n".join(lines))
