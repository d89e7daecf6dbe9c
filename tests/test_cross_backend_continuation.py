"""A run saved on one backend continues on another: save → load → fit, the EMA target
still moving, and a continuation past the planned run refused."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from helpers import random_batch
from helpers import tiny_ijepa

from keras_jepa import training

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CONTINUE = r"""
import json, sys
import numpy as np
import keras
from keras_jepa import training

path, images_path, out = sys.argv[1:4]
model = training.load_model(path)
images = dict(np.load(images_path))
before = [keras.ops.convert_to_numpy(v).copy() for v in model.target_encoder.weights]
start = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
history = model.fit(images, batch_size=4, epochs=2, initial_epoch=1, verbose=0).history
after = [keras.ops.convert_to_numpy(v) for v in model.target_encoder.weights]
moved = max(float(np.abs(a - b).max()) for a, b in zip(after, before))
try:
    model.fit(images, batch_size=4, epochs=3, initial_epoch=2, verbose=0)
    refused = ""
except ValueError as error:
    refused = str(error)
json.dump({"backend": keras.backend.backend(), "start": start,
           "end": int(keras.ops.convert_to_numpy(model.optimizer.iterations)),
           "loss": history["loss"], "target_moved": moved, "refused": refused},
          open(out, "w"))
"""


@pytest.mark.slow
def test_saved_run_continues_on_the_next_backend(tmp_path):
    """jax → tensorflow, tensorflow → torch, torch → jax: over the three backends'
    runs of the suite every backend saves once and loads once."""
    images = random_batch(np.random.default_rng(0), batch_size=8)
    # The run is planned for 2 epochs of 2 steps; the first epoch runs here.
    model = tiny_ijepa(total_steps=4)
    model.compile(optimizer=training.ijepa_optimizer(total_steps=4, warmup_steps=1))
    model.fit(images, batch_size=4, epochs=1, verbose=0)
    path = str(tmp_path / "half.keras")
    model.save(path)
    images_path = str(tmp_path / "batch.npz")
    np.savez(images_path, **images)
    script = tmp_path / "continue.py"
    script.write_text(CONTINUE)
    order = ("jax", "tensorflow", "torch")
    following = order[(order.index(keras.backend.backend()) + 1) % len(order)]
    for backend in (following,):
        out = tmp_path / f"{backend}.json"
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
        result = subprocess.run([sys.executable, str(script), path, images_path, str(out)],
                                cwd=REPO, env=env, capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        report = json.loads(out.read_text())
        assert report["backend"] == backend
        assert (report["start"], report["end"]) == (2, 4)
        assert all(np.isfinite(report["loss"]))
        # The EMA target keeps moving after the reload (momentum < 1 inside the ramp).
        assert report["target_moved"] > 0.0
        assert "total_steps" in report["refused"] or "schedule" in report["refused"]


def test_steps_per_epoch_are_counted_in_batches_and_infinite_data_is_named():
    import tensorflow as tf

    images = random_batch(np.random.default_rng(0), batch_size=10)
    model = tiny_ijepa()
    model.compile(optimizer=training.ijepa_optimizer(total_steps=100))
    model.fit(images, batch_size=4, epochs=2, verbose=0)
    # 10 images in batches of 4: 3 steps an epoch, so the ramp spans 6 steps.
    assert model.total_steps == 6
    endless = tf.data.Dataset.from_tensor_slices(images).batch(4).repeat()
    with pytest.raises(ValueError, match="infinite dataset.*steps_per_epoch"):
        tiny_ijepa().fit(endless, epochs=1, verbose=0)
