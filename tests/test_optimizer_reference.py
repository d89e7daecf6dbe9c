"""`ScheduledAdamW` / `ijepa_optimizer` reproduce the reference's torch AdamW step for step.

The reference is written here in float64 numpy from torch.optim.AdamW's documented
update rule and the reference's schedulers (advanced before they are read).
"""

import math

import keras
import numpy as np
import pytest
from keras import ops

from keras_jepa.training import CosineSchedule
from keras_jepa.training import ScheduledAdamW
from keras_jepa.training import SelfSupervisedModel
from keras_jepa.training import WarmupCosineSchedule
from keras_jepa.training import ijepa_optimizer

TOTAL, WARMUP = 25, 5


def reference_lr(k, total=TOTAL, warmup=WARMUP, start=2e-4, peak=1e-3, final=1e-6):
    """The reference's WarmupCosineSchedule after its k-th `step()` (k ≥ 1)."""
    if k < warmup:
        return start + k / warmup * (peak - start)
    progress = (k - warmup) / max(1, total - warmup)
    return max(final, final + (peak - final) * 0.5 * (1 + math.cos(math.pi * progress)))


def reference_wd(k, total=TOTAL, start=0.04, end=0.4):
    """The reference's CosineWDSchedule after its k-th `step()`."""
    value = end + (start - end) * 0.5 * (1 + math.cos(math.pi * k / total))
    return min(end, value)


def torch_adamw(weights, gradients, decays, lr=reference_lr, wd=reference_wd, b1=0.9,
                b2=0.999, eps=1e-8):
    """torch.optim.AdamW (amsgrad off, maximize off) in float64: decoupled decay first."""
    w = [np.array(x, np.float64) for x in weights]
    m = [np.zeros_like(x) for x in w]
    v = [np.zeros_like(x) for x in w]
    for t, grads in enumerate(gradients, start=1):
        for i, g in enumerate(grads):
            if decays[i]:
                w[i] *= 1 - lr(t) * wd(t)
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            w[i] -= lr(t) / (1 - b1**t) * m[i] / (np.sqrt(v[i] / (1 - b2**t)) + eps)
    return w


def schedules():
    return (WarmupCosineSchedule(1e-3, total_steps=TOTAL, warmup_steps=WARMUP,
                                 start_value=2e-4, final_value=1e-6),
            CosineSchedule(0.04, 0.4, total_steps=TOTAL))


def run_optimizer(weights, gradients, **kwargs):
    variables = [keras.Variable(x) for x in weights]
    learning_rate, weight_decay = schedules()
    optimizer = ScheduledAdamW(learning_rate=learning_rate, weight_decay=weight_decay,
                               **kwargs)
    for grads in gradients:
        optimizer.apply([ops.convert_to_tensor(g.astype("float32")) for g in grads],
                        variables)
    return [ops.convert_to_numpy(x).astype(np.float64) for x in variables]


def problem(scale):
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=(6, 4)).astype("float32"),
               rng.normal(size=(4,)).astype("float32")]
    gradients = [[scale * rng.normal(size=x.shape) for x in weights] for _ in range(TOTAL)]
    return weights, gradients


@pytest.mark.parametrize("scale", [1e-6, 1e-2])
def test_each_step_is_torch_adamw_with_the_reference_schedules(scale):
    # 1e-6: I-JEPA's typical gradient size, where ε matters; 1e-2: where it does not.
    weights, gradients = problem(scale)
    expected = torch_adamw(weights, gradients, decays=[True, False])
    got = run_optimizer(weights, gradients)
    for g, e, w in zip(got, expected, weights):
        assert np.linalg.norm(g - e) / np.linalg.norm(e) < 1e-6
        # The update itself, to float32 rounding of the weights it is added to.
        assert np.linalg.norm(g - e) / np.linalg.norm(e - w) < 1e-4


def test_keras_epsilon_mode_is_kept_and_differs_at_small_gradients():
    weights, gradients = problem(1e-6)
    expected = torch_adamw(weights, gradients, decays=[True, False])
    keras_mode = run_optimizer(weights, gradients, epsilon=1e-7, epsilon_mode="keras",
                               schedule_offset=0)
    error = np.linalg.norm(keras_mode[0] - expected[0]) / np.linalg.norm(
        expected[0] - weights[0])
    assert error > 0.1  # Keras's convention is a different optimizer for I-JEPA


def test_schedules_are_read_as_the_reference_reads_them():
    optimizer = ijepa_optimizer(total_steps=TOTAL, warmup_steps=WARMUP)
    variable = keras.Variable(np.ones((2, 2), "float32"))
    optimizer.build([variable])
    values = {}
    for iteration in range(TOTAL):
        values[iteration + 1] = (float(ops.convert_to_numpy(optimizer.learning_rate)),
                                 float(ops.convert_to_numpy(optimizer.weight_decay)))
        optimizer.apply([ops.zeros((2, 2))], [variable])
    # Training step k (1-based) uses the reference's value after k scheduler steps:
    # the first step, the end of the warm-up and the last step.
    for k in (1, WARMUP, TOTAL):
        assert values[k][0] == pytest.approx(reference_lr(k), rel=1e-6)
        assert values[k][1] == pytest.approx(reference_wd(k), rel=1e-6)
    assert values[1][0] == pytest.approx(2e-4 + 8e-4 / WARMUP, rel=1e-6)
    assert values[TOTAL][1] == pytest.approx(0.4, rel=1e-6)


