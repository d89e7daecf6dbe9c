"""The stop-gradient ablations: deep linear JEPA collapses without it; IJEPA's target modes.

The stop-gradient dynamics themselves (fixed points, `fit` following `simulate`) are tested in
test_theory_deep_linear.py; here only the contrast and the no-stop-gradient ODE.
"""

import keras
import numpy as np
import pytest
from helpers import random_batch
from helpers import set_seeded_weights
from helpers import tiny_encoder
from keras import ops
from scipy import optimize

from keras_jepa import theory
from keras_jepa.models import IJEPA
from keras_jepa.models import JEPAPredictor

LAM = np.ones(3)
RHO = np.array([0.5, 0.8, 1.0])
DEPTH, EPS, LEARNING_RATE = 2, 0.1, 0.05


def numpy(values):
    return [ops.convert_to_numpy(v).copy() for v in values]


# === Deep linear JEPA ===


def test_no_stop_gradient_rates_are_the_gradient_of_the_loss():
    # Independent reference: central differences of the per-feature loss ½ u^{2L} c(v),
    # with c(v) = E[(v x − y)²] estimated from a sample, turned into paper time.
    x, y = theory.make_two_view_data(1.0, 0.6, 64, seed=1, dtype="float64")
    x, y = x[:, 0], y[:, 0]
    lam, rho = float(np.mean(x * y)), float(np.mean(x * y) / np.mean(x * x))
    target_variance = float(np.mean(y * y))

    def loss(u, v):
        return 0.5 * np.mean((v * u**DEPTH * x - u**DEPTH * y) ** 2)

    u, v, h = 0.4, 0.3, 1e-6
    # u is shared by the L layers: one layer's gradient is 1/L of d loss / du.
    du = -(loss(u + h, v) - loss(u - h, v)) / (2 * h) / DEPTH  # one layer, real time
    dv = -(loss(u, v + h) - loss(u, v - h)) / (2 * h)
    w = u**DEPTH
    dw, dv_paper = theory.no_stop_gradient_rates(w, v, lam, rho, DEPTH, target_variance)
    # Every layer moves alike: dw̄/ds = L u^{L-1} du/ds; paper time t = L s.
    np.testing.assert_allclose(dw, u ** (DEPTH - 1) * du, rtol=1e-6)
    np.testing.assert_allclose(dv_paper, dv / DEPTH, rtol=1e-6)
    assert dw < 0


def test_simulation_conserves_its_first_integral_and_never_grows():
    t = np.geomspace(1e-2, 1e4, 60)
    lam, rho = np.array([1.0, 2.0, 0.5]), np.array([0.4, 0.7, 0.9])
    w, v = theory.simulate_no_stop_gradient(lam, rho, 3, 1e-2, t)
    invariant = theory.no_stop_gradient_invariant(w, v, lam, rho, 3)
    start = theory.no_stop_gradient_invariant(1e-2, 1e-2 ** (1 / 3), lam, rho, 3)
    np.testing.assert_allclose(invariant, np.broadcast_to(start, invariant.shape), atol=1e-7)
    assert np.all(np.diff(w, axis=0) <= 0)
    assert np.all(w[-1] < 0.2 * 1e-2)  # decayed far below the initial response
    # The predictor rises toward rho but stops where the first integral's level set meets
    # w̄ = 0: a small move, below eps**(2/L).
    assert np.all(np.diff(v, axis=0) >= 0)
    limit = [optimize.brentq(
        lambda value, i=i: theory.no_stop_gradient_invariant(
            1e-300, value, lam[i], rho[i], 3) - start[i],
        v[0, i], rho[i] - 1e-12) for i in range(3)]
    assert np.all(v[-1] <= np.asarray(limit) + 1e-9)
    assert np.all(np.asarray(limit) - v[0] < 1e-2 ** (2 / 3))


def test_depth_one_decays_exponentially_at_the_unpredictable_variance():
    # L = 1, v(0) = rho exactly: v stays, and w̄ = eps exp(−κ t), κ = τ² − lam·rho.
    t = np.linspace(0.0, 5.0, 11)
    w, v = theory.simulate_no_stop_gradient(2.0, 0.5, 1, 0.3, t, target_variance=5.0,
                                            predictor_init=0.5)
    np.testing.assert_allclose(w[:, 0], 0.3 * np.exp(-(5.0 - 1.0) * t), rtol=1e-7)
    np.testing.assert_allclose(v[:, 0], 0.5, atol=1e-9)


