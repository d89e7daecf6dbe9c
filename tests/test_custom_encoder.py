"""A user-written encoder works end to end; one that breaks the contract gets one clear error."""

import keras
import numpy as np
import pytest
from helpers import random_batch
from keras import ops

import keras_jepa
from keras_jepa.models import IJEPA
from keras_jepa.models import MAE
from keras_jepa.models import ImageClassifier
from keras_jepa.models import JEPAPredictor
from keras_jepa.models import check_encoder
from keras_jepa.models import patchify


@keras.saving.register_keras_serializable(package="keras_jepa_tests")
class PatchMLPEncoder(keras.layers.Layer):
    """What a user might write: linear patch embedding, learned positions, a residual MLP.

    Not a ViTEncoder and not built at construction: its weights appear in `build`.
    """

    def __init__(self, image_size=8, patch_size=2, hidden_dim=16, num_channels=1, **kwargs):
        super().__init__(**kwargs)
        self.image_size = image_size
        self.patch_size = patch_size
        self.hidden_dim = hidden_dim
        self.num_channels = num_channels
        self.num_patches = (image_size // patch_size) ** 2
        self.image_shape = (image_size, image_size, num_channels)
        self.embed = keras.layers.Dense(hidden_dim, name="embed")
        self.mlp = keras.layers.Dense(hidden_dim, activation="gelu", name="mlp")

    def build(self, input_shape):
        self.embed.build((None, None, self.patch_size**2 * self.num_channels))
        self.mlp.build((None, None, self.hidden_dim))
        self.positions = self.add_weight(shape=(self.num_patches, self.hidden_dim),
                                         initializer="random_normal", name="positions")

    def call(self, images, token_indices=None):
        x = self.embed(patchify(images, self.patch_size)) + self.positions
        if token_indices is not None:
            x = ops.take_along_axis(x, ops.cast(token_indices, "int32")[..., None], axis=1)
        return x + self.mlp(x)

    def get_config(self):
        return {**super().get_config(), "image_size": self.image_size,
                "patch_size": self.patch_size, "hidden_dim": self.hidden_dim,
                "num_channels": self.num_channels}


def _numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


def _ijepa(encoder):
    predictor = JEPAPredictor.for_encoder(encoder, hidden_dim=8, depth=1, num_heads=2)
    return IJEPA(encoder, predictor, momentum=0.5, total_steps=4)


def test_user_encoder_trains_with_ijepa_end_to_end(rng, tmp_path):
    encoder = PatchMLPEncoder()
    assert not encoder.built
    model = _ijepa(encoder)
    assert encoder.built
    target = model.target_encoder
    assert type(target) is PatchMLPEncoder and target is not encoder
    for t, c in zip(target.weights, encoder.weights):
        np.testing.assert_array_equal(_numpy(t), _numpy(c))
    target_before = [_numpy(w) for w in target.weights]
    context_before = [_numpy(w) for w in encoder.weights]

    model.compile(optimizer=keras.optimizers.SGD(0.1))
    batch = random_batch(rng, batch_size=4)
    history = model.fit(batch, batch_size=2, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])
    assert int(_numpy(model.optimizer.iterations)) == 2
    assert any(not np.allclose(b, _numpy(w)) for b, w in zip(context_before, encoder.weights))
    assert any(not np.allclose(b, _numpy(w)) for b, w in zip(target_before, target.weights))
    assert not target.trainable_weights  # the EMA moves it, not the optimizer

    features = model.encode(batch["images"])
    assert features.shape == (4, 16) and features.dtype == np.float32
    np.testing.assert_allclose(features, _numpy(target(batch["images"])).mean(axis=1),
                               rtol=1e-5, atol=1e-6)

    path = tmp_path / "custom.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.target_encoder) is PatchMLPEncoder
    np.testing.assert_allclose(loaded.encode(batch["images"]), features, rtol=1e-5, atol=1e-6)


def test_user_encoder_in_an_image_classifier(rng):
    model = _ijepa(PatchMLPEncoder())
    classifier = model.image_classifier(num_classes=3, freeze_encoder=True)
    images = rng.normal(size=(4, 8, 8, 1)).astype("float32")
    assert classifier.predict(images, verbose=0).shape == (4, 3)
    assert len(classifier.trainable_weights) == 2


class _WithoutHiddenDim(PatchMLPEncoder):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        del self.hidden_dim

    def build(self, input_shape):
        self.embed.build((None, None, self.patch_size**2 * self.num_channels))


def test_encoder_without_hidden_dim_gets_one_clear_error():
    encoder = PatchMLPEncoder()
    predictor = JEPAPredictor.for_encoder(encoder, hidden_dim=8, depth=1, num_heads=2)
    with pytest.raises(ValueError, match=r"_WithoutHiddenDim\) does not keep the encoder "
                                         r"contract.*attribute `hidden_dim` is missing"):
        IJEPA(_WithoutHiddenDim(), predictor)


def test_every_missing_part_is_listed_at_once():
    class Bare(keras.layers.Layer):
        num_patches = 16

        def call(self, images):
            return images

    with pytest.raises(ValueError) as raised:
        check_encoder(Bare())
    message = str(raised.value)
    for part in ("`hidden_dim` is missing", "`image_shape` is missing", "token_indices",
                 "get_config()"):
        assert part in message, message
    with pytest.raises(TypeError, match="must be a keras.layers.Layer"):
        check_encoder(lambda images, token_indices=None: images)


def test_mae_names_the_attributes_it_needs_beyond_ijepa():
    with pytest.raises(ValueError) as raised:
        MAE(PatchMLPEncoder())
    message = str(raised.value)
    assert "`grid_size` is missing" in message
    assert "hidden_dim" not in message and "patch_size" not in message


def test_wrong_token_shapes_are_reported_as_such():
    class Pooled(PatchMLPEncoder):
        def call(self, images, token_indices=None):
            return ops.mean(super().call(images, token_indices), axis=1)

    with pytest.raises(ValueError, match=r"must return tokens of shape \(2, 16, "
                                         r"hidden_dim=16\), got \(2, 16\)"):
        ImageClassifier(Pooled(), num_classes=2)


def test_incomplete_get_config_is_blamed_on_get_config():
    class Forgetful(PatchMLPEncoder):
        def get_config(self):
            config = super().get_config()
            del config["hidden_dim"]
            return config

    encoder = Forgetful(hidden_dim=8)
    predictor = JEPAPredictor.for_encoder(encoder, hidden_dim=8, depth=1, num_heads=2)
    with pytest.raises(ValueError, match=r"get_config\(\)` must return every constructor"):
        IJEPA(encoder, predictor)


def test_check_encoder_is_public_and_accepts_the_vit():
    encoder = keras_jepa.models.ViTEncoder(image_size=8, patch_size=2, hidden_dim=16, depth=1,
                                           num_heads=2, num_channels=1)
    assert keras_jepa.models.check_encoder(encoder) is encoder
