"""Configs: finding a config by name or path, loading it, checking it.

A config is a plain dict (see `keras_jepa.runner.micro_configs.digits_micro_config` for
every key). Config files are Python modules with `get_config(smoke=False)`, loaded by
path (`load_config`); the named ones ship in `keras_jepa/configs/`. Every bad input to
the runner raises `ExperimentError`.
"""

import copy
import importlib.util
import json
import os

METHODS = ("ijepa", "mae")
DATA_SOURCES = ("digits", "mnist", "tfds", "synthetic", "folder", "npz")
# Sources read from the user's files: `data.path` names an image folder or a .npz.
FILE_SOURCES = ("folder", "npz")
# The named configs ship inside the package (keras_jepa/configs/<name>.py), so a name
# resolves from any directory and after a plain install.
CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "configs")
_REQUIRED_KEYS = ("name", "data", "encoder", "predictor", "decoder", "masks", "batch_size",
                  "epochs", "optimizer", "seed")


class ExperimentError(ValueError):
    """Bad input to the runner (config, method, paths): the message names the argument."""


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


def check_method(method):
    if method not in METHODS:
        raise ExperimentError(f"`--method` must be one of {METHODS}, got {method!r}.")
    return method