def test_fit_without_stop_gradient_follows_the_ode_and_collapses():
    x, y = theory.make_two_view_data(LAM, RHO, 16, seed=0)
    model = theory.DeepLinearJEPA(dim=3, depth=DEPTH, eps=EPS, target_mode="no_stop_gradient")
    steps = 300
    history = theory.train_full_batch(model, x, y, steps, LEARNING_RATE, every=50)
    t = model.paper_time(history.steps, LEARNING_RATE)
    w, v = theory.simulate_no_stop_gradient(LAM, RHO, DEPTH, EPS, t)
    responses = np.asarray(history.responses)
    # Forward Euler at this step size: within 1% of eps of the ODE.
    np.testing.assert_allclose(responses, w, atol=0.01 * EPS)
    np.testing.assert_allclose(np.diag(model.head_matrix()), v[-1], atol=1e-3)
    assert np.all(np.diff(responses, axis=0) < 0)
    assert np.all(responses[-1] < 0.6 * EPS)

    # The same data and steps with the stop-gradient target: every response grows
    # toward its fixed point rho**L instead.
    healthy = theory.DeepLinearJEPA(dim=3, depth=DEPTH, eps=EPS)
    grown = theory.train_full_batch(healthy, x, y, steps, LEARNING_RATE, every=steps)
    grown = np.asarray(grown.responses)[-1]
    assert np.all(grown > 1.4 * EPS)
    np.testing.assert_allclose(
        grown, theory.simulate("jepa", LAM, RHO, DEPTH, EPS, t[-1:])[0], atol=0.02)


def test_deep_linear_target_switch_config_and_errors():
    model = theory.DeepLinearJEPA(dim=2, depth=3, eps=0.2, target_mode="no_stop_gradient")
    config = model.get_config()
    assert config["target_mode"] == "no_stop_gradient"
    clone = theory.DeepLinearJEPA.from_config(config)
    assert clone.get_config() == config and clone.target_encoder is None
    assert theory.DeepLinearJEPA(dim=2, depth=1, eps=0.2).target_mode == "context_stop_gradient"
    with pytest.raises(ValueError, match="`target_mode` must be one of .*no_stop_gradient"):
        theory.DeepLinearJEPA(dim=2, depth=1, eps=0.2, target_mode="none")
    with pytest.raises(ValueError, match="`target_variance` .* must be >= lam \\* rho"):
        theory.simulate_no_stop_gradient(1.0, 0.5, 2, 0.1, [1.0], target_variance=0.1)
    with pytest.raises(ValueError, match="`t` must be"):
        theory.simulate_no_stop_gradient(1.0, 0.5, 2, 0.1, [-1.0])


# === IJEPA target modes ===


def _one_layer_ijepa(target_mode, **kwargs):
    # Depth-1 nets: each compiled train step costs seconds on JAX.
    encoder = tiny_encoder(depth=1)
    predictor = JEPAPredictor.for_encoder(encoder, hidden_dim=8, depth=1, num_heads=2)
    return IJEPA(encoder, predictor, loss="l2", target_mode=target_mode, **kwargs)


