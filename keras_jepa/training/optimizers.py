"""AdamW with a scheduled weight decay that skips biases, norms and other 1-D weights.

Keras's AdamW takes a constant weight decay. I-JEPA raises it along a cosine, 0.04 → 0.4,
at every step, and never decays biases or normalisation parameters. `ScheduledAdamW`
reads its weight decay from a schedule of `optimizer.iterations`, so a restored optimizer
resumes the schedule exactly.
"""

import keras

from keras_jepa.training.schedules import CosineSchedule
from keras_jepa.training.schedules import WarmupCosineSchedule


def _adamw_base():
    # The torch backend has a faster foreach implementation of AdamW, but Keras picks it
    # only for the exact class; a subclass must name it as its base to keep it.
    if keras.backend.backend() == "torch":
        from keras.src.backend.torch.optimizers.torch_adamw import AdamW

        return AdamW
    return keras.optimizers.AdamW


@keras.saving.register_keras_serializable(package="keras_jepa")
class ScheduledAdamW(_adamw_base()):
    """AdamW whose weight decay may follow a schedule and never touches 1-D weights.

    Args:
        learning_rate: a float or a `LearningRateSchedule`.
        weight_decay: a float or a schedule of the step (e.g. `CosineSchedule`). Weights
            with at most one dimension (biases, LayerNorm scales and offsets) are never
            decayed, as in the reference implementation.
        **kwargs: the other arguments of `keras.optimizers.AdamW` (`beta_1`, `beta_2`,
            `epsilon`, `clipnorm`, ...).

    Example:
    optimizer = keras_jepa.training.ScheduledAdamW(
        learning_rate=keras_jepa.training.WarmupCosineSchedule(1e-3, total_steps=1000),
        weight_decay=keras_jepa.training.CosineSchedule(0.04, 0.4, total_steps=1000),
    )
    """

    def __init__(self, learning_rate=1e-3, weight_decay=0.04, **kwargs):
        schedule = None
        if isinstance(weight_decay, dict):
            weight_decay = keras.saving.deserialize_keras_object(weight_decay)
        if isinstance(weight_decay, keras.optimizers.schedules.LearningRateSchedule):
            schedule, weight_decay = weight_decay, 0.0
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, **kwargs)
        self._weight_decay_schedule = schedule

    @property
    def weight_decay(self):
        schedule = getattr(self, "_weight_decay_schedule", None)
        if schedule is not None:
            return schedule(self.iterations)
        return self._constant_weight_decay

    @weight_decay.setter
    def weight_decay(self, value):
        self._constant_weight_decay = value

    def _use_weight_decay(self, variable):
        if len(variable.shape) <= 1:
            return False
        return super()._use_weight_decay(variable)

    def get_config(self):
        config = super().get_config()
        if self._weight_decay_schedule is not None:
            config["weight_decay"] = keras.saving.serialize_keras_object(
                self._weight_decay_schedule
            )
        return config


def ijepa_optimizer(
    total_steps,
    warmup_steps=None,
    peak_learning_rate=1e-3,
    start_learning_rate=2e-4,
    final_learning_rate=1e-6,
    weight_decay=(0.04, 0.4),
    beta_1=0.9,
    beta_2=0.999,
    **kwargs,
):
    """The reference I-JEPA optimizer: AdamW, warm-up + cosine LR, cosine weight decay.

    Args:
        total_steps: number of optimizer steps in the whole run.
        warmup_steps: linear warm-up length; default `2 * total_steps // 15`, the
            reference's 40 warm-up epochs out of 300.
        peak_learning_rate: learning rate at the end of the warm-up (reference 1e-3).
        start_learning_rate: learning rate at step 0 (reference 2e-4).
        final_learning_rate: learning rate at the end (reference 1e-6).
        weight_decay: `(start, end)` of the cosine weight-decay schedule (reference
            0.04 → 0.4), or a float for a constant.
        beta_1, beta_2: Adam betas.
        **kwargs: passed to `ScheduledAdamW`.

    Returns:
        A `ScheduledAdamW`.

    Example:
    model.compile(optimizer=keras_jepa.training.ijepa_optimizer(total_steps=10 * 28))
    """
    if warmup_steps is None:
        warmup_steps = 2 * total_steps // 15
    learning_rate = WarmupCosineSchedule(
        peak_learning_rate,
        total_steps=total_steps,
        warmup_steps=warmup_steps,
        start_value=start_learning_rate,
        final_value=final_learning_rate,
    )
    if isinstance(weight_decay, (tuple, list)):
        if len(weight_decay) != 2:
            raise ValueError(
                "`weight_decay` must be a float or a (start, end) pair, got "
                f"{weight_decay!r}."
            )
        weight_decay = CosineSchedule(*weight_decay, total_steps=total_steps)
    return ScheduledAdamW(
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        beta_1=beta_1,
        beta_2=beta_2,
        **kwargs,
    )
