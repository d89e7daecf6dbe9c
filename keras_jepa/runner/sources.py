"""Data for a run: the config's source, its normalisation, the pretraining pipeline and
the probe's arrays.

`data.source` names the images: the bundled "digits" and "mnist", "synthetic"
(`keras_jepa.data.synthetic_arrays`), a TFDS dataset ("tfds"), or the user's files
("folder", "npz"; `with_data`). `data.distractor` adds the patch distractor of
`keras_jepa.data.distractors` to the in-memory sources.
"""

import copy
import os

import numpy as np

from keras_jepa.runner.build import make_mask_generator
from keras_jepa.runner.config import ExperimentError
from keras_jepa.runner.config import _check_data_path
from keras_jepa.runner.config import check_config


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


def _synthetic_arrays(config, split):
    """The config's `keras_jepa.data.synthetic_arrays` (`data.num_examples`,
    `data.num_test_examples`, `data.num_classes`), seeded by the config's seed."""
    from keras_jepa.data.synthetic import synthetic_arrays

    data = config["data"]
    count = (data.get("num_examples", 256) if split == "train" else
             data.get("num_test_examples", 128))
    return synthetic_arrays(split, data["image_size"], count,
                            num_channels=data.get("num_channels", 3),
                            num_classes=data.get("num_classes", 4), seed=config["seed"])


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


def _distractor_range(config):
    """The range distracted images keep: [0, 1] widened by `_distractor_bound`."""
    bound = _distractor_bound(config)
    return -bound, 1.0 + bound


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
        value_range = (0, 1)
        if data.get("distractor"):
            # The model sees the distracted images themselves (not normalised), clipped
            # at the bound.
            value_range = _distractor_range(config)
            images = np.clip(_with_distractor(config, split, images),
                             *value_range).astype("float32")
        return kdata.from_arrays(images, labels, name=data["source"], value_range=value_range)
    return kdata.from_tfds(data["name"], split=data["splits"][split],
                           data_dir=data.get("data_dir"),
                           num_channels=data.get("num_channels"))


def _normalization(config):
    # Digits and synthetic images stay in [0, 1] (with a distractor, in the wider range
    # `_distractor_range`, as they are); natural images get ImageNet statistics.
    if config["data"].get("distractor"):
        return None, None
    normalize = config["data"].get("normalize", True)
    if normalize == "mnist":
        from keras_jepa.data.mnist import MNIST_MEAN
        from keras_jepa.data.mnist import MNIST_STD

        return MNIST_MEAN, MNIST_STD
    return ("imagenet", "imagenet") if normalize else (None, None)


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
