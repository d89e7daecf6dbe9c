import keras
import numpy as np
import pytest
from helpers import random_batch
from helpers import set_seeded_weights
from helpers import tiny_encoder
from helpers import tiny_ijepa
from keras import ops
from numpy_reference import ijepa_loss

from keras_jepa.models import IJEPA
from keras_jepa.models import JEPAPredictor
from keras_jepa.training import ScheduledAdamW


def weights_of(model):
    return [ops.convert_to_numpy(w).copy() for w in model.weights]


def test_target_is_a_non_trainable_copy():
    model = tiny_ijepa()
    assert model.target_encoder is not model.context_encoder
    assert not model.target_encoder.trainable
    trainable_ids = {id(v) for v in model.trainable_variables}
    assert not any(id(v) in trainable_ids for v in model.target_encoder.weights)
    for t, c in zip(model.target_encoder.weights, model.context_encoder.weights):
        np.testing.assert_array_equal(ops.convert_to_numpy(t), ops.convert_to_numpy(c))


def test_ijepa_config_roundtrip_non_default():
    model = tiny_ijepa(loss="l2", momentum=0.9, final_momentum=0.99, total_steps=7,
                       target_norm_epsilon=1e-4)
    config = model.get_config()
    clone = IJEPA.from_config(config)
    assert clone.get_config() == config
    assert (clone.loss_name, clone.momentum, clone.total_steps) == ("l2", 0.9, 7)
    assert clone.context_encoder.get_config() == model.context_encoder.get_config()


@pytest.mark.parametrize("loss", ["smooth_l1", "l2"])
def test_loss_matches_numpy_reference(rng, loss):
    model = tiny_ijepa(loss=loss)
    set_seeded_weights(model, seed=1)
    batch = random_batch(rng)
    value, _ = model.compute_ssl_loss(batch, training=False)
    expected = ijepa_loss(model, batch, loss=loss)
    assert float(value) == pytest.approx(expected, rel=1e-4, abs=1e-5)


def test_loss_ignores_padded_target_slots(rng):
    model = tiny_ijepa()
    batch = random_batch(rng)
    base = float(model.compute_ssl_loss(batch, training=False)[0])
    moved = dict(batch, target_indices=batch["target_indices"].copy())
    moved["target_indices"][0, -1, -1] = (moved["target_indices"][0, -1, -1] + 1) % 16
    # The padded slot has weight 0, so where it points does not matter...
    assert float(model.compute_ssl_loss(moved, training=False)[0]) == pytest.approx(base, abs=1e-6)
    # ...but a real slot does.
    moved["target_indices"][0, 0, 0] = (moved["target_indices"][0, 0, 0] + 1) % 16
    assert float(model.compute_ssl_loss(moved, training=False)[0]) != pytest.approx(base, abs=1e-6)


def test_one_fit_step_updates_target_by_ema_of_new_context(rng, backend):
    model = tiny_ijepa(momentum=0.75, final_momentum=0.95, total_steps=4)
    model.compile(optimizer=ScheduledAdamW(learning_rate=0.05, weight_decay=0.1))
    # Make target and context differ so that the EMA is visible.
    set_seeded_weights(model.target_encoder, seed=3)
    old_target = weights_of(model.target_encoder)
    old_context = weights_of(model.context_encoder)
    batch = random_batch(rng)
    history = model.fit(batch, batch_size=3, epochs=1, verbose=0)
    m = 0.75  # momentum of step 0
    assert history.history["momentum"][0] == pytest.approx(m)
    new_context = weights_of(model.context_encoder)
    assert any(not np.allclose(a, b) for a, b in zip(old_context, new_context))
    for old_t, new_c, new_t in zip(old_target, new_context, weights_of(model.target_encoder)):
        np.testing.assert_allclose(new_t, m * old_t + (1 - m) * new_c, atol=1e-6)
    if backend == "torch":
        assert all(v.value.grad is None for v in model.target_encoder.weights)


