"""Weighted k-nearest-neighbour classification on frozen features (DINO's kNN).

Features are L2-normalised; a query's neighbours are the `k` training features with the
largest cosine similarity, and each votes for its class with weight
`exp(similarity / temperature)`; the class with the largest total wins (ties go to the
smaller class index). Written in keras.ops, so it runs on the backend's device; the
queries are processed in chunks of `batch_size`, which bounds the similarity matrix at
`batch_size × N_train` floats.
"""

import numpy as np
from keras import ops

from keras_jepa.checks import check_features
from keras_jepa.checks import check_labels
from keras_jepa.checks import check_num_classes
from keras_jepa.checks import check_positive_int
from keras_jepa.checks import check_positive_number
from keras_jepa.evaluation.arrays import to_numpy


def _normalized(features):
    features = ops.convert_to_tensor(features, "float32")
    norms = ops.sqrt(ops.sum(ops.square(features), axis=1, keepdims=True))
    return features / ops.maximum(norms, 1e-12)


def knn_classify(train_features, train_labels, query_features, k=20, temperature=0.07,
                 num_classes=None, batch_size=256):
    """Predicts the classes of `query_features` by a similarity-weighted vote of neighbours.

    Args:
        train_features: `[N, D]` features of the labelled examples.
        train_labels: `[N]` integer labels.
        query_features: `[M, D]` features to classify.
        k: number of neighbours, 1 ≤ k ≤ N.
        temperature: > 0; votes are weighted by `exp(cosine similarity / temperature)`.
        num_classes: number of classes; None: one more than the largest training label.
        batch_size: queries per chunk (memory: `batch_size × N` floats at a time).

    Returns:
        An int64 numpy array `[M]` of predicted classes.

    Example:
    predicted = keras_jepa.evaluation.knn_classify(train_x, train_y, test_x, k=20)
    """
    train_features = check_features(to_numpy(train_features), "train_features")
    query_features = check_features(to_numpy(query_features), "query_features")
    if query_features.shape[1] != train_features.shape[1]:
        raise ValueError(f"`query_features` must have {train_features.shape[1]} columns like "
                         f"`train_features`, got {query_features.shape[1]}.")
    if num_classes is not None:
        num_classes = check_num_classes(num_classes)
    train_labels = check_labels(to_numpy(train_labels), "train_labels", len(train_features),
                                "train_features", num_classes)
    num_classes = check_num_classes(num_classes, train_labels)
    k = check_positive_int(k, "k")
    if k > len(train_features):
        raise ValueError(f"`k` must be at most the number of training examples "
                         f"({len(train_features)}), got {k}.")
    temperature = check_positive_number(temperature, "temperature")
    batch_size = check_positive_int(batch_size, "batch_size")

    bank = _normalized(train_features)
    bank_labels = ops.convert_to_tensor(train_labels.astype("int32"))
    predictions = []
    for start in range(0, len(query_features), batch_size):
        queries = _normalized(query_features[start:start + batch_size])
        similarity = ops.matmul(queries, ops.transpose(bank))
        top_similarity, top_index = ops.top_k(similarity, k)
        neighbour_labels = ops.take(bank_labels, top_index)
        weights = ops.exp(top_similarity / temperature)
        votes = ops.sum(ops.one_hot(neighbour_labels, num_classes) * weights[..., None], axis=1)
        predictions.append(ops.convert_to_numpy(ops.argmax(votes, axis=-1)))
    return np.concatenate(predictions).astype("int64")


def knn_accuracy(train_features, train_labels, test_features, test_labels, k=20,
                 temperature=0.07, num_classes=None, batch_size=256):
    """Accuracy of `knn_classify` on labelled test features.

    Args:
        train_features, train_labels: the labelled bank, `[N, D]` and `[N]`.
        test_features, test_labels: the evaluated examples, `[M, D]` and `[M]`.
        k, temperature, num_classes, batch_size: as in `knn_classify`.

    Returns:
        A float in [0, 1].

    Example:
    accuracy = keras_jepa.evaluation.knn_accuracy(train_x, train_y, test_x, test_y)
    """
    test_features = check_features(to_numpy(test_features), "test_features")
    test_labels = check_labels(to_numpy(test_labels), "test_labels", len(test_features),
                               "test_features")
    predicted = knn_classify(train_features, train_labels, test_features, k=k,
                             temperature=temperature, num_classes=num_classes,
                             batch_size=batch_size)
    return float(np.mean(predicted == test_labels))
