"""Probes on frozen features: linear probe, kNN, few-shot sampling, feature extraction."""

import keras
import numpy as np
import pytest

from keras_jepa import evaluation
from keras_jepa.data import make_feature_dataset
from keras_jepa.models import MAE
from keras_jepa.models import MAEDecoder
from tests.helpers import tiny_encoder
from tests.helpers import tiny_ijepa


def separable(rng, count, num_classes=3, dim=8, spread=0.3):
    """Gaussian clusters around well-separated class centres."""
    centres = 3.0 * np.eye(num_classes, dim)
    labels = rng.integers(0, num_classes, count)
    features = centres[labels] + spread * rng.normal(size=(count, dim)) + 5.0
    return features.astype("float32"), labels


def numpy_knn(train, train_labels, queries, k, temperature, num_classes):
    """Brute-force weighted kNN in float64: the reference for `knn_classify`."""
    train = train / np.linalg.norm(train, axis=1, keepdims=True)
    queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    predictions = []
    for query in queries.astype("float64"):
        similarity = train.astype("float64") @ query
        neighbours = np.argsort(-similarity)[:k]
        votes = np.zeros(num_classes)
        for index in neighbours:
            votes[train_labels[index]] += np.exp(similarity[index] / temperature)
        predictions.append(np.argmax(votes))
    return np.asarray(predictions)


# === Linear probe ===


def test_probe_separates_linearly_separable_features(rng):
    train_x, train_y = separable(rng, 240)
    test_x, test_y = separable(rng, 200)
    result = evaluation.linear_probe(train_x, train_y, test_x, test_y, epochs=8,
                                     batch_size=120, learning_rate=0.1)
    assert result.accuracy >= 0.98 and result.train_accuracy >= 0.98
    assert len(result.history["loss"]) == 8
    assert result.history["loss"][-1] < result.history["loss"][0]
    # The returned model takes raw features (standardisation inside) and gives the accuracy.
    predicted = evaluation.probe_predictions(result.model, test_x)
    assert np.mean(predicted == test_y) == pytest.approx(result.accuracy)
    probabilities = keras.ops.convert_to_numpy(result.model(test_x[:5]))
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)


def test_probe_on_random_labels_stays_near_chance(rng):
    train_x = rng.normal(size=(240, 8)).astype("float32")
    test_x = rng.normal(size=(400, 8)).astype("float32")
    train_y, test_y = rng.integers(0, 4, 240), rng.integers(0, 4, 400)
    result = evaluation.linear_probe(train_x, train_y, test_x, test_y, epochs=10,
                                     batch_size=240)
    assert 0.15 < result.accuracy < 0.35  # chance is 0.25; 400 test examples


def test_probe_standardises_with_training_statistics(rng):
    train_x, train_y = separable(rng, 100)
    train_x[:, -1] = 7.0  # a constant dimension keeps a scale of 1
    test_x, test_y = separable(rng, 50)
    result = evaluation.linear_probe(train_x, train_y, test_x, test_y, epochs=1)
    normalization = result.model.get_layer("standardize")
    mean = keras.ops.convert_to_numpy(normalization.mean).reshape(-1)
    variance = keras.ops.convert_to_numpy(normalization.variance).reshape(-1)
    np.testing.assert_allclose(mean, train_x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(variance[:-1], train_x.var(0)[:-1], rtol=1e-4)
    assert variance[-1] == 1.0


def test_probe_trains_on_datasets_of_feature_batches(rng):
    train_x, train_y = separable(rng, 240)
    test_x, test_y = separable(rng, 100)
    train = make_feature_dataset(train_x, train_y, 120, shuffle=True, seed=1)
    test = make_feature_dataset(test_x, test_y, 64, shuffle=False)
    result = evaluation.linear_probe(train, None, test, None, epochs=8, num_classes=3,
                                     learning_rate=0.1)
    assert result.accuracy >= 0.98
    mean = keras.ops.convert_to_numpy(result.model.get_layer("standardize").mean)
    np.testing.assert_allclose(mean.reshape(-1), train_x.mean(0), rtol=1e-5)


def test_feature_dataset_passes_are_seeded_permutations(rng):
    features = np.arange(20, dtype="float32")[:, None] * np.ones((1, 3), "float32")
    labels = np.arange(20) % 4

    def batches(seed):
        dataset = make_feature_dataset(features, labels, 6, shuffle=True, seed=seed, epochs=3)
        assert int(dataset.cardinality()) == 3 * 4
        return [(x, y) for x, y in dataset.as_numpy_iterator()]

    first = batches(5)
    keras.utils.set_random_seed(123)  # TensorFlow's global seed plays no part
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(first, batches(5)))
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(first, batches(6)))
    orders = []
    for epoch in range(3):
        rows = np.concatenate([x[:, 0] for x, _ in first[4 * epoch:4 * epoch + 4]])
        labels_seen = np.concatenate([y for _, y in first[4 * epoch:4 * epoch + 4]])
        assert sorted(rows) == list(range(20))  # each pass visits every example once
        np.testing.assert_array_equal(labels_seen, labels[rows.astype(int)])
        orders.append(tuple(rows))
    assert len(set(orders)) == 3  # a new order every pass


