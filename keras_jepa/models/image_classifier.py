"""`ImageClassifier`: an encoder, token pooling and a linear head, for probing or fine-tuning."""

import keras

from keras_jepa.checks import check_positive_int
from keras_jepa.models.encoder_contract import check_encoder
from keras_jepa.models.encoder_contract import copy_architecture
from keras_jepa.training.base_model import deserialize_layers

POOLINGS = ("avg", "max")


def copy_encoder(encoder):
    """A new encoder with the same config and a copy of `encoder`'s weights.

    Used to hand a pretrained model's encoder to a classifier without sharing it, so
    that fine-tuning the classifier leaves the pretrained model unchanged.
    """
    copy = copy_architecture(encoder)
    copy.set_weights(encoder.get_weights())
    return copy


@keras.saving.register_keras_serializable(package="keras_jepa")
class ImageClassifier(keras.Model):
    """Image classifier on top of an encoder's tokens: pool, optional dropout, `Dense`.

    A functional `keras.Model` `images [B, H, W, C] → [B, num_classes]`, built on
    `keras.Input(encoder.image_shape)`, so `summary`, `fit`, `evaluate`, `predict`,
    `save("….keras")` and `keras.models.load_model` work as for any Keras model (import
    `keras_jepa` before loading, to register its classes). With `freeze_encoder=True`
    the encoder is not trained (`encoder.trainable = False`): a linear probe trained with
    `fit`. Otherwise the whole network is fine-tuned. `model.encoder.trainable` may be
    changed later (recompile afterwards), e.g. to probe first and then fine-tune.

    The encoder is used as given, not copied: to fine-tune a pretrained IJEPA or MAE
    without changing it, use `model.image_classifier(...)`, which copies the encoder.

    Args:
        encoder: an encoder of `keras_jepa.models.check_encoder`'s contract, e.g. a
            `ViTEncoder`, returning tokens `[B, N, D]`.
        num_classes: number of output units.
        pooling: "avg" (mean over tokens, as `encode` and the probes) or "max".
        freeze_encoder: whether the encoder's weights stay fixed.
        dropout: dropout rate before the head (0 for none).
        activation: activation of the head; None (default) outputs logits.

    Example:
    import keras, numpy as np, keras_jepa
    encoder = keras_jepa.models.ViTEncoder(image_size=8, patch_size=4, hidden_dim=16,
                                           depth=1, num_heads=2, num_channels=1)
    classifier = keras_jepa.models.ImageClassifier(encoder, num_classes=3,
                                                   freeze_encoder=True)
    classifier.compile()  # Adam, sparse categorical cross-entropy on logits, accuracy
    images = np.random.rand(8, 8, 8, 1).astype("float32")
    labels = np.arange(8) % 3
    classifier.fit(images, labels, epochs=1, verbose=0)
    classifier.save("/tmp/probe.keras")
    restored = keras.models.load_model("/tmp/probe.keras")
    """

    def __init__(
        self,
        encoder,
        num_classes,
        pooling="avg",
        freeze_encoder=False,
        dropout=0.0,
        activation=None,
        **kwargs,
    ):
        check_encoder(encoder)
        check_positive_int(num_classes, "num_classes", whole_floats=True)
        if pooling not in POOLINGS:
            raise ValueError(f"`pooling` must be one of {POOLINGS}, got {pooling!r}.")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {dropout!r}.")
        # Set twice: TensorFlow's attribute tracking skips an assignment of the value
        # already held, which would leave sublayers that disagree with it unchanged.
        encoder.trainable = bool(freeze_encoder)
        encoder.trainable = not freeze_encoder
        pool_layer = (
            keras.layers.GlobalAveragePooling1D(name="pooling")
            if pooling == "avg"
            else keras.layers.GlobalMaxPooling1D(name="pooling")
        )
        dropout_layer = keras.layers.Dropout(float(dropout), name="dropout")
        head = keras.layers.Dense(int(num_classes), activation=activation, name="head")

        images = keras.Input(shape=tuple(encoder.image_shape), name="images")
        outputs = head(dropout_layer(pool_layer(encoder(images))))
        super().__init__(inputs=images, outputs=outputs, **kwargs)

        self.encoder = encoder
        self.head = head
        self.num_classes = int(num_classes)
        self.pooling = pooling
        self.dropout = float(dropout)
        self.activation = keras.activations.serialize(keras.activations.get(activation)) \
            if activation is not None else None

    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        """`keras.Model.compile` with defaults for classification.

        "auto" means `keras.optimizers.Adam(1e-3)`, sparse categorical cross-entropy
        (on logits when the head has no activation) and sparse categorical accuracy.
        """
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(1e-3)
        if loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(
                from_logits=self.activation is None
            )
        if metrics == "auto":
            metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def compile_from_config(self, config):
        # Keras skips this for models with their own `compile`; the saved config holds
        # the resolved optimizer, loss and metrics, so restoring it is plain `compile`.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "num_classes": self.num_classes,
            "pooling": self.pooling,
            "freeze_encoder": not self.encoder.trainable,
            "dropout": self.dropout,
            "activation": self.activation,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_layers(config, ("encoder",)))
