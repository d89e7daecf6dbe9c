"""Frozen features of a pretrained model, for probes: arrays or tf.data datasets in.

`extract_features` and `extract_labeled_features` run the same forward pass as
`model.encode` (`keras_jepa.models.feature_extraction.pooled_features`: whole images,
`training=False`, pooled tokens), so a probe sees exactly the features `encode` gives.
"""

import numpy as np

from keras_jepa.checks import check_labels
from keras_jepa.evaluation.arrays import is_dataset
from keras_jepa.evaluation.arrays import to_numpy
from keras_jepa.models.feature_extraction import POOLS
from keras_jepa.models.feature_extraction import pooled_features
from keras_jepa.models.ijepa import IJEPA
from keras_jepa.models.mae import MAE
from keras_jepa.models.vit_encoder import ViTEncoder

ENCODERS = ("target", "context")
_SINGLE_ENCODER_NAMES = ("target", "context", "encoder")


def select_encoder(model, encoder="target"):
    """The encoder network of `model` that `encoder` names.

    Args:
        model: an `IJEPA`, an `MAE` or a bare `ViTEncoder`.
        encoder: for an `IJEPA`, "target" (the EMA encoder, as the reference
            evaluates) or "context". An `MAE` or a `ViTEncoder` has a single encoder:
            "target", "context" and "encoder" all name it, so one call works for
            every model.

    Returns:
        The `ViTEncoder` to run.

    Example:
    network = keras_jepa.evaluation.select_encoder(ijepa, "context")
    """
    if isinstance(model, IJEPA):
        if encoder not in ENCODERS:
            raise ValueError(f"`encoder` must be 'target' or 'context' for an IJEPA, got "
                             f"{encoder!r}.")
        return model.target_encoder if encoder == "target" else model.context_encoder
    if isinstance(model, (MAE, ViTEncoder)):
        if encoder not in _SINGLE_ENCODER_NAMES:
            raise ValueError(f"`encoder` must be 'target', 'context' or 'encoder' (all name "
                             f"the single encoder of a {type(model).__name__}), got "
                             f"{encoder!r}.")
        return model.encoder if isinstance(model, MAE) else model
    raise ValueError(f"`model` must be an IJEPA, an MAE or a ViTEncoder, got "
                     f"{type(model).__name__}.")


def _check_pool(pool):
    if pool not in POOLS:
        raise ValueError(f"`pool` must be 'mean' or 'none', got {pool!r}.")


def _split_element(element, index):
    """`(images, labels or None)` of one dataset element."""
    if isinstance(element, dict):
        if "images" not in element:
            raise ValueError(f"`dataset` elements that are dicts must hold 'images'; element "
                             f"{index} has the keys {sorted(element)}.")
        return element["images"], element.get("labels")
    if isinstance(element, (tuple, list)):
        if len(element) not in (1, 2):
            raise ValueError(f"`dataset` elements that are tuples must be (images,) or "
                             f"(images, labels); element {index} has {len(element)} parts.")
        return element[0], (element[1] if len(element) == 2 else None)
    return element, None


def _check_image_batch(images, name):
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"`{name}` must hold image batches [B, H, W, C], got shape "
                         f"{images.shape} (batch an unbatched dataset with `.batch(n)`).")
    return images


def _dataset_features(network, dataset, pool, batch_size, need_labels):
    features, labels = [], []
    for index, element in enumerate(dataset.as_numpy_iterator()):
        images, batch_labels = _split_element(element, index)
        images = _check_image_batch(images, "images")
        if need_labels:
            if batch_labels is None:
                raise ValueError(
                    "`dataset` must yield labels: (images, labels) tuples or dicts with "
                    f"'images' and 'labels'; element {index} has none.")
            labels.append(np.asarray(batch_labels).reshape(-1))
        if len(images):
            features.append(pooled_features(network, images, pool=pool,
                                            batch_size=batch_size))
    if not features:
        raise ValueError("`images` is an empty dataset; it must yield at least one image.")
    features = np.concatenate(features, axis=0)
    return features, (np.concatenate(labels, axis=0) if need_labels else None)


def extract_features(model, images, encoder="target", pool="mean", batch_size=256):
    """Features of `images` from a frozen encoder, computed in batches.

    The forward pass of `model.encode`: whole images, `training=False`, tokens pooled.

    Args:
        model: an `IJEPA`, an `MAE` or a bare `ViTEncoder`.
        images: `[N, H, W, C]` array or tensor, or a `tf.data.Dataset` of image
            batches: `[B, H, W, C]` tensors, dicts holding "images" (other keys, masks
            or labels, are ignored), or `(images, labels)` tuples (labels ignored; use
            `extract_labeled_features` to keep them).
        encoder: "target" (default) or "context" for an `IJEPA`; an `MAE` or a
            `ViTEncoder` has one encoder, which "target", "context" and "encoder" all
            name.
        pool: "mean" (average over tokens, `[N, D]`) or "none" (all tokens,
            `[N, tokens, D]`).
        batch_size: images per forward pass.

    Returns:
        A float32 numpy array `[N, D]` (or `[N, tokens, D]` for `pool="none"`).

    Example:
    features = keras_jepa.evaluation.extract_features(model, images, encoder="target")
    """
    network = select_encoder(model, encoder)
    _check_pool(pool)
    if is_dataset(images):
        return _dataset_features(network, images, pool, batch_size, need_labels=False)[0]
    images = _check_image_batch(to_numpy(images), "images")
    if len(images) == 0:
        raise ValueError("`images` is empty; it must hold at least one image.")
    return pooled_features(network, images, pool=pool, batch_size=batch_size)


def extract_labeled_features(model, dataset, encoder="target", pool="mean", batch_size=256):
    """Features and labels of a labelled dataset, for probes.

    Args:
        model: an `IJEPA`, an `MAE` or a bare `ViTEncoder`.
        dataset: a `tf.data.Dataset` of batches that are `(images, labels)` tuples or
            dicts with "images" and "labels" (as `keras_jepa.data.make_eval_dataset`
            yields), or an `(images, labels)` pair of arrays.
        encoder: as in `extract_features`.
        pool: as in `extract_features`.
        batch_size: images per forward pass.

    Returns:
        `(features, labels)`: numpy arrays `[N, D]` (or `[N, tokens, D]`) and `[N]`.

    Example:
    train = keras_jepa.data.make_eval_dataset(keras_jepa.data.from_digits("train"), 16, 256)
    features, labels = keras_jepa.evaluation.extract_labeled_features(model, train)
    """
    network = select_encoder(model, encoder)
    _check_pool(pool)
    if is_dataset(dataset):
        features, labels = _dataset_features(network, dataset, pool, batch_size,
                                             need_labels=True)
    else:
        if not isinstance(dataset, (tuple, list)) or len(dataset) != 2:
            raise ValueError("`dataset` must be a tf.data.Dataset or an (images, labels) "
                             f"pair of arrays, got {type(dataset).__name__}.")
        images = _check_image_batch(to_numpy(dataset[0]), "images")
        if len(images) == 0:
            raise ValueError("`dataset` is empty; it must hold at least one image.")
        labels = to_numpy(dataset[1])
        features = pooled_features(network, images, pool=pool, batch_size=batch_size)
    labels = check_labels(to_numpy(labels), "labels", len(features), "images")
    return features, labels
