"""What a `fit` shows and writes: TensorBoard event files and the progress bar (issue 14).

Item 8: `keras.callbacks.TensorBoard` needs the `tensorboard` package, which the
`tensorflow-cpu` wheel does not bring; keras-jepa depends on it.
Item 9: with monitors on, the progress bar shows the loss first and only a few
metrics, while `history`, `CSVLogger` and TensorBoard still get every monitor.
"""

import glob
import importlib.metadata
import importlib.util
import os
import re

import keras
import pytest
import tensorflow as tf
from helpers import compiled_ijepa
from helpers import random_batch


def _event_tags(directory):
    """Scalar tags in the TensorBoard event files under `directory`."""
    from tensorflow.core.util import event_pb2

    tags = set()
    for path in glob.glob(os.path.join(directory, "events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(path):
            event = event_pb2.Event.FromString(record.numpy())
            tags.update(value.tag for value in event.summary.value)
    return tags


def test_tensorboard_is_a_dependency():
    requirements = importlib.metadata.requires("keras-jepa") or []
    unconditional = [r for r in requirements if "extra ==" not in r]
    assert any(re.match(r"tensorboard\b", r) for r in unconditional), requirements


def test_tensorboard_callback_writes_every_monitor(tmp_path, rng):
    if importlib.util.find_spec("tensorboard") is None:
        pytest.skip("tensorboard is not installed (reinstall keras-jepa: it depends on it)")
    model = compiled_ijepa()
    batch = random_batch(rng, batch_size=4)
    history = model.fit(batch, batch_size=2, epochs=2, verbose=0,
                        callbacks=[keras.callbacks.TensorBoard(log_dir=str(tmp_path))])
    train_dir = tmp_path / "train"
    assert glob.glob(str(train_dir / "events.out.tfevents.*"))
    tags = _event_tags(str(train_dir))
    for name in history.history:
        assert f"epoch_{name}" in tags, (name, sorted(tags))
    assert {"loss", "rankme", "momentum", "lr"} <= set(history.history)


MONITORS = {"rankme", "feature_std", "feature_spread", "pred_std", "position_share",
            "blind_loss", "encoder_distance", "momentum", "lr"}


def _bar_lines(text):
    """Lines of captured progress-bar output that show metrics, without colour codes."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text).replace("\r", "\n").replace("\b", "")
    return [line for line in text.splitlines() if re.search(r" - \w+: ", line)]


def _shown_metrics(line):
    return re.findall(r" - ([A-Za-z_]\w*): ", line)


@pytest.mark.parametrize("verbose", [1, 2])
def test_progress_bar_shows_loss_first_and_few_metrics(verbose, rng, tmp_path, capsys):
    model = compiled_ijepa()
    batch = random_batch(rng, batch_size=4)
    csv_path = tmp_path / "log.csv"
    # Stands for a ProbeCallback: adds `probe_acc` to the epoch's logs.
    probe = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: logs.update(probe_acc=0.5))
    callbacks = [probe, keras.callbacks.CSVLogger(str(csv_path))]
    if importlib.util.find_spec("tensorboard") is not None:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(tmp_path / "tb")))
    capsys.readouterr()
    history = model.fit(batch, batch_size=2, epochs=1, verbose=verbose, callbacks=callbacks)
    lines = _bar_lines(capsys.readouterr().out)
    assert lines
    for line in lines[:-1]:
        assert _shown_metrics(line) == ["loss", "rankme", "feature_std"], line
    assert _shown_metrics(lines[-1]) == ["loss", "rankme", "feature_std", "probe_acc"]
    assert max(len(line) for line in lines) < 120, lines  # was about 250
    # Everything else still reaches history, CSVLogger and TensorBoard.
    logged = set(history.history)
    assert MONITORS | {"loss", "probe_acc"} <= logged
    with open(csv_path) as f:
        header = f.readline().strip().split(",")
    assert logged <= set(header)
    if len(callbacks) > 1:
        tags = _event_tags(str(tmp_path / "tb" / "train"))
        assert {f"epoch_{name}" for name in logged} <= tags


def test_progress_metrics_choose_the_bar(rng, capsys):
    batch = random_batch(rng, batch_size=4)
    model = compiled_ijepa()
    model.compile(optimizer="adam", progress_metrics=("pred_std", "loss", "not_logged"))
    capsys.readouterr()
    model.fit(batch, batch_size=2, epochs=1, verbose=2, validation_data=batch)
    [line] = _bar_lines(capsys.readouterr().out)
    assert _shown_metrics(line) == ["pred_std", "loss", "val_pred_std", "val_loss"], line

    model.compile(optimizer="adam", progress_metrics=None)  # everything, loss first
    model.fit(batch, batch_size=2, epochs=1, verbose=2)
    [line] = _bar_lines(capsys.readouterr().out)
    names = _shown_metrics(line)
    assert names[0] == "loss" and MONITORS <= set(names), line

    model.evaluate(batch, batch_size=2, verbose=1)  # evaluate's bar follows the same rule
    lines = _bar_lines(capsys.readouterr().out)
    assert lines and _shown_metrics(lines[-1])[0] == "loss", lines

    # A ProgbarLogger of the user's own replaces ours; verbose=0 prints nothing.
    model.compile(optimizer="adam")
    model.fit(batch, batch_size=2, epochs=1, verbose=2,
              callbacks=[keras.callbacks.ProgbarLogger()])
    [line] = _bar_lines(capsys.readouterr().out)
    assert MONITORS <= set(_shown_metrics(line)), line
    model.fit(batch, batch_size=2, epochs=1, verbose=0)
    assert not _bar_lines(capsys.readouterr().out)
    with pytest.raises(ValueError, match="progress_metrics"):
        model.compile(optimizer="adam", progress_metrics=[1, 2])


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_progress_metrics_survive_save_and_load(tmp_path):
    model = compiled_ijepa()
    model.compile(optimizer="adam", progress_metrics=("loss", "pred_std"))
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.compiled
    assert loaded.progress_metrics == ("loss", "pred_std")
