"""`TwoViewJEPA`: self-distillation on paired views ``(x, y)`` around any Keras encoder.

The objective of docs/theory.md, 'The model', ``½ E‖P(f(x)) − StopGrad(f_target(y))‖²``,
where the target encoder ``f_target`` is the online encoder itself behind a stop-gradient
(the setting of the theory) or an exponential moving average of it. The ablation
``target="no_stop_gradient"`` lets the gradient flow through the target too; it collapses
(`no_stop_gradient.py`). It is the small, encoder-agnostic half of `DeepLinearJEPA`, and
what the non-linear (MLP) check of the paper trains.
"""

import keras
from keras import ops

from keras_jepa.training import SelfSupervisedModel
from keras_jepa.training import copy_weights
from keras_jepa.training import ema_update
from keras_jepa.training import no_gradient
from keras_jepa.training import pair_variables
from keras_jepa.training.base_model import deserialize_layers

# The same names as `keras_jepa.models.IJEPA(target_mode=...)`: the target is the
# online encoder with its gradient stopped, an EMA copy, or (ablation) the online
# encoder with the gradient flowing.
TARGETS = ("context_stop_gradient", "ema", "no_stop_gradient")
# Names of the first release, still accepted: `target=` for `target_mode=`,
# `ema_momentum=` for `momentum=`, and the value "stop_gradient".
_OLD_TARGET_VALUES = {"stop_gradient": "context_stop_gradient"}


def resolve_target_mode(target_mode, momentum, target=None, ema_momentum=None):
    """`(target_mode, momentum)` from the current names or the first release's ones.

    Raises a ValueError naming the argument for an unknown mode, a momentum outside
    [0, 1), or an old and a new name given different values.
    """
    if target is not None:
        target = _OLD_TARGET_VALUES.get(target, target)
        if target_mode not in (None, target):
            raise ValueError(f"Give `target_mode` only (`target` is its old name); got "
                             f"target_mode={target_mode!r} and target={target!r}.")
        target_mode = target
    if ema_momentum is not None:
        if momentum not in (None, ema_momentum):
            raise ValueError(f"Give `momentum` only (`ema_momentum` is its old name); got "
                             f"momentum={momentum!r} and ema_momentum={ema_momentum!r}.")
        momentum = ema_momentum
    target_mode = _OLD_TARGET_VALUES.get(target_mode, target_mode or TARGETS[0])
    momentum = 0.99 if momentum is None else momentum
    if target_mode not in TARGETS:
        raise ValueError(f"`target_mode` must be one of {TARGETS}, got {target_mode!r}.")
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or \
            not 0.0 <= float(momentum) < 1.0:
        raise ValueError(f"`momentum` must lie in [0, 1), got {momentum!r}.")
    return target_mode, float(momentum)



def build_when_input_known(model):
    """Builds a two-view model now when its encoder's input shape is known.

    Then it can be saved (and its weights restored) before it has seen any data.
    """
    inputs = getattr(model.encoder, "inputs", None)
    if model.encoder.built and inputs:
        model.build(tuple(inputs[0].shape))


def build_encoder_and_head(encoder, head, input_shape):
    """Builds the encoder on `input_shape` and the head (predictor or decoder) on its output."""
    if not encoder.built:
        encoder.build(input_shape)
    if not head.built:
        head.build(encoder.compute_output_shape(input_shape))

def unpack_views(data):
    """Returns ``(x, y)`` from a batch that holds a pair of views."""
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return data
    raise ValueError(
        "The two-view models train on `(x, y)` pairs: call `fit(x, y, ...)` or use a "
        f"dataset that yields `(x, y)` tuples. Got a batch of type {type(data).__name__}"
        + (f" with {len(data)} elements." if isinstance(data, (tuple, list)) else ".")
    )


def half_squared_error(prediction, target):
    """``½‖prediction − target‖²`` summed over features, averaged over the batch.

    Summed (not averaged) over features so that the gradient is the population gradient
    of docs/theory.md, 'The model', independent of the number of features.
    """
    return 0.5 * ops.mean(ops.sum(ops.square(prediction - target), axis=-1))