# === kNN ===


@pytest.mark.parametrize("k, temperature", [(1, 0.07), (5, 0.5), (20, 0.07)])
def test_knn_matches_brute_force_reference(rng, k, temperature):
    train = rng.normal(size=(60, 6)).astype("float32")
    train_labels = rng.integers(0, 4, 60)
    queries = rng.normal(size=(23, 6)).astype("float32")
    predicted = evaluation.knn_classify(train, train_labels, queries, k=k,
                                        temperature=temperature, batch_size=7)
    expected = numpy_knn(train, train_labels, queries, k, temperature, 4)
    np.testing.assert_array_equal(predicted, expected)
    test_labels = rng.integers(0, 4, 23)
    accuracy = evaluation.knn_accuracy(train, train_labels, queries, test_labels, k=k,
                                       temperature=temperature)
    assert accuracy == pytest.approx(np.mean(expected == test_labels))


def test_knn_finds_the_clusters(rng):
    train_x, train_y = separable(rng, 90, spread=1.0)
    test_x, test_y = separable(rng, 60, spread=1.0)
    assert evaluation.knn_accuracy(train_x - 5.0, train_y, test_x - 5.0, test_y) > 0.9


# === Few-shot ===


def test_few_shot_indices_are_stratified_seeded_and_distinct(rng):
    labels = rng.integers(0, 5, 200)
    indices = evaluation.few_shot_indices(labels, shots=4, seed=0)
    assert len(np.unique(indices)) == len(indices) == 20
    assert indices.min() >= 0 and indices.max() < len(labels)
    np.testing.assert_array_equal(np.bincount(labels[indices], minlength=5), [4] * 5)
    np.testing.assert_array_equal(indices, evaluation.few_shot_indices(labels, 4, seed=0))
    assert not np.array_equal(indices, evaluation.few_shot_indices(labels, 4, seed=1))


def test_few_shot_evaluation_samples_only_the_training_set(rng):
    train_x, train_y = separable(rng, 60, dim=3)
    test_x, test_y = separable(rng, 40, dim=3)
    # A test set far from every training point: if the kNN bank held test examples,
    # k=1 would find them and score 1.0; sampling only training examples, it cannot.
    shifted_test_y = (test_y + 1) % 3
    results = evaluation.few_shot_evaluation(train_x, train_y, test_x, shifted_test_y,
                                             shots=(1, 3), seeds=(0, 1, 2), classifier="knn",
                                             k=1)
    assert set(results) == {1, 3}
    for entry in results.values():
        assert len(entry["accuracies"]) == 3
        assert entry["mean"] == pytest.approx(np.mean(entry["accuracies"]))
        assert entry["std"] == pytest.approx(np.std(entry["accuracies"]))
        assert entry["mean"] < 0.1
    linear = evaluation.few_shot_evaluation(train_x, train_y, test_x, test_y, shots=(2,),
                                            seeds=(0, 1), epochs=5)
    assert linear[2]["mean"] >= 0.9 and len(linear[2]["accuracies"]) == 2


# === Features ===


def test_extract_features_equals_encode():
    ijepa = tiny_ijepa()
    images = np.random.default_rng(1).normal(size=(4, 8, 8, 1)).astype("float32")
    for encoder in ("target", "context"):
        np.testing.assert_array_equal(
            evaluation.extract_features(ijepa, images, encoder=encoder, batch_size=2),
            ijepa.encode(images, encoder=encoder, batch_size=2))
    encoder = tiny_encoder(depth=1)
    mae = MAE(encoder, MAEDecoder.for_encoder(encoder, hidden_dim=8, depth=1, num_heads=2))
    for name in ("target", "context", "encoder"):
        np.testing.assert_array_equal(evaluation.extract_features(mae, images, encoder=name),
                                      mae.encode(images))
    tokens = evaluation.extract_features(encoder, images, pool="none")
    assert tokens.shape == (4, 16, 16)
    np.testing.assert_allclose(tokens.mean(1), mae.encode(images), rtol=1e-5, atol=1e-6)


