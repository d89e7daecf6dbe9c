"""Few-shot evaluation: probes trained on `shots` labelled examples per class.

`few_shot_indices` draws a stratified, seeded subset of a training set (exactly
`shots` examples of every class); `few_shot_evaluation` trains a linear probe or runs
kNN on such subsets for several shot counts and seeds, and reports the mean and
spread of the test accuracy.
"""

import numbers

import numpy as np

from keras_jepa.checks import check_features
from keras_jepa.checks import check_labels
from keras_jepa.checks import check_num_classes
from keras_jepa.checks import check_positive_int
from keras_jepa.checks import check_seed
from keras_jepa.evaluation.arrays import to_numpy
from keras_jepa.evaluation.knn import knn_accuracy
from keras_jepa.evaluation.linear_probe import linear_probe

CLASSIFIERS = ("linear", "knn")
DEFAULT_FEW_SHOT_K = 20


def few_shot_indices(labels, shots, seed, num_classes=None):
    """Indices of a stratified, seeded sample with exactly `shots` examples per class.

    Args:
        labels: `[N]` integer labels of the training set.
        shots: positive int, examples per class.
        seed: int ≥ 0; the same seed gives the same indices.
        num_classes: None samples every class present in `labels`; an int requires
            each of the classes `0 … num_classes - 1` to be present.

    Returns:
        A sorted int64 numpy array of `shots × classes` distinct indices into `labels`.

    Example:
    indices = keras_jepa.evaluation.few_shot_indices(train_labels, shots=5, seed=0)
    """
    if num_classes is not None:
        num_classes = check_num_classes(num_classes)
    labels = check_labels(to_numpy(labels), "labels", num_classes=num_classes)
    shots = check_positive_int(shots, "shots")
    seed = check_seed(seed)
    classes = np.arange(num_classes) if num_classes is not None else np.unique(labels)
    rng = np.random.default_rng(seed)
    chosen = []
    for label in classes:
        members = np.flatnonzero(labels == label)
        if len(members) < shots:
            raise ValueError(f"`shots` ({shots}) is more than class {int(label)} has: "
                             f"{len(members)} example(s) in `labels`.")
        chosen.append(rng.choice(members, size=shots, replace=False))
    return np.sort(np.concatenate(chosen)).astype("int64")


def few_shot_evaluation(train_features, train_labels, test_features, test_labels,
                        shots=(1, 5, 10), seeds=(0, 1, 2), classifier="linear",
                        **probe_kwargs):
    """Test accuracy of probes trained on few labelled examples, over several seeds.

    For every shot count and seed, `few_shot_indices(train_labels, shots, seed)`
    picks the training subset (every class of the training and test labels must have
    `shots` examples), and the classifier is trained on it and scored on the whole
    test set. The test examples are never sampled.

    Args:
        train_features, train_labels: `[N, D]` features and `[N]` labels to sample from.
        test_features, test_labels: `[M, D]` and `[M]`, the evaluation set.
        shots: positive ints, examples per class.
        seeds: ints ≥ 0, one sample (and one probe) per seed.
        classifier: "linear" (`linear_probe`, seeded with the same seed) or "knn"
            (`knn_accuracy`).
        **probe_kwargs: passed to `linear_probe` (e.g. `epochs`, `learning_rate`) or to
            `knn_accuracy` (`k`, `temperature`, `batch_size`). For "knn", `k` defaults
            to `min(20, shots × classes)`, the whole sample when it is smaller than 20.

    Returns:
        `{shots: {"mean": float, "std": float, "accuracies": [float per seed]}}`, with
        the population standard deviation over seeds.

    Example:
    results = keras_jepa.evaluation.few_shot_evaluation(
        train_x, train_y, test_x, test_y, shots=(1, 5), seeds=(0, 1))
    print(results[5]["mean"])
    """
    if classifier not in CLASSIFIERS:
        raise ValueError(f"`classifier` must be 'linear' or 'knn', got {classifier!r}.")
    train_features = check_features(to_numpy(train_features), "train_features")
    test_features = check_features(to_numpy(test_features), "test_features")
    train_labels = check_labels(to_numpy(train_labels), "train_labels", len(train_features),
                                "train_features")
    test_labels = check_labels(to_numpy(test_labels), "test_labels", len(test_features),
                               "test_features")
    num_classes = probe_kwargs.pop("num_classes", None)
    num_classes = check_num_classes(num_classes, train_labels, test_labels)
    if isinstance(shots, numbers.Integral):
        shots = (shots,)
    if isinstance(seeds, numbers.Integral):
        seeds = (seeds,)
    shots = [check_positive_int(value, "shots") for value in shots]
    seeds = [check_seed(value) for value in seeds]
    if not shots or not seeds:
        raise ValueError("`shots` and `seeds` must each hold at least one value.")

    results = {}
    for shot in shots:
        accuracies = []
        for seed in seeds:
            indices = few_shot_indices(train_labels, shot, seed, num_classes=num_classes)
            features, labels = train_features[indices], train_labels[indices]
            if classifier == "linear":
                accuracy = linear_probe(features, labels, test_features, test_labels,
                                        num_classes=num_classes, seed=seed,
                                        **probe_kwargs).accuracy
            else:
                options = dict(probe_kwargs)
                options.setdefault("k", min(DEFAULT_FEW_SHOT_K, len(indices)))
                accuracy = knn_accuracy(features, labels, test_features, test_labels,
                                        num_classes=num_classes, **options)
            accuracies.append(float(accuracy))
        results[shot] = {"mean": float(np.mean(accuracies)),
                         "std": float(np.std(accuracies)),
                         "accuracies": accuracies}
    return results
