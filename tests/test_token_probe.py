"""token_probe: a linear probe on PCA-reduced unpooled tokens."""

import numpy as np
import pytest
from helpers import tiny_encoder

from keras_jepa.evaluation import extract_features
from keras_jepa.evaluation import token_probe
from keras_jepa.evaluation.token_probe import fit_pca


def _separable(rng, count=48):
    """Two classes: a bright left or right half, plus noise."""
    labels = np.arange(count) % 2
    images = 0.1 * rng.normal(size=(count, 8, 8, 1))
    for image, label in zip(images, labels):
        image[:, :4] += 3.0 if label else 0.0
        image[:, 4:] += 0.0 if label else 3.0
    return images.astype("float32"), labels


def test_token_probe_on_separable_problem(rng):
    encoder = tiny_encoder(depth=1)
    images, labels = _separable(rng)
    result = token_probe(encoder, images[:32], labels[:32], images[32:], labels[32:],
                         encoder="encoder", num_components=8, epochs=20, batch_size=16)
    assert 0.0 <= result.accuracy <= 1.0
    assert result.accuracy >= 0.9
    # The returned model takes the flattened tokens: PCA is its first layer.
    tokens = extract_features(encoder, images[32:], pool="none")
    probabilities = np.asarray(result.model.predict(tokens.reshape(len(tokens), -1),
                                                    verbose=0))
    assert probabilities.shape == (16, 2)
    assert np.mean(probabilities.argmax(-1) == labels[32:]) == pytest.approx(result.accuracy)


def test_fit_pca_keeps_at_most_the_rank(rng):
    features = rng.normal(size=(5, 3)) @ rng.normal(size=(3, 20))  # rank 3
    mean, components = fit_pca(features, 10)
    assert components.shape == (3, 20)
    np.testing.assert_allclose(components @ components.T, np.eye(3), atol=1e-5)
    np.testing.assert_allclose(mean, features.mean(0), rtol=1e-5, atol=1e-6)
    assert fit_pca(features, 2)[1].shape == (2, 20)


@pytest.mark.parametrize("value", [0, -3, 2.5, True, "8", None])
def test_token_probe_rejects_bad_num_components(rng, value):
    images, labels = _separable(rng, count=8)
    with pytest.raises(ValueError, match="num_components"):
        token_probe(tiny_encoder(depth=1), images, labels, images, labels,
                    encoder="encoder", num_components=value)


def test_token_probe_rejects_bad_arguments(rng):
    images, labels = _separable(rng, count=8)
    encoder = tiny_encoder(depth=1)
    with pytest.raises(ValueError, match="encoder"):
        token_probe(encoder, images, labels, images, labels, encoder="student")
    with pytest.raises(ValueError, match="train_images"):
        token_probe(encoder, images[..., 0], labels, images, labels, encoder="encoder")
    with pytest.raises(ValueError, match="pool"):
        token_probe(encoder, images, labels, images, labels, encoder="encoder", pool="mean")
    with pytest.raises(ValueError, match="train_labels"):
        token_probe(encoder, images, labels[:5], images, labels, encoder="encoder")