def test_extract_features_reads_datasets():
    import tensorflow as tf

    ijepa = tiny_ijepa()
    images = np.random.default_rng(2).normal(size=(6, 8, 8, 1)).astype("float32")
    labels = np.arange(6) % 3
    expected = ijepa.encode(images, batch_size=3)
    dicts = tf.data.Dataset.from_tensor_slices({"images": images, "labels": labels}).batch(3)
    pairs = tf.data.Dataset.from_tensor_slices((images, labels)).batch(3)
    np.testing.assert_allclose(evaluation.extract_features(ijepa, dicts), expected,
                               rtol=1e-5, atol=1e-6)
    for dataset in (dicts, pairs, (images, labels)):
        features, got_labels = evaluation.extract_labeled_features(ijepa, dataset, batch_size=3)
        np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(got_labels, labels)
    with pytest.raises(ValueError, match="must yield labels"):
        evaluation.extract_labeled_features(ijepa, tf.data.Dataset.from_tensor_slices(
            images).batch(3))
    with pytest.raises(ValueError, match=r"images.*\[B, H, W, C\]"):
        evaluation.extract_features(ijepa, tf.data.Dataset.from_tensor_slices(images))


# === Bad input ===


def _features(count=10, dim=4):
    return np.random.default_rng(0).normal(size=(count, dim)).astype("float32")


_LABELS = np.arange(10) % 3


@pytest.mark.parametrize("call, match", [
    (lambda: evaluation.linear_probe(_features(), _LABELS[:9], _features(), _LABELS),
     r"train_labels.*9 labels.*train_features.*10"),
    (lambda: evaluation.linear_probe(_features(), _LABELS.astype("float32"), _features(),
                                     _LABELS), "train_labels.*integer"),
    (lambda: evaluation.linear_probe(_features(), _LABELS, _features(), _LABELS,
                                     num_classes=2), r"train_labels.*< num_classes \(2\)"),
    (lambda: evaluation.linear_probe(_features(), _LABELS - 1, _features(), _LABELS),
     "train_labels.*≥ 0"),
    (lambda: evaluation.linear_probe(_features(0), _LABELS[:0], _features(), _LABELS),
     "train_features.*non-empty"),
    (lambda: evaluation.linear_probe(_features(), _LABELS, _features(dim=5), _LABELS),
     "test_features.*4 columns"),
    (lambda: evaluation.linear_probe(_features(), _LABELS, _features(), _LABELS, epochs=0),
     "epochs"),
    (lambda: evaluation.knn_classify(_features(), _LABELS, _features(), k=11),
     r"`k`.*at most.*\(10\)"),
    (lambda: evaluation.knn_classify(_features(), _LABELS, _features(), k=3, temperature=0),
     "temperature"),
    (lambda: evaluation.knn_accuracy(_features(), _LABELS, _features(), _LABELS[:4]),
     "test_labels.*test_features"),
    (lambda: evaluation.few_shot_indices(np.array([0, 0, 1, 2, 2, 2]), shots=2, seed=0),
     r"shots.*class 1 has: 1 example"),
    (lambda: evaluation.few_shot_indices(_LABELS, shots=2, seed=0, num_classes=4),
     "class 3 has: 0 example"),
    (lambda: evaluation.few_shot_evaluation(_features(), _LABELS, _features(), _LABELS,
                                            classifier="svm"), "classifier.*'linear'"),
    (lambda: evaluation.extract_features(tiny_ijepa(), np.zeros((2, 8, 8, 1)),
                                         encoder="student"), "encoder.*'target'"),
    (lambda: evaluation.extract_features(tiny_encoder(), np.zeros((2, 8, 8, 1)),
                                         pool="max"), "pool.*'mean'"),
    (lambda: evaluation.extract_features(tiny_encoder(), np.zeros((0, 8, 8, 1))),
     "images.*empty"),
    (lambda: evaluation.extract_features(keras.layers.Dense(2), np.zeros((2, 8, 8, 1))),
     "model.*IJEPA"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()
