"""Run-health monitors, CollapseMonitor and ProbeCallback."""

import csv
import math

import keras
import numpy as np
import pytest
from helpers import random_batch
from helpers import tiny_encoder
from helpers import tiny_ijepa

from keras_jepa.evaluation import extract_features
from keras_jepa.evaluation import knn_accuracy
from keras_jepa.evaluation import linear_probe
from keras_jepa.evaluation.callbacks import ProbeCallback
from keras_jepa.evaluation.monitors import CollapseMonitor
from keras_jepa.evaluation.monitors import effective_rank
from keras_jepa.evaluation.monitors import feature_std
from keras_jepa.models import IJEPA
from keras_jepa.models import MAE
from keras_jepa.models import JEPAPredictor
from keras_jepa.training import monitors as step_monitors
from keras_jepa.training import pair_variables

IJEPA_KEYS = ("rankme", "feature_std", "feature_spread", "pred_std", "encoder_distance",
              "position_share", "blind_loss")


def numpy_rankme(x, center):
    """RankMe written directly from Garrido et al. (2023), in float64."""
    x = np.asarray(x, "float64")
    if center:
        x = x - x.mean(0)
    s = np.linalg.svd(x, compute_uv=False)
    p = s / (s.sum() + 1e-7) + 1e-7
    return float(np.exp(-(p * np.log(p)).sum()))


def equal_spectrum_matrix(rng, n, d, k):
    """`[n, d]` of rank k, k equal singular values, zero column means."""
    left = np.linalg.qr(np.column_stack([np.ones(n), rng.normal(size=(n, k))]))[0][:, 1:]
    right = np.linalg.qr(rng.normal(size=(d, k)))[0]
    return (3.0 * left @ right.T).astype("float32")


# === The functions ===


@pytest.mark.parametrize("k", [1, 2, 5, 12])
def test_effective_rank_of_rank_k_matrix_is_k(rng, k):
    x = equal_spectrum_matrix(rng, 64, 16, k)
    assert effective_rank(x) == pytest.approx(k, rel=1e-3)
    assert effective_rank(x, center=False) == pytest.approx(k, rel=1e-3)


def test_effective_rank_matches_numpy_reference(rng):
    x = rng.normal(size=(40, 12)) * np.linspace(0.1, 3.0, 12) + 2.0
    for center in (True, False):
        assert effective_rank(x, center=center) == pytest.approx(
            numpy_rankme(x, center), rel=1e-4
        )


def test_effective_rank_of_constant_or_zero_matrix_is_one():
    for x in (np.full((32, 8), 0.7, "float32"), np.zeros((32, 8), "float32")):
        assert effective_rank(x) == pytest.approx(1.0, abs=1e-3)
        assert effective_rank(x, center=False) == pytest.approx(1.0, abs=1e-3)


def test_feature_std_isotropic_gaussian_and_constant(rng):
    d = 16
    x = rng.normal(size=(4000, d)).astype("float32") + 5.0  # offset removed by centring
    assert feature_std(x) == pytest.approx(1 / math.sqrt(d), rel=0.03)
    assert feature_std(np.full((64, d), 0.3, "float32")) == 0.0
    # Input-independent features up to float32 round-off read as no spread.
    noisy = np.full((64, d), 3.0, "float32") + rng.normal(size=(64, d)) * 1e-7
    assert feature_std(noisy.astype("float32")) == 0.0


def test_batch_std_and_relative_distance_match_numpy(rng):
    values = rng.normal(size=(5, 3, 4)).astype("float32")
    got = float(keras.ops.convert_to_numpy(step_monitors.batch_std(values)))
    assert got == pytest.approx(values.std(axis=0).mean(), rel=1e-5)

    source, target = keras.layers.Dense(3), keras.layers.Dense(3, bias_initializer="ones")
    source.build((None, 4))
    target.build((None, 4))
    pairs = pair_variables(target, source)
    diff = sum(np.sum((np.asarray(s.numpy()) - np.asarray(t.numpy())) ** 2) for t, s in pairs)
    norm = sum(np.sum(np.asarray(t.numpy()) ** 2) for t, _ in pairs)
    got = float(keras.ops.convert_to_numpy(step_monitors.relative_distance(pairs)))
    assert got == pytest.approx(math.sqrt(diff / norm), rel=1e-4)


