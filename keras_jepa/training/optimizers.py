"""The reference I-JEPA's optimizer, step for step: torch's AdamW with its schedules.

Keras's AdamW takes a constant weight decay and puts Adam's ε where torch does not.
I-JEPA raises the weight decay along a cosine, 0.04 → 0.4, at every step, never decays
biases or normalisation parameters, and reads every schedule after advancing it.
`ScheduledAdamW` does all of that on every backend (the torch backend keeps Keras's
fast `foreach` path), reading its schedules from `optimizer.iterations`, so a restored
optimizer resumes them exactly.
"""

import numbers

import keras
from keras import ops

from keras_jepa.training.schedules import CosineSchedule
from keras_jepa.training.schedules import WarmupCosineSchedule


def _adamw_base():
    # The torch backend has a faster foreach implementation of AdamW, but Keras picks it
    # only for the exact class; a subclass must name it as its base to keep it.
    if keras.backend.backend() == "torch":
        from keras.src.backend.torch.optimizers.torch_adamw import AdamW

        return AdamW
    return keras.optimizers.AdamW


EPSILON_MODES = ("torch", "keras")


@keras.saving.register_keras_serializable(package="keras_jepa")
class ScheduledAdamW(_adamw_base()):
    """AdamW with torch's update rule, scheduled weight decay, and no decay on 1-D weights.

    By default one step is exactly `torch.optim.AdamW`'s, the optimizer of the reference
    I-JEPA: decoupled decay `w ← w (1 − lr·wd)`, then `m ← β1 m + (1 − β1) g`,
    `v ← β2 v + (1 − β2) g²`, `w ← w − lr/(1 − β1^t) · m / (sqrt(v/(1 − β2^t)) + ε)`,
    with ε added to the bias-corrected root (`epsilon_mode="torch"`, ε = 1e-8). Keras's
    own Adam adds ε to the uncorrected root (`epsilon_mode="keras"`), which acts like a
    torch ε of `ε / sqrt(1 − β2^t)`: with Keras's default ε = 1e-7 that is ≥ 30× torch's
    1e-8 for the first ~100 steps and still 12× at step 1,000, and with I-JEPA's tiny
    gradients (median ~5e-7 at initialisation) that difference dominates the update.

    Schedules (learning rate, weight decay) are read at `iterations + schedule_offset`.
    With the default offset 1, training step k (1-based) uses the schedules' value at
    k, as the reference's schedulers do (they advance before they are read); offset 0
    is Keras's convention (step k reads the value at k − 1).

    Args:
        learning_rate: a float or a `LearningRateSchedule`.
        weight_decay: a float or a schedule of the step (e.g. `CosineSchedule`). Weights
            with at most one dimension (biases, LayerNorm scales and offsets) are never
            decayed, as in the reference implementation.
        epsilon: Adam's ε (> 0); default 1e-8, torch's.
        epsilon_mode: "torch" (default) or "keras": where ε is added (see above).
        schedule_offset: 1 (default, the reference's convention) or 0 (Keras's).
        **kwargs: the other arguments of `keras.optimizers.AdamW` (`beta_1`, `beta_2`,
            `clipnorm`, ...).

    Example:
    optimizer = keras_jepa.training.ScheduledAdamW(
        learning_rate=keras_jepa.training.WarmupCosineSchedule(1e-3, total_steps=1000),
        weight_decay=keras_jepa.training.CosineSchedule(0.04, 0.4, total_steps=1000),
    )
    """

    def __init__(self, learning_rate=1e-3, weight_decay=0.04, epsilon=1e-8,
                 epsilon_mode="torch", schedule_offset=1, **kwargs):
        if epsilon_mode not in EPSILON_MODES:
            raise ValueError(
                f"`epsilon_mode` must be one of {EPSILON_MODES}, got {epsilon_mode!r}.")
        if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or \
                not epsilon > 0:
            raise ValueError(f"`epsilon` must be a number > 0, got {epsilon!r}.")
        for name in ("beta_1", "beta_2"):
            value = kwargs.get(name, 0.9 if name == "beta_1" else 0.999)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
                    not 0.0 <= value < 1.0:
                raise ValueError(f"`{name}` must be a number in [0, 1), got {value!r}.")
        if schedule_offset not in (0, 1) or isinstance(schedule_offset, bool):
            raise ValueError(f"`schedule_offset` must be 0 or 1, got {schedule_offset!r}.")
        if epsilon_mode == "torch" and kwargs.get("amsgrad"):
            raise ValueError("`amsgrad=True` is supported with epsilon_mode='keras' only.")
        schedule = None
        if isinstance(weight_decay, dict):
            weight_decay = keras.saving.deserialize_keras_object(weight_decay)
        if isinstance(weight_decay, keras.optimizers.schedules.LearningRateSchedule):
            schedule, weight_decay = weight_decay, 0.0
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay,
                         epsilon=epsilon, **kwargs)
        self._weight_decay_schedule = schedule
        self.epsilon_mode = epsilon_mode
        self.schedule_offset = int(schedule_offset)

    def _schedule_step(self):
        return self._iterations + getattr(self, "schedule_offset", 0)

    def _get_current_learning_rate(self):
        if isinstance(self._learning_rate, keras.optimizers.schedules.LearningRateSchedule):
            return self._learning_rate(self._schedule_step())
        return super()._get_current_learning_rate()

    @property
    def weight_decay(self):
        schedule = getattr(self, "_weight_decay_schedule", None)
        if schedule is not None:
            return schedule(self._schedule_step())
        return self._constant_weight_decay

    @weight_decay.setter
    def weight_decay(self, value):
        self._constant_weight_decay = value

    def _use_weight_decay(self, variable):
        if len(variable.shape) <= 1:
            return False
        return super()._use_weight_decay(variable)

    def _bias_corrections(self, dtype):
        step = ops.cast(self.iterations + 1, dtype)
        return (1.0 - ops.power(ops.cast(self.beta_1, dtype), step),
                1.0 - ops.power(ops.cast(self.beta_2, dtype), step))

    def update_step(self, gradient, variable, learning_rate):
        if self.epsilon_mode == "keras":
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        gradient = ops.cast(gradient, dtype)
        correction_1, correction_2 = self._bias_corrections(dtype)
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1.0 - self.beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v),
                                        1.0 - self.beta_2))
        denominator = ops.add(ops.divide(ops.sqrt(v), ops.sqrt(correction_2)), self.epsilon)
        step_size = ops.divide(ops.cast(learning_rate, dtype), correction_1)
        self.assign_sub(variable, ops.multiply(step_size, ops.divide(m, denominator)))

    def _parallel_update_step(self, grads, variables, learning_rate):
        # torch backend only: the foreach form of `update_step`.
        if self.epsilon_mode == "keras":
            return super()._parallel_update_step(grads, variables, learning_rate)
        import torch

        values = [v.value for v in variables]
        dtype = values[0].dtype
        correction_1, correction_2 = self._bias_corrections(dtype)
        m_list = [self._momentums[self._get_variable_index(v)].value for v in variables]
        v_list = [self._velocities[self._get_variable_index(v)].value for v in variables]
        torch._foreach_mul_(m_list, self.beta_1)
        torch._foreach_add_(m_list, grads, alpha=1.0 - self.beta_1)
        torch._foreach_mul_(v_list, self.beta_2)
        torch._foreach_addcmul_(v_list, grads, grads, value=1.0 - self.beta_2)
        denominator = torch._foreach_div(torch._foreach_sqrt(v_list), ops.sqrt(correction_2))
        torch._foreach_add_(denominator, self.epsilon)
        step_size = ops.divide(ops.cast(learning_rate, dtype), correction_1)
        updates = torch._foreach_div(m_list, denominator)
        torch._foreach_mul_(updates, step_size)
        torch._foreach_sub_(values, updates)

    def get_config(self):
        config = super().get_config()
        if self._weight_decay_schedule is not None:
            config["weight_decay"] = keras.saving.serialize_keras_object(
                self._weight_decay_schedule
            )
        config["epsilon_mode"] = self.epsilon_mode
        config["schedule_offset"] = self.schedule_offset
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if "epsilon_mode" not in config:
            # Saved by keras_jepa 0.1, which had Keras's conventions: resume with them.
            config.setdefault("epsilon_mode", "keras")
            config.setdefault("schedule_offset", 0)
        return super().from_config(config, custom_objects=custom_objects)