def test_momentum_and_learning_rate_follow_the_optimizer_step(rng):
    total = 6
    model = tiny_ijepa(momentum=0.9, final_momentum=1.0)
    lr = keras.optimizers.schedules.PolynomialDecay(0.01, total, 0.001)
    model.compile(optimizer=ScheduledAdamW(learning_rate=lr))
    batches = {k: np.concatenate([v] * 2) for k, v in random_batch(rng).items()}
    history = model.fit(batches, batch_size=3, epochs=3, verbose=0)
    assert model.total_steps == total  # inferred: 3 epochs × 2 steps
    # Logs are those of the last step of each epoch (steps 1, 3, 5).
    np.testing.assert_allclose(history.history["momentum"], [0.9 + 0.1 * s / total for s in (1, 3, 5)], atol=1e-6)
    # The learning rate step s (0-based) used: the schedule at s + 1, as the reference
    # reads it (the momentum ramp has no such offset in the reference either).
    np.testing.assert_allclose(history.history["lr"], [float(lr(s + 1)) for s in (1, 3, 5)],
                               rtol=1e-5)
    assert int(model.optimizer.iterations) == total


def test_encode_pools_the_target_encoder(rng):
    model = tiny_ijepa()
    set_seeded_weights(model.target_encoder, seed=2)
    images = rng.normal(size=(5, 8, 8, 1)).astype("float32")
    target_tokens = ops.convert_to_numpy(model.target_encoder(images))
    np.testing.assert_allclose(model.encode(images, batch_size=2), target_tokens.mean(1), atol=1e-6)
    context_tokens = ops.convert_to_numpy(model.context_encoder(images))
    np.testing.assert_allclose(model.encode(images, encoder="context", pool="none"), context_tokens, atol=1e-6)
    with pytest.raises(ValueError, match="`pool` must be 'mean' or 'none'"):
        model.encode(images, pool="max")


def test_bad_batches_and_settings_raise(rng):
    model = tiny_ijepa()
    batch = random_batch(rng)
    with pytest.raises(ValueError, match="missing \\['target_weights'\\]"):
        model({k: v for k, v in batch.items() if k != "target_weights"})
    with pytest.raises(ValueError, match="`target_weights` shape"):
        model(dict(batch, target_weights=batch["target_weights"][:, :1]))
    with pytest.raises(ValueError, match=r"`target_indices` must lie in \[0, 16\)"):
        model(dict(batch, target_indices=batch["target_indices"] + 16))
    with pytest.raises(ValueError, match=r"`context_indices` holds 20 tokens per row but the grid has only 16"):
        model(dict(batch, context_indices=np.zeros((3, 20), "int32")))
    with pytest.raises(ValueError, match=r"`images` must have shape \(batch, 8, 8, 1\)"):
        model(dict(batch, images=np.zeros((3, 8, 8, 3), "float32")))
    with pytest.raises(ValueError, match="`loss` must be one of"):
        tiny_ijepa(loss="cosine")
    encoder = tiny_encoder()
    with pytest.raises(ValueError, match="`predictor.input_dim` \\(8\\) must equal the encoder width \\(16\\)"):
        IJEPA(encoder, JEPAPredictor(num_patches=16, input_dim=8, hidden_dim=8, depth=1, num_heads=2))
    with pytest.raises(ValueError, match="built for 4 patches but the encoder has 16"):
        IJEPA(encoder, JEPAPredictor(num_patches=4, input_dim=16, hidden_dim=8, depth=1, num_heads=2))


def test_a_fit_past_the_momentum_ramp_or_the_lr_schedule_is_refused(rng):
    from keras_jepa.training import ijepa_optimizer

    batches = {k: np.concatenate([v] * 2) for k, v in random_batch(rng).items()}
    model = tiny_ijepa()
    model.compile(optimizer=ijepa_optimizer(total_steps=4, warmup_steps=1))
    model.fit(batches, batch_size=3, epochs=2, verbose=0)  # sets the ramp: 4 steps
    assert model.total_steps == 4
    # A second fit would run at momentum 1 (a frozen target): refused, naming the fix.
    with pytest.raises(ValueError, match="`total_steps`=4.*at least 8"):
        model.fit(batches, batch_size=3, epochs=2, verbose=0)
    # Extending the ramp is not enough while the learning-rate schedule ends at 4 too.
    model.total_steps = 8
    with pytest.raises(ValueError, match=r"learning-rate schedule \(`total_steps`=4\)"):
        model.fit(batches, batch_size=3, epochs=2, verbose=0)
    # A resumed run that stays inside both schedules is accepted.
    model.total_steps = 4
    model.optimizer.iterations.assign(2)
    model.fit(batches, batch_size=3, epochs=2, initial_epoch=1, verbose=0)
    assert int(model.optimizer.iterations) == 4


