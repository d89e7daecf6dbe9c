"""The linear probe: a softmax classifier trained with `fit` on frozen features.

The probe is a Keras model, `Normalization` (the training features' mean and standard
deviation, fixed) followed by one `Dense` softmax layer (no BatchNorm, zero-initialised),
trained with AdamW on a cosine-decayed learning rate. Its input pipeline is
`keras_jepa.data.make_feature_dataset`, or any `tf.data.Dataset` of `(features, labels)`
batches, so features larger than memory can be streamed. Zero initialisation and a
stateless, seeded shuffle make the result a pure function of the features and `seed`.
"""

import dataclasses
import math

import keras
import numpy as np
from keras import ops

from keras_jepa.checks import check_features
from keras_jepa.checks import check_labels
from keras_jepa.checks import check_non_negative_number
from keras_jepa.checks import check_num_classes
from keras_jepa.checks import check_positive_int
from keras_jepa.checks import check_positive_number
from keras_jepa.checks import check_seed
from keras_jepa.evaluation.arrays import is_dataset
from keras_jepa.evaluation.arrays import to_numpy

DEFAULT_LEARNING_RATE = 1e-2
DEFAULT_WEIGHT_DECAY = 1e-4


@dataclasses.dataclass
class ProbeResult:
    """What `linear_probe` returns.

    Attributes:
        accuracy: test accuracy, a float in [0, 1].
        train_accuracy: accuracy on the training features after training.
        history: `fit`'s history, `{"loss": [...], "accuracy": [...]}` per epoch.
        model: the trained Keras classifier: raw features `[B, D]` in, class
            probabilities `[B, num_classes]` out (standardisation included).
    """

    accuracy: float
    train_accuracy: float
    history: dict
    model: keras.Model


def _split_batch(element, name):
    if not isinstance(element, (tuple, list)) or len(element) != 2:
        raise ValueError(f"`{name}` must be a dataset of (features, labels) batches.")
    features, labels = np.asarray(element[0]), np.asarray(element[1])
    if features.ndim != 2:
        raise ValueError(f"`{name}` must yield feature batches [B, D], got shape "
                         f"{features.shape}.")
    return features, labels.reshape(-1) if labels.ndim == 2 and labels.shape[1] == 1 else labels


def _dataset_statistics(dataset, name, num_classes):
    """One pass over a dataset: count, batches, dimension, float64 sums, label range."""
    count = batches = 0
    total = squares = None
    largest = -1
    for element in dataset.as_numpy_iterator():
        features, labels = _split_batch(element, name)
        labels = check_labels(to_numpy(labels), f"{name} labels", len(features), f"{name} features",
                              num_classes)
        features = features.astype("float64")
        if total is None:
            total = np.zeros(features.shape[1])
            squares = np.zeros(features.shape[1])
        elif features.shape[1] != len(total):
            raise ValueError(f"`{name}` yields features of width {features.shape[1]} after "
                             f"{len(total)}; every batch must have the same width.")
        total += features.sum(0)
        squares += (features**2).sum(0)
        largest = max(largest, int(labels.max()))
        count += len(features)
        batches += 1
    if count == 0:
        raise ValueError(f"`{name}` is an empty dataset.")
    mean = total / count
    variance = np.maximum(squares / count - mean**2, 0.0)
    return {"count": count, "batches": batches, "dim": len(total), "mean": mean,
            "variance": variance, "largest_label": largest}


def _feature_batches(features, labels, batch_size):
    """`(features, labels)` numpy batches of arrays or of a dataset."""
    if is_dataset(features):
        for element in features.as_numpy_iterator():
            yield _split_batch(element, "dataset")
        return
    for start in range(0, len(features), batch_size):
        yield features[start:start + batch_size], labels[start:start + batch_size]


