import math

import keras
import numpy as np
import pytest
from helpers import random_batch
from helpers import set_seeded_weights
from helpers import tiny_ijepa
from keras import ops

from keras_jepa.training import CosineSchedule
from keras_jepa.training import LinearSchedule
from keras_jepa.training import ScheduledAdamW
from keras_jepa.training import WarmupCosineSchedule
from keras_jepa.training import copy_weights
from keras_jepa.training import ema_update
from keras_jepa.training import ijepa_optimizer
from keras_jepa.training import pair_variables


def values(schedule, steps):
    return np.array([float(schedule(s)) for s in steps])


def test_schedules_follow_their_formulas():
    steps = np.arange(0, 13)
    np.testing.assert_allclose(values(LinearSchedule(0.996, 1.0, 10), steps),
                               0.996 + 0.004 * np.minimum(steps / 10, 1), atol=1e-7)
    wd = values(CosineSchedule(0.04, 0.4, 10), steps)
    expected = 0.4 + (0.04 - 0.4) * 0.5 * (1 + np.cos(np.pi * np.minimum(steps / 10, 1)))
    np.testing.assert_allclose(wd, expected, atol=1e-6)
    assert wd[0] == pytest.approx(0.04) and wd[-1] == pytest.approx(0.4)
    lr = values(WarmupCosineSchedule(1e-3, total_steps=10, warmup_steps=4, start_value=2e-4,
                                     final_value=1e-6), steps)
    np.testing.assert_allclose(lr[:5], 2e-4 + 8e-4 * np.arange(5) / 4, rtol=1e-5)
    np.testing.assert_allclose(lr[6], 1e-6 + (1e-3 - 1e-6) * 0.5 * (1 + math.cos(math.pi * 2 / 6)), rtol=1e-5)
    assert lr[10] == pytest.approx(1e-6) and lr[12] == pytest.approx(1e-6)


def test_schedule_configs_roundtrip_and_errors():
    for schedule in (LinearSchedule(0.9, 1.0, 7), CosineSchedule(0.1, 0.2, 3),
                     WarmupCosineSchedule(0.5, total_steps=9, warmup_steps=2, start_value=0.1, final_value=0.01)):
        clone = schedule.__class__.from_config(schedule.get_config())
        np.testing.assert_allclose(values(clone, range(10)), values(schedule, range(10)))
    with pytest.raises(ValueError, match="`total_steps` must be a positive integer"):
        LinearSchedule(0.9, 1.0, 0)
    with pytest.raises(ValueError, match=r"`warmup_steps` must be an integer in \[0, total_steps=5\]"):
        WarmupCosineSchedule(1.0, total_steps=5, warmup_steps=6)


def test_weight_decay_follows_schedule_and_skips_1d_weights():
    kernel = keras.Variable(np.ones((2, 3), "float32"))
    bias = keras.Variable(np.ones((3,), "float32"))
    schedule = CosineSchedule(0.1, 0.5, total_steps=4)
    optimizer = ScheduledAdamW(learning_rate=0.5, weight_decay=schedule)
    optimizer.build([kernel, bias])
    expected = 1.0
    for step in range(3):
        # Zero gradients: Adam moves nothing, only the decoupled weight decay acts.
        # Step `step` (0-based) reads the schedule at step + 1, as the reference does.
        optimizer.apply([ops.zeros((2, 3)), ops.zeros((3,))], [kernel, bias])
        expected *= 1 - 0.5 * float(schedule(step + 1))
        np.testing.assert_allclose(ops.convert_to_numpy(kernel), expected, rtol=1e-6)
        np.testing.assert_array_equal(ops.convert_to_numpy(bias), 1.0)


def test_scheduled_adamw_config_roundtrip():
    optimizer = ijepa_optimizer(total_steps=30, warmup_steps=3, weight_decay=(0.01, 0.3), beta_2=0.95)
    config = optimizer.get_config()
    clone = ScheduledAdamW.from_config(config)
    assert clone.beta_2 == 0.95
    # Before the first step the optimizer reads the value the first step will use.
    first = 0.3 + (0.01 - 0.3) * 0.5 * (1 + np.cos(np.pi / 30))
    assert float(clone.weight_decay) == pytest.approx(first, rel=1e-5)
    assert clone.get_config()["weight_decay"] == config["weight_decay"]
    constant = ScheduledAdamW(weight_decay=0.2)
    assert ScheduledAdamW.from_config(constant.get_config()).weight_decay == 0.2
    with pytest.raises(ValueError, match="`weight_decay` must be a float or a \\(start, end\\) pair"):
        ijepa_optimizer(total_steps=10, weight_decay=(0.1, 0.2, 0.3))


def test_ema_update_and_copy(rng):
    source = keras.layers.Dense(3)
    target = keras.layers.Dense(3)
    source.build((None, 2))
    target.build((None, 2))
    pairs = pair_variables(target, source)
    copy_weights(pairs)
    for t, s in pairs:
        np.testing.assert_array_equal(ops.convert_to_numpy(t), ops.convert_to_numpy(s))
    old = [ops.convert_to_numpy(t).copy() for t, _ in pairs]
    for _, s in pairs:
        s.assign(rng.normal(size=s.shape).astype("float32"))
    ema_update(pairs, 0.9)
    for (t, s), o in zip(pairs, old):
        np.testing.assert_allclose(ops.convert_to_numpy(t), 0.9 * o + 0.1 * ops.convert_to_numpy(s), atol=1e-7)
    other = keras.layers.Dense(4)
    other.build((None, 2))
    with pytest.raises(ValueError, match="does not match source weight"):
        pair_variables(other, source)


def test_resumed_run_continues_exactly(rng, tmp_path):
    batches = {k: np.concatenate([v, v[::-1]]) for k, v in random_batch(rng).items()}

    def new_model():
        keras.utils.set_random_seed(3)
        model = tiny_ijepa(total_steps=4)
        set_seeded_weights(model, seed=4)
        model.compile(optimizer=ijepa_optimizer(total_steps=4, warmup_steps=1))
        return model

    straight = new_model()
    straight.fit(batches, batch_size=3, epochs=2, shuffle=False, verbose=0)

    first = new_model()
    first.fit(batches, batch_size=3, epochs=1, shuffle=False, verbose=0)
    first.save(tmp_path / "half.keras")
    resumed = keras.models.load_model(tmp_path / "half.keras")
    assert int(resumed.optimizer.iterations) == 2
    history = resumed.fit(batches, batch_size=3, epochs=2, initial_epoch=1, shuffle=False, verbose=0)
    assert int(resumed.optimizer.iterations) == 4
    assert history.history["momentum"][-1] == pytest.approx(0.996 + 0.004 * 3 / 4)
    for a, b in zip(straight.weights, resumed.weights):
        np.testing.assert_allclose(ops.convert_to_numpy(a), ops.convert_to_numpy(b), atol=1e-6, err_msg=a.path)