def ijepa_optimizer(
    total_steps,
    warmup_steps=None,
    peak_learning_rate=1e-3,
    start_learning_rate=2e-4,
    final_learning_rate=1e-6,
    weight_decay=(0.04, 0.4),
    beta_1=0.9,
    beta_2=0.999,
    ipe_scale=1.0,
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
        ipe_scale: the reference's schedule stretch: the cosine schedules span
            `round(ipe_scale · total_steps)` steps (its configs use 1.25, so a run ends
            before the learning rate reaches `final_learning_rate`). The warm-up is not
            stretched. Give the EMA ramp the same length: `IJEPA(total_steps=...)`.
        **kwargs: passed to `ScheduledAdamW` (`epsilon`, 1e-8; `epsilon_mode`,
            "torch"; `schedule_offset`, 1: the reference's update and schedule reads).

    Returns:
        A `ScheduledAdamW`.

    Example:
    model.compile(optimizer=keras_jepa.training.ijepa_optimizer(total_steps=10 * 28))
    """
    if isinstance(ipe_scale, bool) or not isinstance(ipe_scale, numbers.Real) or \
            not ipe_scale >= 1.0:
        raise ValueError(f"`ipe_scale` must be a number ≥ 1, got {ipe_scale!r}.")
    if warmup_steps is None:
        warmup_steps = 2 * total_steps // 15
    total_steps = int(round(total_steps * ipe_scale))
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
