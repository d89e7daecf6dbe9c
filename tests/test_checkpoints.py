"""Atomic checkpoints, checked loading, and the NaN stop that keeps the last good state."""

import math
import os

import keras
import numpy as np
import pytest
from helpers import PoisonAtEpoch
from helpers import snapshot
from helpers import tiny_encoder
from keras import ops

from keras_jepa import experiment
from keras_jepa import training
from keras_jepa.models import IJEPA
from keras_jepa.models import MAE
from keras_jepa.models import JEPAPredictor


def micro_ijepa(**encoder_overrides):
    encoder = tiny_encoder(**{"depth": 1, **encoder_overrides})
    predictor = JEPAPredictor.for_encoder(encoder, hidden_dim=8, depth=1, num_heads=2)
    return IJEPA(encoder, predictor, total_steps=4)


def micro_mae():
    model = MAE(tiny_encoder(depth=1), mask_ratio=0.5, seed=0)
    model.compile(optimizer=training.ijepa_optimizer(total_steps=8))
    return model


@pytest.mark.parametrize("name", ["model.keras", "model.weights.h5"])
def test_a_failed_write_leaves_the_previous_checkpoint_loadable(tmp_path, monkeypatch, name):
    path = str(tmp_path / name)
    model = micro_ijepa()
    training.save_atomically(model, path)
    saved = snapshot(model)
    for variable in model.weights:
        variable.assign(np.ones(variable.shape, "float32"))

    method = "save_weights" if name.endswith(".weights.h5") else "save"

    def killed_mid_write(filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"PK\x03\x04 half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(model, method, killed_mid_write)
    with pytest.raises(OSError, match="disk full"):
        training.save_atomically(model, path)
    assert os.listdir(tmp_path) == [name]  # the temporary file is gone

    fresh = micro_ijepa()
    training.load_checkpoint(fresh, path)
    for loaded, expected in zip(snapshot(fresh), saved):
        np.testing.assert_array_equal(loaded, expected)


def test_save_atomically_rejects_an_unknown_suffix(tmp_path):
    with pytest.raises(ValueError, match=r"`path` must end in '\.keras'"):
        training.save_atomically(micro_ijepa(), str(tmp_path / "model.h5"))


@pytest.mark.parametrize("saved_depth, loaded_depth, kind", [(2, 1, "Unexpected"),
                                                             (1, 2, "Missing")])
def test_checkpoint_of_another_depth_is_refused_naming_the_weights(
        tmp_path, saved_depth, loaded_depth, kind):
    path = str(tmp_path / "other.weights.h5")
    micro_ijepa(depth=saved_depth).save_weights(path)
    model = micro_ijepa(depth=loaded_depth)
    before = snapshot(model)
    with pytest.raises(ValueError, match=kind) as error:
        training.load_checkpoint(model, path)
    message = str(error.value)
    assert "context_encoder/blocks/transformer_block_1/qkv/vars/0" in message
    assert "nothing was loaded" in message
    for after, expected in zip(snapshot(model), before):
        np.testing.assert_array_equal(after, expected)


def test_checkpoint_of_another_width_lists_the_shapes(tmp_path):
    path = str(tmp_path / "wide.keras")
    wide = micro_ijepa(hidden_dim=24)
    wide.save(path)
    mismatches = training.checkpoint_mismatches(micro_ijepa(hidden_dim=16), path)
    assert not mismatches["missing"] and not mismatches["unexpected"]
    shapes = dict((name, (stored, wanted)) for name, stored, wanted in mismatches["shape"])
    assert shapes["context_encoder/blocks/transformer_block/qkv/vars/0"] == ((24, 72), (16, 48))
    with pytest.raises(ValueError, match=r"Shape mismatches .*checkpoint \(24, 72\) vs "
                                         r"model \(16, 48\)"):
        training.load_checkpoint(micro_ijepa(hidden_dim=16), path)


def test_nan_loss_stops_the_run_and_keeps_the_last_finite_checkpoint(tmp_path):
    images = np.random.default_rng(0).uniform(size=(8, 8, 8, 1)).astype("float32")
    path = str(tmp_path / "model.keras")
    checkpoint = training.SafeModelCheckpoint(path)
    poison = PoisonAtEpoch(1)
    model = micro_mae()
    history = model.fit(images, batch_size=4, epochs=3, verbose=0, callbacks=[
        checkpoint, keras.callbacks.TerminateOnNaN(), poison]).history
    assert len(history["loss"]) == 2 and not math.isfinite(history["loss"][1])
    assert checkpoint.last_saved_epoch == 1
    assert checkpoint.skipped == [(2, "loss is nan")]

    restored = micro_mae()
    training.load_checkpoint(restored, path)
    assert not training.non_finite_weights(restored)
    for loaded, expected in zip(snapshot(restored), poison.before):
        np.testing.assert_array_equal(loaded, expected)
    with pytest.raises(FloatingPointError, match="epoch 1.*kept at .*model.keras"):
        experiment._check_finite(history, "mae", checkpoint)


def test_checkpoint_refuses_non_finite_weights_even_with_a_finite_loss(tmp_path):
    model = micro_mae()
    variable = model.encoder.weights[0]
    variable.assign(ops.full(variable.shape, math.inf))
    checkpoint = training.SafeModelCheckpoint(str(tmp_path / "model.keras"))
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(0, {"loss": 0.5})
    assert not os.path.exists(tmp_path / "model.keras")
    assert checkpoint.skipped[0][0] == 1
    assert variable.path in checkpoint.skipped[0][1]


@pytest.mark.parametrize("name", ["model.keras", "model.weights.h5"])
def test_truncated_or_missing_checkpoints_are_named_and_nothing_loads(tmp_path, name):
    path = tmp_path / name
    model = micro_ijepa()
    model.save(path) if name.endswith(".keras") else model.save_weights(path)
    data = path.read_bytes()
    truncated = tmp_path / f"truncated.{name}"
    truncated.write_bytes(data[: len(data) // 2])
    before = snapshot(model)
    with pytest.raises(ValueError, match="truncated") as error:
        training.load_checkpoint(model, str(truncated))
    assert str(truncated) in str(error.value)
    for after, expected in zip(snapshot(model), before):
        np.testing.assert_array_equal(after, expected)
    missing = str(tmp_path / f"missing.{name}")
    with pytest.raises(ValueError, match="does not exist") as error:
        training.load_checkpoint(model, missing)
    assert missing in str(error.value)


def test_load_model_checks_the_file_and_restores_the_model(tmp_path):
    model = micro_mae()
    path = tmp_path / "mae.keras"
    model.save(path)
    images = np.random.default_rng(0).random((2, *model.encoder.image_shape), "float32")
    restored = training.load_model(str(path))
    np.testing.assert_allclose(restored.encode(images), model.encode(images), atol=1e-6)
    truncated = tmp_path / "cut.keras"
    truncated.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(ValueError, match="cut.keras"):
        training.load_model(str(truncated))
    with pytest.raises(ValueError, match="'.keras'"):
        training.load_model(str(tmp_path / "mae.weights.h5"))