def public_functions(module):
    """The public functions defined in `module` (not those it imports)."""
    import inspect

    return {name for name, value in vars(module).items()
            if not name.startswith("_") and inspect.isfunction(value)
            and value.__module__ == module.__name__}


def test_step_and_float_monitors_share_no_name(rng):
    """The tensor monitors of the train step and the float ones of keras_jepa.evaluation
    have distinct names: `<name>_tensor` is the tensor version of the float `<name>`."""
    import keras_jepa.evaluation
    from keras_jepa.evaluation import monitors as float_monitors

    step_names = public_functions(step_monitors)
    float_names = public_functions(float_monitors)
    assert not step_names & float_names
    for name in ("effective_rank", "feature_std", "feature_spread", "position_share",
                 "content_blind_loss"):
        assert name in float_names and f"{name}_tensor" in step_names
        assert getattr(keras_jepa.evaluation, name) is getattr(float_monitors, name)
        assert not hasattr(step_monitors, name)

    features = rng.normal(size=(24, 8)).astype("float32") + 1.0
    tokens = rng.normal(size=(4, 9, 6)).astype("float32")
    for name, values in (("effective_rank", features), ("feature_std", features),
                         ("feature_spread", features), ("position_share", tokens)):
        tensor = getattr(step_monitors, f"{name}_tensor")(values)
        assert not isinstance(tensor, float)
        value = getattr(float_monitors, name)(values)
        assert isinstance(value, float)
        assert value == float(keras.ops.convert_to_numpy(tensor))


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="features"):
        effective_rank(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="rank_fraction"):
        CollapseMonitor(rank_fraction=2.0)
    with pytest.raises(ValueError, match="patience"):
        CollapseMonitor(patience=0)
    images, labels = np.zeros((4, 8, 8, 1)), np.zeros(4, "int32")
    with pytest.raises(ValueError, match="every"):
        ProbeCallback(images, labels, images, labels, every=0)
    with pytest.raises(ValueError, match="method"):
        ProbeCallback(images, labels, images, labels, method="svm")
    with pytest.raises(ValueError, match="train_labels"):
        ProbeCallback(images, labels[:3], images, labels)


# === In the train step ===


def shallow_ijepa(**kwargs):
    """A 1-block I-JEPA: the cheapest train step to compile."""
    encoder = tiny_encoder(depth=1)
    predictor = JEPAPredictor.for_encoder(encoder, hidden_dim=8, depth=1, num_heads=2)
    return IJEPA(encoder, predictor, **kwargs)


def _fit(model, batch, epochs, callbacks=(), learning_rate=1e-3, **kwargs):
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=learning_rate))
    return model.fit(batch, batch_size=8, epochs=epochs, verbose=0,
                     callbacks=list(callbacks), **kwargs)


def _step_logs(model, data):
    """The logs of one compiled forward step (evaluate), as floats."""
    if not model.compiled:
        model.compile(optimizer="sgd")
    logs = model.evaluate(data, batch_size=len(data["images"]) if isinstance(data, dict)
                          else len(data), verbose=0, return_dict=True)
    return {k: float(v) for k, v in logs.items()}


def _probe_data(rng):
    labels = np.arange(24) % 3
    images = rng.normal(size=(24, 8, 8, 1)).astype("float32") + labels[:, None, None, None]
    return images[:12], labels[:12], images[12:], labels[12:]


def test_ijepa_fit_logs_monitors_probe_and_healthy_run_not_flagged(rng, tmp_path):
    batch = random_batch(rng, batch_size=16)
    model = shallow_ijepa()
    probe = ProbeCallback(*_probe_data(rng), every=2, k=3)
    monitor = CollapseMonitor()
    csv_path = tmp_path / "log.csv"
    history = _fit(model, batch, epochs=3,
                   callbacks=[monitor, probe, keras.callbacks.CSVLogger(str(csv_path))])

    for key in IJEPA_KEYS:
        assert len(history.history[key]) == 3
        assert np.all(np.isfinite(history.history[key])), key
    assert 1.0 < history.history["rankme"][-1] <= 8.0  # at most min(B, D)
    assert history.history["encoder_distance"][-1] > 0.0
    assert not monitor.collapsed and monitor.collapsed_epoch is None

    # A probe at epoch 1 only; NaN elsewhere keeps one entry per epoch.
    probe_values = history.history["probe_acc"]
    assert math.isnan(probe_values[0]) and math.isnan(probe_values[2])
    assert sorted(probe.results) == [1]
    assert probe_values[1] == probe.results[1]
    assert 0.0 <= probe_values[1] <= 1.0
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and "probe_acc" in rows[0] and "rankme" in rows[0]
    assert float(rows[1]["probe_acc"]) == pytest.approx(probe_values[1])