def probe_predictions(model, features, batch_size=256):
    """Predicted classes of a trained probe on `[N, D]` features, in batches.

    Args:
        model: `ProbeResult.model`.
        features: `[N, D]` array.
        batch_size: rows per forward pass.

    Returns:
        An int64 numpy array `[N]`.

    Example:
    classes = keras_jepa.evaluation.probe_predictions(result.model, test_features)
    """
    features = check_features(to_numpy(features), "features")
    batch_size = check_positive_int(batch_size, "batch_size")
    outputs = [ops.convert_to_numpy(ops.argmax(model(features[start:start + batch_size],
                                                     training=False), axis=-1))
               for start in range(0, len(features), batch_size)]
    return np.concatenate(outputs).astype("int64")


def _accuracy(model, features, labels, batch_size, num_classes, name):
    correct = total = 0
    for batch_features, batch_labels in _feature_batches(features, labels, batch_size):
        if is_dataset(features):
            batch_labels = check_labels(to_numpy(batch_labels), f"{name} labels",
                                        len(batch_features), f"{name} features", num_classes)
        predicted = probe_predictions(model, batch_features, batch_size)
        correct += int(np.sum(predicted == batch_labels))
        total += len(batch_labels)
    return correct / total


def build_probe(input_dim, num_classes, mean=None, variance=None):
    """The probe's classifier: optional fixed standardisation, then Dense softmax.

    Args:
        input_dim: feature width D.
        num_classes: number of classes.
        mean, variance: `[D]` statistics for a `keras.layers.Normalization` layer, or
            None for no standardisation.

    Returns:
        An uncompiled `keras.Model`, `[B, D]` → `[B, num_classes]` probabilities.

    Example:
    model = keras_jepa.evaluation.build_probe(64, 10)
    """
    # float32 whatever the global dtype policy: under `mixed_bfloat16` a bf16 probe
    # would round the features and its logits and report a different accuracy.
    inputs = keras.Input((input_dim,), name="features")
    x = inputs
    if mean is not None:
        x = keras.layers.Normalization(mean=np.asarray(mean, "float32"),
                                       variance=np.asarray(variance, "float32"),
                                       dtype="float32", name="standardize")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32",
                                 kernel_initializer="zeros", name="classifier")(x)
    return keras.Model(inputs, outputs, name="linear_probe")


