"""`TwoViewMAE`: reconstruction of the target view ``y`` from ``x``, around any encoder.

The MAE objective of docs/theory.md, 'The model', ``½ E‖D(f(x)) − y‖²``: the baseline that
`TwoViewJEPA` is compared with, on the same paired views. It is the encoder-agnostic half of
`DeepLinearMAE`.
"""

import keras

from keras_jepa.theory.two_view_jepa import build_encoder_and_head
from keras_jepa.theory.two_view_jepa import build_when_input_known
from keras_jepa.theory.two_view_jepa import half_squared_error
from keras_jepa.theory.two_view_jepa import unpack_views
from keras_jepa.training import SelfSupervisedModel
from keras_jepa.training.base_model import deserialize_layers


@keras.saving.register_keras_serializable(package="keras_jepa.theory")
class TwoViewMAE(SelfSupervisedModel):
    """MAE (reconstruction in input space) on paired views, for any encoder and decoder.

    Loss on a batch of pairs: ``½ mean_batch ‖decoder(encoder(x)) − y‖²``. The model's
    output (``model(x)``) is the encoder's embedding.

    Args:
        encoder: a Keras model or layer mapping views ``[B, d]`` to embeddings ``[B, h]``.
        decoder: a Keras layer or model mapping embeddings ``[B, h]`` back to ``[B, d]``.
        **kwargs: passed to `keras.Model`.

    Example:

    ```python
    encoder = keras.Sequential([keras.Input((100,)), keras.layers.Dense(256, "relu"),
                                keras.layers.Dense(64)])
    model = keras_jepa.theory.TwoViewMAE(encoder, keras.layers.Dense(100))
    model.compile(optimizer=keras.optimizers.SGD(0.05))
    model.fit(x, y, batch_size=1024, epochs=100)
    ```
    """

    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        build_when_input_known(self)

    def build(self, input_shape):
        build_encoder_and_head(self.encoder, self.decoder, input_shape)
        self.built = True

    def call(self, x, training=False):
        return self.encoder(x, training=training)

    def compute_ssl_loss(self, data, training=True):
        x, y = unpack_views(data)
        reconstruction = self.decoder(self.encoder(x, training=training), training=training)
        return half_squared_error(reconstruction, y), {}

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "encoder": keras.saving.serialize_keras_object(self.encoder),
                "decoder": keras.saving.serialize_keras_object(self.decoder),
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_layers(config, ("encoder", "decoder")))
