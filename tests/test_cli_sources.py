"""The command line on the user's own images: `--data` with an image folder or a .npz
(train, and evaluate without a config), bad paths answered with exit code 2."""

import json
import os
import shutil

import numpy as np
import pytest

from keras_jepa import cli
from keras_jepa import experiment

NUM_IMAGES = 200  # 3 batches of the smoke config's 64


def _images(channels, seed=0):
    """Two classes: bright top half or bright bottom half, plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, NUM_IMAGES)
    images = rng.uniform(0, 0.4, (NUM_IMAGES, 16, 16, channels))
    for i, label in enumerate(labels):
        images[i, :8] += 0.6 * (label == 0)
        images[i, 8:] += 0.6 * (label == 1)
    return (images * 255).astype("uint8"), labels.astype("int32")


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    import tensorflow as tf

    folder = tmp_path_factory.mktemp("folder")
    images, labels = _images(3)
    for i, (image, label) in enumerate(zip(images, labels)):
        os.makedirs(folder / f"class_{label}", exist_ok=True)
        tf.io.write_file(str(folder / f"class_{label}" / f"{i}.png"), tf.io.encode_png(image))
    return folder


@pytest.fixture(scope="module")
def npz_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("npz")
    images, labels = _images(1, seed=1)
    np.savez(folder / "labelled.npz", images=images, labels=labels)
    np.savez(folder / "unlabelled.npz", images=images.astype("float32") / 255.0)
    return folder


def _results(out):
    with open(out / "results.json") as f:
        return json.load(f)


def test_train_on_an_image_folder(image_folder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default config resolves from any directory
    out = tmp_path / "run"
    assert cli.main(["train", "--method", "mae", "--data", str(image_folder),
                     "--image-size", "16", "--smoke", "--out", str(out)]) == 0
    with open(out / "config.json") as f:
        config = json.load(f)
    assert config["data"]["source"] == "folder"
    assert config["data"]["num_channels"] == 3 and config["data"]["image_size"] == 16
    results = _results(out)
    assert np.isfinite(results["last_loss"]) and 0.0 <= results["probe_accuracy"] <= 1.0


def test_train_on_npz_and_evaluate_without_a_config(npz_files, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "--method", "ijepa", "--config", "digits_micro", "--data",
                     str(npz_files / "labelled.npz"), "--smoke", "--out", str(out)]) == 0
    assert _results(out)["probe_accuracy"] >= 0.0
    # A model saved from the Python API has no config.json beside it: --data suffices.
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(out / "model.keras", alone / "model.keras")
    code = cli.main(["evaluate", "--model", str(alone / "model.keras")])
    assert code == 2 and "--data" in capsys.readouterr().err
    assert cli.main(["evaluate", "--model", str(alone / "model.keras"), "--data",
                     str(npz_files / "labelled.npz"), "--out", str(tmp_path / "m.json")]) == 0
    with open(tmp_path / "m.json") as f:
        assert 0.0 <= json.load(f)["probe_accuracy"] <= 1.0


def test_unlabelled_npz_trains_and_skips_the_probe(npz_files, tmp_path):
    out = tmp_path / "run"
    assert cli.main(["train", "--method", "mae", "--data", str(npz_files / "unlabelled.npz"),
                     "--smoke", "--out", str(out)]) == 0
    results = _results(out)
    assert "probe_accuracy" not in results and "no labels" in results["probe"]


@pytest.mark.parametrize("argv, argument", [
    (["train", "--method", "mae", "--data", "no/such/folder", "--smoke"], "--data"),
    (["train", "--method", "mae", "--data", "missing.npz", "--smoke"], "--data"),
    (["evaluate", "--model", "{model}", "--data", "no/such/folder"], "--data"),
])
def test_bad_data_paths_exit_2_naming_the_argument(argv, argument, tmp_path, capsys):
    model = tmp_path / "model.keras"
    model.write_bytes(b"")
    argv = [a.format(model=model) for a in argv] + (
        ["--out", str(tmp_path / "run")] if argv[0] == "train" else [])
    assert cli.main(argv) == 2
    assert argument in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "run" / "model.keras")


def test_nan_pixels_in_the_data_exit_2_naming_the_image(npz_files, tmp_path, capsys):
    images = np.load(npz_files / "unlabelled.npz")["images"].copy()
    images[70, 3, 3, 0] = np.nan
    np.savez(tmp_path / "nan.npz", images=images)
    code = cli.main(["train", "--method", "mae", "--data", str(tmp_path / "nan.npz"),
                     "--smoke", "--out", str(tmp_path / "run")])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2, error
    assert error.startswith("keras-jepa train: error: `data.path` "), error
    assert error.endswith("`images` must be finite, but image 70 (of 200; 1 in all) holds "
                          "NaN or infinite values."), error


def test_invalid_batches_found_in_a_step_exit_2(npz_files, tmp_path, capsys, monkeypatch):
    # The built-in sources check their values before training; a batch found invalid
    # inside a step (here: the pipeline's second batch made NaN) ends the same way.
    import tensorflow as tf

    from keras_jepa.runner import train as run_training

    build = run_training.make_training_dataset

    def poisoned(config, method):
        dataset, steps, generator = build(config, method)
        def nan_if_second(i, batch):
            images = batch["images"]
            return {**batch, "images": tf.where(tf.equal(i, 1), images * float("nan"),
                                                images)}

        nan_second = dataset.enumerate().map(nan_if_second)
        return nan_second, steps, generator

    monkeypatch.setattr(run_training, "make_training_dataset", poisoned)
    code = cli.main(["train", "--method", "mae", "--data", str(npz_files / "unlabelled.npz"),
                     "--smoke", "--out", str(tmp_path / "run")])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2, error
    assert error.startswith("keras-jepa train: error: the data is invalid: Training stopped "
                            "at epoch 1, batch 2: the batch is invalid: `images` hold NaN"), error


def test_image_size_must_fit_the_patches(image_folder, tmp_path, capsys):
    assert cli.main(["train", "--method", "mae", "--data", str(image_folder),
                     "--image-size", "15", "--smoke", "--out", str(tmp_path)]) == 2
    assert "--image-size" in capsys.readouterr().err


def test_config_with_a_folder_source(image_folder):
    config = experiment.digits_micro_config(smoke=True)
    config["data"].update(source="folder", path=str(image_folder), num_channels=3)
    experiment.check_config(config)
    config["data"]["path"] = str(image_folder / "nothing")
    with pytest.raises(experiment.ExperimentError, match="data.path"):
        experiment.check_config(config)