def test_reference_init_redraws_every_kernel_without_depth_scaling():
    from keras_jepa.models import ViTEncoder

    def stds(model, suffix):
        return [float(np.std(ops.convert_to_numpy(v))) for v in model.context_encoder.weights
                if v.path.endswith(suffix)]

    def ijepa(init):
        encoder = ViTEncoder(image_size=16, patch_size=2, hidden_dim=64, depth=3,
                             num_heads=2, num_channels=1)
        predictor = JEPAPredictor.for_encoder(encoder, hidden_dim=32, depth=1, num_heads=2)
        return IJEPA(encoder, predictor, init=init)

    default, reference = ijepa("default"), ijepa("reference")
    # Default: the output kernels of block i are scaled by 1/sqrt(2(i+1)) (and truncated).
    assert stds(default, "block_2/attention_output/kernel")[0] < 0.012
    # Reference: every 2-D weight is N(0, 0.02²), block 2's output kernel included.
    for suffix in ("qkv/kernel", "attention_output/kernel", "mlp_output/kernel",
                   "projection/kernel"):
        for value in stds(reference, suffix):
            assert value == pytest.approx(0.02, rel=0.15), suffix
    token = float(np.std(ops.convert_to_numpy(reference.predictor.mask_token)))
    assert token == pytest.approx(0.02, rel=0.5)
    for t, c in zip(reference.target_encoder.weights, reference.context_encoder.weights):
        np.testing.assert_array_equal(ops.convert_to_numpy(t), ops.convert_to_numpy(c))
    assert IJEPA.from_config(reference.get_config()).init == "reference"
    with pytest.raises(ValueError, match="`init`"):
        tiny_ijepa(init="xavier")


def test_the_schedule_check_accepts_resumes_unknown_lengths_and_constant_momentum(
        rng, tmp_path):
    import tensorflow as tf

    from keras_jepa.training import ijepa_optimizer

    batches = {k: np.concatenate([v] * 2) for k, v in random_batch(rng).items()}
    # Keras's documented resume: a second fit with BackupAndRestore after an interruption.
    model = tiny_ijepa(total_steps=4)
    model.compile(optimizer=ijepa_optimizer(total_steps=4, warmup_steps=1))
    model.fit(batches, batch_size=3, epochs=2, verbose=0)
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    model.fit(batches, batch_size=3, epochs=2, verbose=0, callbacks=[backup])
    # A dataset of unknown length: nothing to check, nothing raised.
    dataset = tf.data.Dataset.from_tensor_slices(batches).filter(lambda b: True).batch(3)
    model = tiny_ijepa(total_steps=100)
    model.compile(optimizer=ijepa_optimizer(total_steps=100, warmup_steps=1))
    model.fit(dataset, epochs=1, verbose=0)
    # A constant momentum has no ramp to outlast.
    model = tiny_ijepa(momentum=0.99, final_momentum=0.99, total_steps=2)
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    model.fit(batches, batch_size=3, epochs=2, verbose=0)
    assert int(model.optimizer.iterations) == 4
    # A first fit longer than the learning-rate schedule is refused too.
    model = tiny_ijepa()
    model.compile(optimizer=ijepa_optimizer(total_steps=2, warmup_steps=1))
    with pytest.raises(ValueError, match=r"learning-rate schedule \(`total_steps`=2\)"):
        model.fit(batches, batch_size=3, epochs=2, verbose=0)
