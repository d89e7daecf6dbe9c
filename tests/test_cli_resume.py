"""`keras-jepa train --resume` continues a killed run; `--dtype-policy` sets the model's
dtype policy."""

import csv
import json
import os

import keras
import numpy as np
import pytest

from keras_jepa import cli
from keras_jepa import experiment


class _KilledAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            raise RuntimeError("killed")


def test_resume_continues_a_killed_run(tmp_path, capsys):
    out = tmp_path / "run"
    config = experiment.digits_micro_config(smoke=True)
    config["epochs"] = 2
    with pytest.raises(RuntimeError, match="killed"):
        experiment.train(config, "ijepa", str(out), verbose=0, evaluate_model=False,
                         callbacks=[_KilledAfterFirstEpoch()])
    assert os.path.isdir(out / "backup")
    code = cli.main(["train", "--method", "ijepa", "--out", str(out), "--resume", "--no-eval"])
    assert code == 0, capsys.readouterr().err
    with open(out / "log.csv") as f:
        epochs = [int(row["epoch"]) for row in csv.DictReader(f)]
    assert epochs == [0, 1]  # the first epoch's row kept, the second appended
    with open(out / "results.json") as f:
        results = json.load(f)
    assert results["epochs"] == 2 and len(results["history"]["loss"]) == 1
    assert not os.path.exists(out / "backup")  # removed when the run ended
    # Nothing left to resume: exit 2 naming --resume.
    assert cli.main(["train", "--method", "ijepa", "--out", str(out), "--resume"]) == 2
    assert "--resume" in capsys.readouterr().err


def test_resume_without_a_run_exits_2(tmp_path, capsys):
    assert cli.main(["train", "--method", "mae", "--out", str(tmp_path), "--resume"]) == 2
    assert "--resume" in capsys.readouterr().err


def test_dtype_policy(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "--method", "mae", "--config", "digits_micro", "--smoke",
                     "--dtype-policy", "mixed_bfloat16", "--out", str(out)]) == 0
    assert keras.config.dtype_policy().name == "float32"  # restored after building
    with open(out / "config.json") as f:
        assert json.load(f)["dtype_policy"] == "mixed_bfloat16"
    model = keras.models.load_model(out / "model.keras")
    assert model.encoder.dtype_policy.name == "mixed_bfloat16"
    with open(out / "results.json") as f:
        results = json.load(f)
    assert np.isfinite(results["last_loss"]) and 0.0 <= results["probe_accuracy"] <= 1.0
    assert cli.main(["train", "--method", "mae", "--config", "digits_micro", "--smoke",
                     "--dtype-policy", "float8", "--out", str(tmp_path / "bad")]) == 2
    assert "--dtype-policy" in capsys.readouterr().err
