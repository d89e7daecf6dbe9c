"""Evaluating features: linear probe, kNN and RankMe, of a model or of a checkpoint."""

import os

import numpy as np

from keras_jepa import training
from keras_jepa.evaluation.monitors import effective_rank
from keras_jepa.runner.config import ExperimentError
from keras_jepa.runner.config import _check_data_path
from keras_jepa.runner.config import load_config
from keras_jepa.runner.micro_configs import digits_micro_config
from keras_jepa.runner.sources import data_has_labels
from keras_jepa.runner.sources import load_probe_arrays
from keras_jepa.runner.sources import with_data


def probe_accuracy(features, train, test, seed=0):
    """Test accuracy of the linear probe (`keras_jepa.evaluation.linear_probe`).

    A softmax classifier on features standardised with the training statistics,
    trained with `fit` (the probe's defaults: 100 epochs, AdamW, cosine decay), seeded.

    Args:
        features: function from images `[N, H, W, C]` to features `[N, D]`.
        train, test: `(images, labels)` pairs.
        seed: the probe's seed (the order of its batches).

    Returns:
        A float in [0, 1].

    Example:
    accuracy = keras_jepa.experiment.probe_accuracy(model.encode, train, test)
    """
    return feature_metrics(features(train[0]), train[1], features(test[0]), test[1],
                           seed=seed)["probe_accuracy"]


def feature_metrics(train_features, train_labels, test_features, test_labels, seed=0):
    """Linear-probe and kNN accuracy, and RankMe, of precomputed features.

    Args:
        train_features, train_labels: `[N, D]` features and `[N]` labels.
        test_features, test_labels: `[M, D]` and `[M]`.
        seed: the linear probe's seed.

    Returns:
        Dict with `probe_accuracy` (`keras_jepa.evaluation.linear_probe`),
        `knn_accuracy` (`keras_jepa.evaluation.knn_accuracy`, k=20, temperature 0.07)
        and `effective_rank` (RankMe of the test features).

    Example:
    metrics = keras_jepa.experiment.feature_metrics(train_x, train_y, test_x, test_y)
    """
    from keras_jepa import evaluation

    return {
        "probe_accuracy": evaluation.linear_probe(train_features, train_labels, test_features,
                                                  test_labels, seed=seed).accuracy,
        "knn_accuracy": evaluation.knn_accuracy(train_features, train_labels, test_features,
                                                test_labels),
        "effective_rank": effective_rank(test_features),
    }


def pixel_features(images):
    return np.asarray(images).reshape(len(images), -1)


def evaluate(model, config, probe_data=None):
    """Linear-probe and kNN accuracy and RankMe of `model.encode` features.

    Args:
        model: an `IJEPA` or `MAE` (anything with `encode`).
        config: a config dict.
        probe_data: optional `(train, test)` pairs, to load them once for many models.

    Returns:
        Dict with `probe_accuracy`, `knn_accuracy` and `effective_rank`.

    Example:
    metrics = keras_jepa.experiment.evaluate(keras.models.load_model(path), config)
    """
    train_data, test_data = probe_data or (load_probe_arrays(config, "train"),
                                           load_probe_arrays(config, "test"))
    return feature_metrics(model.encode(train_data[0]), train_data[1],
                           model.encode(test_data[0]), test_data[1])


def evaluate_checkpoint(model_path, config=None, data=None, image_size=None,
                        num_channels=None):
    """Loads a `.keras` checkpoint and probes it on the config's data or on `data`.

    Args:
        model_path: path to a `.keras` IJEPA or MAE (written by `train`, or saved from the
            Python API).
        config: name, path or dict; None reads `config.json` beside the checkpoint, or,
            with `data` and no config.json, takes the image size and channels from the
            model.
        data: an image folder or .npz with labels to probe on (see `with_data`).
        image_size, num_channels: with `data`: as in `with_data` (default the model's).

    Returns:
        Dict with `probe_accuracy`, `effective_rank` and `model`.

    Example:
    metrics = keras_jepa.experiment.evaluate_checkpoint("runs/ijepa/model.keras")
    """
    if not os.path.isfile(model_path):
        raise ExperimentError(f"`--model`: no checkpoint at {model_path!r} (expected a "
                              ".keras file written by `keras-jepa train`).")
    if data is not None:
        data = os.fspath(data)
        _check_data_path("npz" if data.endswith(".npz") else "folder", data, "`--data`")
    from_model = False
    if config is None:
        beside = os.path.join(os.path.dirname(model_path), "config.json")
        if os.path.isfile(beside):
            config = beside
        elif data is None:
            raise ExperimentError(
                f"`--config` or `--data` is needed: no config.json beside {model_path!r}.")
        else:
            config, from_model = digits_micro_config(), True
    config = load_config(config)
    try:
        model = training.load_model(model_path)
    except ValueError as error:
        raise ExperimentError(f"`--model`: {error}") from error
    if not hasattr(model, "encode"):
        raise ExperimentError(
            f"`--model` {model_path!r} holds a {type(model).__name__}, not a keras_jepa "
            "pretraining model (IJEPA or MAE) with `encode`.")
    encoder = getattr(model, "target_encoder", None) or getattr(model, "encoder", None)
    if from_model:
        # A model saved from the Python API: its encoder knows its input.
        height, _, channels = tuple(encoder.image_shape)
        config["encoder"]["patch_size"] = int(getattr(encoder, "patch_size", 1) or 1)
        config["data"]["image_size"] = int(height)
        config["data"]["num_channels"] = int(channels)
        config["name"] = os.path.basename(data)
    if data is not None:
        config = with_data(config, data, image_size,
                           num_channels if num_channels is not None else
                           config["data"].get("num_channels"))
        if not data_has_labels(config):
            raise ExperimentError(f"`--data` {data!r} has no labels to probe with (use "
                                  "class subfolders, or `labels` in the .npz).")
    data_config = config["data"]
    expected = (data_config["image_size"], data_config["image_size"],
                data_config["num_channels"])
    shape = tuple(getattr(encoder, "image_shape", expected))
    if shape != expected:
        raise ExperimentError(
            f"`--model` {model_path!r} takes images of shape {shape}, but `--config` "
            f"{config.get('name', '?')!r} gives {expected}: pass the config it was "
            "trained with (its config.json).")
    return {"model": model_path, **evaluate(model, config)}
