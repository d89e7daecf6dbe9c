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

from keras_jepa.models import IJEPA
from keras_jepa.models import JEPAPredictor
from helpers import random_batch
from helpers import tiny_encoder


def _ijepa():
    encoder = tiny_encoder(depth=1)
    predictor = JEPAPredictor.for_encoder(encoder, hidden_dim=16, depth=1, num_heads=2)
    model = IJEPA(encoder, predictor, total_steps=100)
    model.compile(optimizer="adam")
    return model


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
    model = _ijepa()
    batch = random_batch(rng, batch_size=4)
    history = model.fit(batch, batch_size=2, epochs=2, verbose=0,
                        callbacks=[keras.callbacks.TensorBoard(log_dir=str(tmp_path))])
    train_dir = tmp_path / "train"
    assert glob.glob(str(train_dir / "events.out.tfevents.*"))
    tags = _event_tags(str(train_dir))
    for name in history.history:
        assert f"epoch_{name}" in tags, (name, sorted(tags))
    assert {"loss", "rankme", "momentum", "lr"} <= set(history.history)