def test_monitors_off_and_probe_equals_direct_probe(rng):
    train_x, train_y, test_x, test_y = _probe_data(rng)
    model = shallow_ijepa(monitors=False)
    _, logs = model.compute_ssl_loss(random_batch(rng, batch_size=4))
    assert list(logs) == ["batch_errors"]  # the step's data check, not a monitor
    # The logs hold no monitor, so CollapseMonitor refuses to guess.
    monitor = CollapseMonitor()
    monitor.set_model(model)
    with pytest.raises(ValueError, match="monitors=True"):
        monitor.on_epoch_end(0, {"loss": 0.5})

    probe = ProbeCallback(train_x, train_y, test_x, test_y, every=2, k=5, temperature=0.1,
                          name="knn_acc")
    probe.set_model(model)
    logs = {"loss": 0.5}
    probe.on_epoch_end(0, logs)
    assert math.isnan(logs["knn_acc"]) and probe.results == {}
    probe.on_epoch_end(1, logs)
    expected = knn_accuracy(extract_features(model, train_x), train_y,
                            extract_features(model, test_x), test_y, k=5, temperature=0.1)
    assert logs["knn_acc"] == pytest.approx(expected)
    assert probe.results == {1: pytest.approx(expected)}


@pytest.mark.slow
def test_probe_callback_linear_method(rng):
    train_x, train_y, test_x, test_y = _probe_data(rng)
    model = tiny_ijepa()
    probe = ProbeCallback(train_x, train_y, test_x, test_y, method="linear", epochs=3,
                          name="linear_acc")
    history = _fit(model, random_batch(rng, batch_size=8), epochs=1, callbacks=[probe],
                   learning_rate=0.0)
    expected = linear_probe(extract_features(model, train_x), train_y,
                            extract_features(model, test_x), test_y, epochs=3).accuracy
    assert history.history["linear_acc"] == [pytest.approx(expected)]


def test_collapsed_encoder_is_flagged_and_healthy_is_not(rng):
    batch = random_batch(rng, batch_size=16)
    model = shallow_ijepa()
    monitor = CollapseMonitor(stop=True)
    monitor.set_model(model)
    monitor.on_epoch_end(0, _step_logs(model, batch))  # random init: healthy
    assert not monitor.collapsed and not getattr(model, "stop_training", False)

    # Encoders whose output does not depend on the image.
    for encoder in (model.context_encoder, model.target_encoder):
        kernel = encoder.patch_embedding.weights[0]
        kernel.assign(np.zeros(kernel.shape, "float32"))
    logs = _step_logs(model, batch)
    assert logs["rankme"] == pytest.approx(1.0, abs=1e-2)
    assert logs["feature_std"] == pytest.approx(0.0, abs=1e-6)

    monitor = CollapseMonitor(patience=2, stop=True)
    monitor.set_model(model)
    monitor.on_epoch_end(0, logs)
    assert not monitor.collapsed  # patience: one bad epoch is not yet a collapse
    with pytest.warns(UserWarning, match=r"rankme = 1 < threshold 1\.16"):
        monitor.on_epoch_end(1, logs)
    assert monitor.collapsed and monitor.collapsed_epoch == 0
    assert "feature_std = 0 < threshold 0.025" in monitor.messages[0]
    assert model.stop_training


def test_monitors_flag_config_round_trip():
    config = tiny_ijepa(monitors=False).get_config()
    assert config["monitors"] is False
    assert IJEPA.from_config(config).monitors is False
    assert IJEPA.from_config(tiny_ijepa().get_config()).monitors is True
    assert MAE.from_config(MAE(tiny_encoder(), monitors=False).get_config()).monitors is False


def test_mae_logs_feature_monitors(rng):
    images = rng.normal(size=(16, 8, 8, 1)).astype("float32")
    logs = _step_logs(MAE(tiny_encoder(depth=1), seed=0), images)
    assert set(logs) == {"loss", "rankme", "feature_std", "feature_spread"}
    assert 1.0 < logs["rankme"] <= 16.0
    assert 0.0 < logs["feature_std"] <= 1 / math.sqrt(16) + 1e-6


