"""Step schedules for I-JEPA training, keyed on the optimizer's iteration count.

Every schedule is a `keras.optimizers.schedules.LearningRateSchedule`: a serializable
function of the step written in keras.ops. Because the step is `optimizer.iterations`, a
resumed run (restored optimizer state) continues the schedules exactly where it stopped.
The same classes serve the learning rate, the weight decay and the EMA momentum.
"""

import math

import keras
from keras import ops


def _check_steps(total_steps, warmup_steps=0):
    if int(total_steps) != total_steps or total_steps < 1:
        raise ValueError(
            f"`total_steps` must be a positive integer, got {total_steps!r}."
        )
    if int(warmup_steps) != warmup_steps or not 0 <= warmup_steps <= total_steps:
        raise ValueError(
            "`warmup_steps` must be an integer in [0, total_steps="
            f"{total_steps}], got {warmup_steps!r}."
        )


def _progress(step, start, length):
    """Fraction of `length` steps done since `start`, clipped to [0, 1]."""
    step = ops.cast(step, "float32")
    return ops.clip((step - start) / max(float(length), 1.0), 0.0, 1.0)


class _RampSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """From `start` at step 0 to `end` at `total_steps`, then constant; `__call__` is the shape."""

    def __init__(self, start, end, total_steps):
        _check_steps(total_steps)
        self.start = float(start)
        self.end = float(end)
        self.total_steps = int(total_steps)

    def get_config(self):
        return {"start": self.start, "end": self.end, "total_steps": self.total_steps}


@keras.saving.register_keras_serializable(package="keras_jepa")
class LinearSchedule(_RampSchedule):
    """Linear ramp from `start` to `end` over `total_steps`, then constant.

    I-JEPA's EMA momentum follows this schedule, 0.996 → 1.0 over the whole run.

    Args:
        start: value at step 0.
        end: value at and after `total_steps`.
        total_steps: length of the ramp in optimizer steps.

    Example:
    schedule = keras_jepa.training.LinearSchedule(0.996, 1.0, total_steps=100)
    schedule(50)  # 0.998
    """

    def __call__(self, step):
        t = _progress(step, 0.0, self.total_steps)
        return self.start + (self.end - self.start) * t


@keras.saving.register_keras_serializable(package="keras_jepa")
class CosineSchedule(_RampSchedule):
    """Half-cosine from `start` to `end` over `total_steps`, then constant.

    I-JEPA's weight decay follows this schedule upwards, 0.04 → 0.4; `end` may be larger
    or smaller than `start`.

    Args:
        start: value at step 0.
        end: value at and after `total_steps`.
        total_steps: length of the schedule in optimizer steps.

    Example:
    wd = keras_jepa.training.CosineSchedule(0.04, 0.4, total_steps=1000)
    wd(500)  # 0.22, halfway
    """

    def __call__(self, step):
        t = _progress(step, 0.0, self.total_steps)
        return self.end + (self.start - self.end) * 0.5 * (1.0 + ops.cos(math.pi * t))


@keras.saving.register_keras_serializable(package="keras_jepa")
class WarmupCosineSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from `start_value` to `peak_value`, then cosine decay to `final_value`.

    I-JEPA's learning rate: 2e-4 → 1e-3 over 40 epochs of warm-up, then cosine to 1e-6.

    Args:
        peak_value: value reached at the end of the warm-up.
        total_steps: length of the whole schedule (warm-up included) in optimizer steps.
        warmup_steps: length of the linear warm-up.
        start_value: value at step 0.
        final_value: value at and after `total_steps`.

    Example:
    lr = keras_jepa.training.WarmupCosineSchedule(
        1e-3, total_steps=1000, warmup_steps=100, start_value=2e-4, final_value=1e-6)
    optimizer = keras_jepa.training.ScheduledAdamW(learning_rate=lr)
    """

    def __init__(
        self,
        peak_value,
        total_steps,
        warmup_steps=0,
        start_value=0.0,
        final_value=0.0,
    ):
        _check_steps(total_steps, warmup_steps)
        self.peak_value = float(peak_value)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.start_value = float(start_value)
        self.final_value = float(final_value)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warm = self.start_value + (self.peak_value - self.start_value) * _progress(
            step, 0.0, self.warmup_steps
        )
        t = _progress(step, self.warmup_steps, self.total_steps - self.warmup_steps)
        decay = self.final_value + (self.peak_value - self.final_value) * 0.5 * (
            1.0 + ops.cos(math.pi * t)
        )
        return ops.where(step < self.warmup_steps, warm, decay)

    def get_config(self):
        return {
            "peak_value": self.peak_value,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "start_value": self.start_value,
            "final_value": self.final_value,
        }
