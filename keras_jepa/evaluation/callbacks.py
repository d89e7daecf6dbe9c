"""`ProbeCallback`: a cheap probe on frozen features every few epochs of pretraining."""

import math

import keras
import numpy as np

from keras_jepa.checks import check_positive_int
from keras_jepa.evaluation.features import extract_features
from keras_jepa.evaluation.knn import knn_accuracy
from keras_jepa.evaluation.linear_probe import linear_probe

METHODS = ("knn", "linear")


def _check_split(images, labels, images_name, labels_name):
    images = np.asarray(keras.ops.convert_to_numpy(images))
    labels = np.asarray(keras.ops.convert_to_numpy(labels))
    if images.ndim != 4:
        raise ValueError(
            f"`{images_name}` must be images [N, H, W, C], got shape {images.shape}."
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(
            f"`{labels_name}` must be a vector with one label per image of "
            f"`{images_name}` ({len(images)}), got shape {labels.shape}."
        )
    if len(images) == 0:
        raise ValueError(f"`{images_name}` is empty; it must hold at least one image.")
    return images, labels


class ProbeCallback(keras.callbacks.Callback):
    """Probes the model's frozen features every `every` epochs and logs the accuracy.

    At the end of epochs `every − 1, 2·every − 1, …` (0-based) it extracts pooled
    features of the train and test images with `keras_jepa.evaluation.extract_features`
    and fits a kNN classifier (`knn_accuracy`, the default: a few matrix products) or a
    linear probe (`linear_probe`), and writes the test accuracy into the epoch logs under
    `name`. On the other epochs it writes NaN, so `history.history[name]` has one entry
    per epoch (aligned with `history.epoch`) and `CSVLogger`, which fixes its columns at
    the first epoch, gets the column even when the first epoch has no probe.

    The value reaches `History` (which Keras runs after the callbacks you pass) and the
    progress bar; a `CSVLogger` or `EarlyStopping` sees it only when it comes after this
    callback in the `callbacks` list. The accuracies are also kept in `results`.

    Args:
        train_images: `[N, H, W, C]` images the probe is fitted on.
        train_labels: `[N]` integer labels.
        test_images: `[M, H, W, C]` images the accuracy is measured on.
        test_labels: `[M]` integer labels.
        every: probe every this many epochs (a positive integer).
        method: "knn" (default) or "linear".
        encoder: which encoder to probe: "target" (default) or "context" for an
            `IJEPA`; an `MAE`'s single encoder answers to either.
        pool: "mean", the average over tokens (the only pooling a probe takes).
        name: the log key.
        batch_size: images per forward pass of the feature extraction.
        **probe_kwargs: passed to `knn_accuracy` (`k`, `temperature`) or to
            `linear_probe` (`epochs`, `learning_rate`, ...).

    Attributes:
        results: dict mapping each probed epoch (0-based) to its accuracy.

    Example:
    probe = keras_jepa.evaluation.ProbeCallback(x_train, y_train, x_test, y_test, every=5)
    history = model.fit(dataset, epochs=50, callbacks=[probe])
    history.history["probe_acc"]  # NaN except at epochs 4, 9, ...
    """

    def __init__(self, train_images, train_labels, test_images, test_labels, every=1,
                 method="knn", encoder="target", pool="mean", name="probe_acc",
                 batch_size=256, **probe_kwargs):
        super().__init__()
        check_positive_int(every, "every", whole_floats=True)
        if method not in METHODS:
            raise ValueError(f"`method` must be one of {METHODS}, got {method!r}.")
        if pool != "mean":
            raise ValueError(f"`pool` must be 'mean' (a probe takes [N, D] features), got "
                             f"{pool!r}.")
        if not isinstance(name, str) or not name:
            raise ValueError(f"`name` must be a non-empty string, got {name!r}.")
        check_positive_int(batch_size, "batch_size", whole_floats=True)
        self.train_images, self.train_labels = _check_split(
            train_images, train_labels, "train_images", "train_labels"
        )
        self.test_images, self.test_labels = _check_split(
            test_images, test_labels, "test_images", "test_labels"
        )
        self.every = int(every)
        self.method = method
        self.encoder = encoder
        self.pool = pool
        self.name = name
        self.batch_size = int(batch_size)
        self.probe_kwargs = probe_kwargs
        self.results = {}

    def probe(self, model):
        """Test accuracy of the probe on `model`'s current features (a float)."""

        def features(images):
            return extract_features(model, images, encoder=self.encoder, pool=self.pool,
                                    batch_size=self.batch_size)

        train_features = features(self.train_images)
        test_features = features(self.test_images)
        if self.method == "knn":
            return float(knn_accuracy(train_features, self.train_labels, test_features,
                                      self.test_labels, **self.probe_kwargs))
        result = linear_probe(train_features, self.train_labels, test_features,
                              self.test_labels, **self.probe_kwargs)
        return float(result.accuracy)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            accuracy = self.probe(self.model)
            self.results[epoch] = accuracy
        else:
            accuracy = math.nan
        if logs is not None:
            logs[self.name] = accuracy