def test_feature_spread_matches_numpy_and_relative_rule(rng):
    from keras_jepa.evaluation import feature_spread

    def reference(x):
        return np.sqrt(x.var(0).mean()) / np.sqrt((x**2).mean())

    features = rng.normal(size=(32, 8)) + 5.0
    assert feature_spread(features) == pytest.approx(reference(features), rel=1e-5)
    # Shrinking the between-sample part towards the shared mean lowers it about in
    # proportion (the RMS size changes a little too).
    shrunk = 5.0 + 0.1 * (features - 5.0)
    assert feature_spread(shrunk) == pytest.approx(reference(shrunk), rel=1e-5)
    assert 0.09 < feature_spread(shrunk) / feature_spread(features) < 0.11

    model = shallow_ijepa()
    monitor = CollapseMonitor(spread_drop=0.3)
    monitor.set_model(model)
    healthy = {"rankme": 5.0, "feature_std": 0.2}
    monitor.on_epoch_end(0, {**healthy, "feature_spread": 0.004})
    monitor.on_epoch_end(1, {**healthy, "feature_spread": 0.0015})  # 37 %: not yet
    assert not monitor.collapsed
    with pytest.warns(UserWarning, match="feature_spread = 0.001 < threshold 0.0012"):
        monitor.on_epoch_end(2, {**healthy, "feature_spread": 0.001})
    assert monitor.collapsed_epoch == 2
    with pytest.raises(ValueError, match="spread_drop"):
        CollapseMonitor(spread_drop=1.5)


# === Position-only collapse: position_share, blind_loss, the CollapseMonitor rule ===


def numpy_position_share(tokens):
    tokens = np.asarray(tokens, "float64")
    position_mean, grand_mean = tokens.mean(0), tokens.mean((0, 1))
    between = len(tokens) * np.sum((position_mean - grand_mean) ** 2)
    return between / np.sum((tokens - grand_mean) ** 2)


def numpy_blind_loss(tokens, indices, weights, loss):
    tokens = np.asarray(tokens, "float64")
    rows = np.arange(len(tokens))[:, None, None]
    targets = tokens[rows, indices]  # [B, M, Kt, D]
    diff = tokens.mean(0)[indices] - targets
    if loss == "l2":
        per_element = diff**2
    else:
        per_element = np.where(np.abs(diff) < 1, 0.5 * diff**2, np.abs(diff) - 0.5)
    return np.sum(per_element.mean(-1) * weights) / max(np.sum(weights), 1.0)


def test_position_share_extremes_and_numpy_reference(rng):
    from keras_jepa.evaluation import position_share

    positions = rng.normal(size=(1, 9, 6))
    assert position_share(np.repeat(positions, 16, axis=0)) == pytest.approx(1.0, abs=1e-6)
    # Tokens whose distribution does not depend on position: ≈ (N − 1) / (B·N − 1).
    noise = rng.normal(size=(400, 9, 6))
    assert position_share(noise) < 0.01
    assert position_share(np.zeros((4, 9, 6))) == 0.0
    mixed = rng.normal(size=(8, 5, 4)) + 2.0 * rng.normal(size=(1, 5, 4)) + 3.0
    assert position_share(mixed) == pytest.approx(numpy_position_share(mixed), rel=1e-5)
    with pytest.raises(ValueError, match="tokens"):
        position_share(np.zeros((4, 6)))


@pytest.mark.parametrize("loss", ["smooth_l1", "l2"])
def test_content_blind_loss_matches_numpy(rng, loss):
    from keras_jepa.evaluation import content_blind_loss

    tokens = (2.0 * rng.normal(size=(6, 16, 5))).astype("float32")
    indices = rng.integers(0, 16, size=(6, 2, 3)).astype("int32")
    weights = np.ones((6, 2, 3), "float32")
    weights[0, 1, 2] = weights[3, 0, 0] = 0.0
    got = content_blind_loss(tokens, indices, weights, loss=loss)
    assert got == pytest.approx(numpy_blind_loss(tokens, indices, weights, loss), rel=1e-5)
    # A predictor that knows only position is perfect for position-only tokens.
    position_only = np.repeat(tokens[:1], 6, axis=0)
    assert content_blind_loss(position_only, indices, weights, loss=loss) == pytest.approx(
        0.0, abs=1e-7)
    with pytest.raises(ValueError, match="loss"):
        content_blind_loss(tokens, indices, weights, loss="l1")
    with pytest.raises(ValueError, match="target_weights"):
        content_blind_loss(tokens, indices, weights[:, :1], loss=loss)


