"""Keras-native workflows: encoders used symbolically, probing and fine-tuning with fit."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import keras_jepa
from keras_jepa.models import MAE
from keras_jepa.models import ImageClassifier
from keras_jepa.models import JEPAPredictor
from keras_jepa.models import MAEDecoder
from tests.helpers import tiny_encoder
from tests.helpers import tiny_ijepa


def _encoder():
    return tiny_encoder(depth=1)


def _labelled(rng, n=12, classes=3):
    images = rng.normal(size=(n, 8, 8, 1)).astype("float32")
    labels = (np.arange(n) % classes).astype("int32")
    return images, labels


def _predict_in_fresh_process(path, images, tmp_path):
    """Loads a `.keras` file in a new Python process and returns its predictions."""
    np.save(tmp_path / "images.npy", images)
    script = textwrap.dedent(f"""
        import keras, numpy as np
        import keras_jepa  # registers the classes
        model = keras.models.load_model({str(path)!r})
        images = np.load({str(tmp_path / "images.npy")!r})
        np.save({str(tmp_path / "loaded.npy")!r},
                keras.ops.convert_to_numpy(model.predict(images, verbose=0)))
    """)
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend()}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-c", script], env=env, cwd=root,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return np.load(tmp_path / "loaded.npy")


# === Item 1: symbolic use ===


def test_encoder_in_sequential_matches_eager_pooling(rng):
    encoder = _encoder()
    model = keras.Sequential([
        keras.Input((8, 8, 1)), encoder,
        keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(3),
    ])
    assert model.output_shape == (None, 3)
    images = rng.normal(size=(2, 8, 8, 1)).astype("float32")
    dense = model.layers[-1]
    tokens = keras.ops.convert_to_numpy(encoder(images))
    expected = keras.ops.convert_to_numpy(dense(tokens.mean(axis=1)))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(images)), expected,
                               rtol=1e-5, atol=1e-5)


def test_encoder_predictor_and_decoder_in_functional_api(rng):
    encoder = _encoder()
    images = keras.Input((8, 8, 1))
    context = keras.Input((5,), dtype="int32")
    targets = keras.Input((2, 3), dtype="int32")
    masked = keras.Input((11,), dtype="int32")
    tokens = encoder(images, token_indices=context)
    assert tuple(tokens.shape) == (None, 5, 16)
    predictor = JEPAPredictor.for_encoder(encoder, hidden_dim=8, depth=1, num_heads=2)
    decoder = MAEDecoder.for_encoder(encoder)
    model = keras.Model([images, context, targets, masked],
                        [predictor(tokens, context, targets), decoder(tokens, context, masked)])
    assert tuple(model.outputs[0].shape) == (None, 2, 3, 16)
    assert tuple(model.outputs[1].shape) == (None, 16, 4)
    x = rng.normal(size=(2, 8, 8, 1)).astype("float32")
    order = np.stack([rng.permutation(16) for _ in range(2)]).astype("int32")
    ctx, msk = order[:, :5], order[:, 5:]
    tgt = msk[:, :6].reshape(2, 2, 3)
    predicted, decoded = model([x, ctx, tgt, msk])
    eager_tokens = encoder(x, token_indices=ctx)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(predicted),
                               keras.ops.convert_to_numpy(predictor(eager_tokens, ctx, tgt)),
                               rtol=1e-5, atol=1e-5)
    assert tuple(decoded.shape) == (2, 16, 4)


# === Item 1: probing and fine-tuning the Keras way ===


def test_frozen_probe_with_plain_keras_saves_and_reloads_in_fresh_process(rng, tmp_path):
    encoder = _encoder()
    encoder.trainable = False
    model = keras.Sequential([keras.Input((8, 8, 1)), encoder,
                              keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(3)])
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [keras.ops.convert_to_numpy(w) for w in encoder.weights]
    head_before = keras.ops.convert_to_numpy(model.layers[-1].kernel)
    images, labels = _labelled(rng)
    model.fit(images, labels, epochs=2, batch_size=4, verbose=0)
    for b, w in zip(before, encoder.weights):
        np.testing.assert_array_equal(b, keras.ops.convert_to_numpy(w))
    assert not np.allclose(head_before, keras.ops.convert_to_numpy(model.layers[-1].kernel))
    path = tmp_path / "probe.keras"
    model.save(path)
    loaded = _predict_in_fresh_process(path, images, tmp_path)
    np.testing.assert_allclose(loaded, model.predict(images, verbose=0), rtol=1e-5, atol=1e-5)
    # The frozen encoder comes back frozen, every sublayer included.
    assert len(keras.models.load_model(path).trainable_weights) == 2


@pytest.mark.parametrize("cls_name", ["ViTEncoder", "JEPAPredictor", "MAEDecoder"])
def test_untrainable_config_freezes_every_sublayer(cls_name):
    encoder = _encoder()
    original = {
        "ViTEncoder": lambda: encoder,
        "JEPAPredictor": lambda: JEPAPredictor.for_encoder(encoder, hidden_dim=8, depth=1,
                                                           num_heads=2),
        "MAEDecoder": lambda: MAEDecoder.for_encoder(encoder),
    }[cls_name]()
    original.trainable = False
    restored = type(original).from_config(original.get_config())
    wrapper = keras.Sequential([keras.layers.Identity()])
    wrapper.inner = restored  # tracked as a sublayer, as in a functional model
    assert not any(w.trainable for w in restored.weights)
    assert [w for w in wrapper.trainable_weights if any(w is v for v in restored.weights)] == []


def test_image_classifier_fine_tunes_and_round_trips(rng, tmp_path):
    encoder = _encoder()
    classifier = ImageClassifier(encoder, num_classes=3)
    assert classifier.output_shape == (None, 3)
    classifier.compile()
    before = keras.ops.convert_to_numpy(encoder.weights[0])
    images, labels = _labelled(rng)
    history = classifier.fit(images, labels, epochs=2, batch_size=4, verbose=0)
    assert {"loss", "accuracy"} <= set(history.history)
    assert not np.allclose(before, keras.ops.convert_to_numpy(encoder.weights[0]))
    path = tmp_path / "classifier.keras"
    classifier.save(path)
    restored = keras.models.load_model(path)
    assert isinstance(restored, ImageClassifier)
    assert restored.get_config() == classifier.get_config()
    # The compile state comes back too: training continues without a new `compile`.
    np.testing.assert_allclose(restored.evaluate(images, labels, verbose=0, return_dict=True)["loss"],
                               classifier.evaluate(images, labels, verbose=0, return_dict=True)["loss"],
                               rtol=1e-5)
    np.testing.assert_allclose(restored.predict(images, verbose=0),
                               classifier.predict(images, verbose=0), rtol=1e-5, atol=1e-5)
    # So is the optimizer's state: one more epoch moves both models alike.
    for model in (classifier, restored):
        model.fit(images, labels, epochs=1, batch_size=4, shuffle=False, verbose=0)
    np.testing.assert_allclose(restored.predict(images, verbose=0),
                               classifier.predict(images, verbose=0), rtol=1e-4, atol=1e-4)


def test_image_classifier_frozen_is_a_linear_probe_and_reloads_in_fresh_process(rng, tmp_path):
    model = tiny_ijepa()
    probe = model.image_classifier(num_classes=3, freeze_encoder=True, pooling="max")
    # The copy has the pretrained weights but is not the pretrained model's encoder.
    assert probe.encoder is not model.target_encoder
    images, labels = _labelled(rng)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(probe.encoder(images)),
        keras.ops.convert_to_numpy(model.target_encoder(images)), rtol=1e-6, atol=1e-6)
    assert len(probe.trainable_weights) == 2  # the head's kernel and bias
    probe.compile(optimizer=keras.optimizers.Adam(1e-2))
    encoder_before = [keras.ops.convert_to_numpy(w) for w in probe.encoder.weights]
    probe.fit(images, labels, epochs=2, batch_size=4, verbose=0)
    for b, w in zip(encoder_before, probe.encoder.weights):
        np.testing.assert_array_equal(b, keras.ops.convert_to_numpy(w))
    path = tmp_path / "probe.keras"
    probe.save(path)
    loaded = _predict_in_fresh_process(path, images, tmp_path)
    np.testing.assert_allclose(loaded, probe.predict(images, verbose=0), rtol=1e-5, atol=1e-5)
    restored = keras.models.load_model(path)
    assert restored.get_config()["freeze_encoder"] is True
    assert len(restored.trainable_weights) == 2


def test_mae_image_classifier_fine_tuning_leaves_the_pretrained_model_unchanged(rng):
    mae = MAE(_encoder(), mask_ratio=0.5, seed=0)
    classifier = mae.image_classifier(num_classes=3, dropout=0.1)
    assert classifier.encoder.trainable  # the fine-tuning copy trains
    pretrained = keras.ops.convert_to_numpy(mae.encoder.weights[0])
    classifier.compile()
    images, labels = _labelled(rng)
    classifier.fit(images, labels, epochs=1, batch_size=4, verbose=0)
    np.testing.assert_array_equal(pretrained, keras.ops.convert_to_numpy(mae.encoder.weights[0]))
    assert not np.allclose(pretrained, keras.ops.convert_to_numpy(classifier.encoder.weights[0]))


def test_image_classifier_rejects_bad_arguments():
    with pytest.raises(ValueError, match="pooling"):
        ImageClassifier(_encoder(), num_classes=3, pooling="cls")
    with pytest.raises(ValueError, match="num_classes"):
        ImageClassifier(_encoder(), num_classes=0)


def test_image_classifier_is_exported():
    assert keras_jepa.models.ImageClassifier is ImageClassifier