@keras.saving.register_keras_serializable(package="keras_jepa.theory")
class TwoViewJEPA(SelfSupervisedModel):
    """JEPA (self-distillation) on paired views, for any encoder and predictor.

    Loss on a batch of pairs: ``½ mean_batch ‖predictor(encoder(x)) − sg(target(y))‖²``.
    The model's output (``model(x)``) is the online encoder's embedding.

    Args:
        encoder: a Keras model or layer mapping views ``[B, d]`` to embeddings ``[B, h]``.
            It must be built (e.g. start with `keras.Input`) when ``target="ema"``.
        predictor: a Keras layer or model mapping embeddings ``[B, h]`` to ``[B, h]``.
        target_mode: as in `keras_jepa.models.IJEPA`: ``"context_stop_gradient"``
            (default: the target is ``encoder`` itself with its gradient stopped, as in
            the theory) or ``"ema"`` (a separate, non-trainable copy updated as
            ``t ← m t + (1 − m) online`` after every optimizer step), or, as an ablation
            only, ``"no_stop_gradient"`` (the target is ``encoder`` itself and the
            gradient flows through it as well: the loss is then minimised by the
            collapsed encoder, and the deep linear model does collapse, see
            `simulate_no_stop_gradient`).
        momentum: the momentum ``m`` of the EMA target, in [0, 1) (default 0.99).
        target, ema_momentum: the first release's names of `target_mode` (with
            ``"stop_gradient"`` for ``"context_stop_gradient"``) and `momentum`; still
            accepted, saved configs included.
        **kwargs: passed to `keras.Model`.

    Example:

    ```python
    encoder = keras.Sequential([keras.Input((100,)), keras.layers.Dense(256, "relu"),
                                keras.layers.Dense(64)])
    model = keras_jepa.theory.TwoViewJEPA(encoder, keras.layers.Dense(64))
    model.compile(optimizer=keras.optimizers.SGD(0.05))
    x, y = keras_jepa.theory.make_two_view_data(lam, rho, num_samples=1024, seed=0)
    model.fit(x, y, batch_size=1024, epochs=100)
    ```
    """

    def __init__(
        self,
        encoder,
        predictor,
        target_mode=None,
        momentum=None,
        target=None,
        ema_momentum=None,
        **kwargs,
    ):
        target_mode, momentum = resolve_target_mode(target_mode, momentum, target,
                                                    ema_momentum)
        super().__init__(**kwargs)
        self.encoder = encoder
        self.predictor = predictor
        self.target_mode = target_mode
        self.momentum = momentum
        self.target_encoder = None
        self._target_pairs = []
        if target_mode == "ema":
            if not encoder.built:
                raise ValueError(
                    "`encoder` must be built for target_mode='ema' (give it a `keras.Input` or "
                    "call it once) so that its target copy can start from its weights."
                )
            self.target_encoder = keras.models.clone_model(encoder)
            self.target_encoder.trainable = False
            self._target_pairs = pair_variables(self.target_encoder, encoder)
            copy_weights(self._target_pairs)
        build_when_input_known(self)

    def build(self, input_shape):
        build_encoder_and_head(self.encoder, self.predictor, input_shape)
        self.built = True

    def call(self, x, training=False):
        return self.encoder(x, training=training)

    def target_embedding(self, y):
        """The regression target ``sg(target(y))`` of a batch of target views.

        With ``target_mode="no_stop_gradient"``: ``encoder(y)``, gradient included.
        """
        if self.target_mode == "no_stop_gradient":
            return self.encoder(y, training=False)
        with no_gradient():
            if self.target_mode == "ema":
                embedding = self.target_encoder(y, training=False)
            else:
                embedding = self.encoder(y, training=False)
        return ops.stop_gradient(embedding)

    def compute_ssl_loss(self, data, training=True):
        x, y = unpack_views(data)
        prediction = self.predictor(self.encoder(x, training=training), training=training)
        return half_squared_error(prediction, self.target_embedding(y)), {}

    def update_target(self, step):
        if self.target_mode == "ema":
            ema_update(self._target_pairs, self.momentum)
        return {}

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "encoder": keras.saving.serialize_keras_object(self.encoder),
                "predictor": keras.saving.serialize_keras_object(self.predictor),
                "target_mode": self.target_mode,
                "momentum": self.momentum,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_layers(config, ("encoder", "predictor")))