def test_ijepa_step_logs_position_share_and_blind_loss(rng):
    from keras_jepa.models.ijepa import normalize_features

    model = shallow_ijepa(loss="l2")
    batch = random_batch(rng, batch_size=4)
    _, logs = model.compute_ssl_loss(batch)
    tokens = keras.ops.convert_to_numpy(
        normalize_features(model.target_encoder(batch["images"])))
    assert float(logs["position_share"]) == pytest.approx(numpy_position_share(tokens),
                                                          rel=1e-4)
    expected = numpy_blind_loss(tokens, batch["target_indices"], batch["target_weights"],
                                "l2")
    assert float(logs["blind_loss"]) == pytest.approx(expected, rel=1e-4)


def test_collapse_monitor_flags_position_only_collapse():
    model = shallow_ijepa()
    healthy = {"rankme": 5.0, "feature_std": 0.2, "feature_spread": 0.004}
    start = {**healthy, "position_share": 0.99, "loss": 0.4, "blind_loss": 1e-4}
    position_only = {**start, "loss": 0.002}
    monitor = CollapseMonitor()
    monitor.set_model(model)
    monitor.on_train_begin()
    monitor.on_epoch_end(0, start)  # the reference epoch
    monitor.on_epoch_end(1, {**start, "loss": 0.3})  # not yet learnt: 0.3 ≥ 0.5 · 0.4
    # Content-rich targets: a loss above the blind predictor's is no sign of collapse.
    monitor.on_epoch_end(2, {**position_only, "position_share": 0.5})
    # A loss below the content-blind predictor's: the predictor uses the image.
    monitor.on_epoch_end(3, {**position_only, "loss": 5e-5})
    assert not monitor.collapsed
    with pytest.warns(UserWarning, match=r"position-only collapse: position_share = 0\.99"):
        monitor.on_epoch_end(4, position_only)
    assert monitor.collapsed and monitor.collapsed_epoch == 4
    assert "loss = 0.002 ≥ blind_loss = 0.0001, though down from 0.4" in monitor.messages[0]

    # With a regularizer the prediction loss is read, not the total loss.
    monitor = CollapseMonitor(loss_drop=0.1)
    monitor.set_model(model)
    monitor.on_epoch_end(0, {**start, "loss": 1.0, "prediction_loss": 0.4})
    with pytest.warns(UserWarning, match="prediction_loss = 0.002 ≥ blind_loss"):
        monitor.on_epoch_end(1, {**position_only, "loss": 1e-5, "prediction_loss": 0.002})
    off = CollapseMonitor(position_share_max=None)
    off.set_model(model)
    off.on_epoch_end(0, start)
    off.on_epoch_end(1, position_only)
    assert not off.collapsed


@pytest.mark.parametrize("name, value", [("position_share_max", 0.0),
                                         ("position_share_max", 1.5),
                                         ("position_share_max", True),
                                         ("position_share_max", "0.9"),
                                         ("loss_drop", 0.0),
                                         ("loss_drop", 1.0),
                                         ("loss_drop", None),
                                         ("loss_drop", float("nan"))])
def test_position_rule_thresholds_are_checked(name, value):
    with pytest.raises(ValueError, match=name):
        CollapseMonitor(**{name: value})


@pytest.mark.parametrize("kwargs, message", [
    (dict(position_share_max=0.0), r"`position_share_max` must be a number in \(0, 1\] or None, got 0.0"),
    (dict(loss_drop=True), r"`loss_drop` must be a number in \(0, 1\), got True"),
    (dict(spread_drop="0.3"), r"`spread_drop` must be a number in \(0, 1\) or None, got '0.3'"),
    (dict(std_fraction=1.5), r"`std_fraction` must be a number in \[0, 1\], got 1.5"),
    (dict(patience=0), r"`patience` must be a positive integer, got 0"),
    (dict(dim=2.5), r"`dim` must be a positive integer or None, got 2.5"),
])
@pytest.mark.backend_independent
def test_collapse_monitor_names_a_bad_setting(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CollapseMonitor(**kwargs)
    # None turns the optional checks off; whole floats (a JSON config) are accepted.
    monitor = CollapseMonitor(position_share_max=None, spread_drop=None, patience=2.0, dim=None)
    assert (monitor.position_share_max, monitor.spread_drop, monitor.patience) == (None, None, 2)