def test_ipe_scale_stretches_the_cosines_not_the_warmup():
    optimizer = ijepa_optimizer(total_steps=100, warmup_steps=10, ipe_scale=1.25)
    assert optimizer._learning_rate.total_steps == 125
    assert optimizer._learning_rate.warmup_steps == 10
    assert optimizer._weight_decay_schedule.total_steps == 125
    # The run's last step is short of the schedule's end, as in the reference.
    last = float(ops.convert_to_numpy(optimizer._learning_rate(100)))
    assert last == pytest.approx(reference_lr(100, total=125, warmup=10), rel=1e-6)
    assert last > 1e-4


class Quadratic(SelfSupervisedModel):
    """`mean((x W + b − y)²)`: a model whose gradients numpy computes exactly."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(3)
        self.dense.build((None, 4))
        self.built = True

    def compute_ssl_loss(self, data, training=True):
        error = self.dense(data["x"]) - data["y"]
        return ops.mean(ops.square(error)), {}


def test_thirty_fit_steps_equal_the_reference_computed_in_numpy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 4)).astype("float32")
    y = rng.normal(size=(8, 3)).astype("float32")
    keras.utils.set_random_seed(0)
    model = Quadratic()
    kernel0, bias0 = (ops.convert_to_numpy(w).astype(np.float64) for w in model.dense.weights)
    steps, warmup = 30, 6
    model.compile(optimizer=ijepa_optimizer(total_steps=steps, warmup_steps=warmup))
    model.fit({"x": x, "y": y}, batch_size=8, epochs=steps, verbose=0)

    lr = lambda k: reference_lr(k, total=steps, warmup=warmup)  # noqa: E731
    wd = lambda k: reference_wd(k, total=steps)  # noqa: E731
    w, b = kernel0, bias0
    m = [np.zeros_like(w), np.zeros_like(b)]
    v = [np.zeros_like(w), np.zeros_like(b)]
    for t in range(1, steps + 1):
        error = x.astype(np.float64) @ w + b - y
        grads = [2 * x.T @ error / error.size, 2 * error.sum(0) / error.size]
        w = w * (1 - lr(t) * wd(t))  # the kernel is decayed, the bias is not
        params = [w, b]
        for i, g in enumerate(grads):
            m[i] = 0.9 * m[i] + 0.1 * g
            v[i] = 0.999 * v[i] + 0.001 * g * g
            params[i] = params[i] - lr(t) / (1 - 0.9**t) * m[i] / (
                np.sqrt(v[i] / (1 - 0.999**t)) + 1e-8)
        w, b = params
    got_w, got_b = (ops.convert_to_numpy(x).astype(np.float64) for x in model.dense.weights)
    np.testing.assert_allclose(got_w, w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_b, b, rtol=1e-5, atol=1e-6)
    assert np.abs(w - kernel0).max() > 1e-3  # the run moved the weights


@pytest.mark.parametrize("kwargs, match", [
    ({"epsilon": 0.0}, "`epsilon`"),
    ({"epsilon": -1e-8}, "`epsilon`"),
    ({"beta_1": 1.0}, "`beta_1`"),
    ({"beta_2": -0.1}, "`beta_2`"),
    ({"epsilon_mode": "pytorch"}, "`epsilon_mode`"),
    ({"schedule_offset": 2}, "`schedule_offset`"),
    ({"amsgrad": True}, "amsgrad"),
])
def test_bad_optimizer_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ScheduledAdamW(**kwargs)


def test_bad_ipe_scale_is_named():
    with pytest.raises(ValueError, match="`ipe_scale`"):
        ijepa_optimizer(total_steps=10, ipe_scale=0.5)


def test_config_round_trip_keeps_the_conventions():
    optimizer = ScheduledAdamW(epsilon=1e-7, epsilon_mode="keras", schedule_offset=0)
    clone = ScheduledAdamW.from_config(optimizer.get_config())
    assert (clone.epsilon, clone.epsilon_mode, clone.schedule_offset) == (1e-7, "keras", 0)


def test_an_optimizer_saved_before_the_torch_convention_resumes_with_its_own():
    config = ScheduledAdamW(epsilon=1e-7).get_config()
    del config["epsilon_mode"], config["schedule_offset"]
    old = ScheduledAdamW.from_config(config)
    assert (old.epsilon_mode, old.schedule_offset) == ("keras", 0)
    assert ScheduledAdamW(epsilon=np.float32(1e-8)).epsilon == pytest.approx(1e-8)