def linear_probe(train_features, train_labels, test_features, test_labels, num_classes=None,
                 epochs=100, batch_size=256, learning_rate=DEFAULT_LEARNING_RATE,
                 weight_decay=DEFAULT_WEIGHT_DECAY, standardize=True, seed=0, verbose=0):
    """Trains a linear softmax classifier on frozen features and reports its accuracy.

    The features are standardised with the training set's per-dimension mean and
    standard deviation (dimensions that never vary keep a scale of 1), then one
    zero-initialised `Dense` softmax layer is trained for `epochs` passes with AdamW
    (`learning_rate` decayed to 0 with a cosine over all steps, decoupled
    `weight_decay`) and sparse categorical cross-entropy, through `model.fit`.

    Arrays are fed by `keras_jepa.data.make_feature_dataset` (a new, seeded order
    every epoch). Instead of arrays, `train_features` and `test_features` may be
    `tf.data.Dataset`s of `(features [B, D], labels [B])` batches, with
    `train_labels` / `test_labels` None: then the training dataset is read once more
    before training to count it, check its labels and (with `standardize`) compute
    the mean and variance in float64, and it is used as is for `fit` (its own order,
    shuffled or not: the seed does not reach it).

    Args:
        train_features: `[N, D]` array, or a dataset of `(features, labels)` batches.
        train_labels: `[N]` integer array, or None with a dataset.
        test_features: `[M, D]` array, or a dataset of `(features, labels)` batches.
        test_labels: `[M]` integer array, or None with a dataset.
        num_classes: classes of the classifier; None: one more than the largest label
            seen in training or test data.
        epochs: passes over the training features.
        batch_size: rows per step (arrays) and per prediction.
        learning_rate: AdamW's peak learning rate.
        weight_decay: AdamW's decoupled weight decay.
        standardize: standardise the features with the training statistics.
        seed: int ≥ 0, the order of the training batches (arrays only).
        verbose: `fit`'s verbosity.

    Returns:
        A `ProbeResult` (`accuracy`, `train_accuracy`, `history`, `model`).

    Example:
    result = keras_jepa.evaluation.linear_probe(train_x, train_y, test_x, test_y)
    print(result.accuracy)
    """
    from keras_jepa.data import make_feature_dataset

    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    learning_rate = check_positive_number(learning_rate, "learning_rate")
    weight_decay = check_non_negative_number(weight_decay, "weight_decay")
    seed = check_seed(seed)
    if not isinstance(standardize, (bool, np.bool_)):
        raise ValueError(f"`standardize` must be True or False, got {standardize!r}.")
    if num_classes is not None:
        num_classes = check_num_classes(num_classes)

    train_is_dataset, test_is_dataset = is_dataset(train_features), is_dataset(test_features)
    for name, is_data, labels in (("train", train_is_dataset, train_labels),
                                  ("test", test_is_dataset, test_labels)):
        if is_data and labels is not None:
            raise ValueError(f"`{name}_labels` must be None when `{name}_features` is a "
                             "dataset (it yields (features, labels) batches).")
        if not is_data and labels is None:
            raise ValueError(f"`{name}_labels` is needed with `{name}_features` arrays.")

    if train_is_dataset:
        stats = _dataset_statistics(train_features, "train_features", num_classes)
        dim, mean, variance = stats["dim"], stats["mean"], stats["variance"]
        steps_per_epoch, largest = stats["batches"], stats["largest_label"]
    else:
        train_features = check_features(to_numpy(train_features), "train_features")
        train_labels = check_labels(to_numpy(train_labels), "train_labels", len(train_features),
                                    "train_features", num_classes)
        dim = train_features.shape[1]
        mean = train_features.mean(0, dtype="float64")
        variance = train_features.var(0, dtype="float64")
        steps_per_epoch, largest = math.ceil(len(train_features) / batch_size), train_labels.max()
    if test_is_dataset:
        test_largest = _dataset_statistics(test_features, "test_features",
                                           num_classes)["largest_label"]
    else:
        test_features = check_features(to_numpy(test_features), "test_features")
        test_labels = check_labels(to_numpy(test_labels), "test_labels", len(test_features),
                                   "test_features", num_classes)
        test_largest = test_labels.max()
        if test_features.shape[1] != dim:
            raise ValueError(f"`test_features` must have {dim} columns like the training "
                             f"features, got {test_features.shape[1]}.")
    if num_classes is None:
        num_classes = check_num_classes(None, [largest], [test_largest])

    if standardize:
        # A dimension that never varies keeps a scale of 1 (as scikit-learn's scaler does),
        # so an unseen value there is not blown up by a zero deviation.
        variance = np.where(variance > 1e-12, variance, 1.0)
    model = build_probe(dim, num_classes, *((mean, variance) if standardize else (None, None)))
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate,
                                                      decay_steps=epochs * steps_per_epoch)
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=weight_decay),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    if train_is_dataset:
        history = model.fit(train_features, epochs=epochs, verbose=verbose, shuffle=False)
    else:
        dataset = make_feature_dataset(train_features, train_labels, batch_size, shuffle=True,
                                       seed=seed, epochs=epochs)
        history = model.fit(dataset, epochs=epochs, steps_per_epoch=steps_per_epoch,
                            verbose=verbose, shuffle=False)
    history = {key: [float(value) for value in values]
               for key, values in history.history.items()}
    return ProbeResult(
        accuracy=_accuracy(model, test_features, test_labels, batch_size, num_classes,
                           "test_features"),
        train_accuracy=_accuracy(model, train_features, train_labels, batch_size,
                                 num_classes, "train_features"),
        history=history,
        model=model,
    )