def test_target_modes_gradient_ema_and_single_trace(rng, backend):
    """Same weights, same batch: only "no_stop_gradient" adds the target branch's gradient."""
    first, second = random_batch(rng), random_batch(rng)
    assert not np.array_equal(first["context_indices"], second["context_indices"])
    results = {}
    for mode in ("context_stop_gradient", "no_stop_gradient"):
        model = _one_layer_ijepa(mode, total_steps=2)
        # The ablations have no target of their own and nothing to move after a step.
        assert model.target_encoder is model.context_encoder
        assert len(model.weights) == len({id(v) for v in model.weights})
        set_seeded_weights(model, seed=4)  # same values for both: same weight order
        before = numpy(model.weights)
        context_before = numpy(model.context_encoder.weights)
        assert model.update_target(0) == {}
        for a, b in zip(before, numpy(model.weights)):
            np.testing.assert_array_equal(a, b)

        model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0))
        traces = []
        original = model.train_step

        def counting_train_step(*args, original=original, traces=traces):
            traces.append(1)  # Python runs only while the step is traced (jax, tf)
            return original(*args)

        model.train_step = counting_train_step
        history = model.fit(first, batch_size=3, epochs=1, verbose=0).history
        assert "momentum" not in history
        # One SGD step at rate 1 moves each weight by minus its gradient.
        results[mode] = {
            "loss": history["loss"][0],
            "context": [b - a for a, b in zip(context_before,
                                              numpy(model.context_encoder.weights))],
            "predictor": numpy(model.predictor.weights),
        }
        model.fit(second, batch_size=3, epochs=1, verbose=0)  # new masks, same shapes
        if backend != "torch":
            assert len(traces) == 1

    stopped, flowing = results["context_stop_gradient"], results["no_stop_gradient"]
    assert np.isfinite(stopped["loss"])
    np.testing.assert_allclose(flowing["loss"], stopped["loss"], rtol=1e-5)  # same forward
    difference = np.concatenate([(a - b).ravel() for a, b in zip(flowing["context"],
                                                                 stopped["context"])])
    size = np.concatenate([a.ravel() for a in stopped["context"]])
    assert np.linalg.norm(difference) > 0.05 * np.linalg.norm(size)
    # The predictor is not on the target branch: its gradient is the same in both modes.
    for a, b in zip(flowing["predictor"], stopped["predictor"]):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_target_mode_config_save_load_and_errors(tmp_path):
    model = _one_layer_ijepa("no_stop_gradient", total_steps=3)
    config = model.get_config()
    assert config["target_mode"] == "no_stop_gradient"
    clone = IJEPA.from_config(config)
    assert clone.get_config() == config and clone.target_encoder is clone.context_encoder
    default = _one_layer_ijepa("ema")
    assert default.get_config()["target_mode"] == "ema"
    assert default.target_encoder is not default.context_encoder

    set_seeded_weights(model, seed=6)
    path = tmp_path / "ablation.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.target_mode == "no_stop_gradient"
    assert loaded.target_encoder is loaded.context_encoder
    for a, b in zip(numpy(model.weights), numpy(loaded.weights)):
        np.testing.assert_array_equal(a, b)

    with pytest.raises(ValueError, match="`target_mode` must be one of .*'ema'.*"
                                         "'no_stop_gradient'.*'context_stop_gradient'.*"
                                         "got 'simsiam'"):
        _one_layer_ijepa("simsiam")


# === The collapse monitor on real runs ===


def _digits_fit(target_mode, epochs=12):
    """A tiny I-JEPA on 512 8-px digits; returns the CollapseMonitor after `fit`."""
    import warnings

    from keras_jepa import data
    from keras_jepa import masking
    from keras_jepa.evaluation import CollapseMonitor

    images, labels = data.load_digits("train", image_size=8)
    generator = masking.MultiBlockMaskGenerator(grid_size=4, num_targets=2,
                                                target_scale=(0.15, 0.3), seed=0)
    dataset = data.make_pretraining_dataset(
        data.from_arrays(images[:512], labels[:512]), 8, 64, generator, crop_scale=None,
        mean=None, std=None, seed=0, include_labels=False)
    keras.utils.set_random_seed(0)
    encoder = tiny_encoder(depth=1)
    predictor = JEPAPredictor.for_encoder(encoder, hidden_dim=8, depth=1, num_heads=2)
    model = IJEPA(encoder, predictor, target_mode=target_mode)
    model.compile(optimizer=keras.optimizers.AdamW(3e-3))
    # The complete-collapse rules only: these 8-px digits' targets are ~99.9 % position,
    # which the position-only rule reports in every mode (tested in test_monitors.py).
    monitor = CollapseMonitor(position_share_max=None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(dataset, epochs=epochs, verbose=0, callbacks=[monitor]).history
    return monitor, history, caught


def test_collapse_monitor_flags_no_stop_gradient_and_not_ema():
    collapsed, history, caught = _digits_fit("no_stop_gradient")
    assert history["loss"][-1] < 0.02  # the trivial solution: targets become predictable
    assert collapsed.collapsed, history["feature_spread"]
    assert any("feature_spread" in str(w.message) for w in caught)
    healthy, history, caught = _digits_fit("ema")
    assert not healthy.collapsed, healthy.messages
    assert history["feature_spread"][-1] > 0.5 * history["feature_spread"][0]
