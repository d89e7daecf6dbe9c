"""Deep linear JEPA / MAE trained with ``fit`` on the current backend, against the theory."""

import os

import keras
import numpy as np
import pytest

from keras_jepa import theory

LAM = np.ones(3)
RHO = np.array([0.5, 0.75, 1.0])


@pytest.mark.parametrize(
    "objective, target, learning_rate",
    [("jepa", "context_stop_gradient", 0.2), ("jepa", "ema", 0.2), ("mae", None, 0.05)],
)
def test_fit_follows_the_odes(objective, target, learning_rate):
    depth, eps = 2, 0.05
    x, y = theory.make_two_view_data(LAM, RHO, num_samples=16, seed=0)
    t_star = theory.critical_time(objective, LAM, RHO, depth, eps)
    steps = int(np.ceil(3 * t_star.max() / (depth * learning_rate)))
    if objective == "jepa":
        model = theory.DeepLinearJEPA(3, depth, eps, target_mode=target, momentum=0.8)
    else:
        model = theory.DeepLinearMAE(3, depth, eps)
    history = theory.train_full_batch(model, x, y, steps, learning_rate)

    t = model.paper_time(history.steps, learning_rate)
    asymptote = theory.fixed_point(objective, RHO, depth)
    np.testing.assert_allclose(history.responses[-1], asymptote, rtol=2e-3)
    measured = theory.measured_critical_time(t, history.responses, asymptote)
    if target == "ema":
        # A lagging target only delays learning a little, in the same order.
        assert np.all(measured >= 0.99 * t_star)
        assert np.all(measured <= 1.15 * t_star)
    else:
        np.testing.assert_allclose(measured, t_star, rtol=0.05)
        ode = theory.simulate(objective, LAM, RHO, depth, eps, t)
        assert np.max(np.abs(history.responses - ode) / asymptote) < 0.05
    if objective == "jepa":
        assert np.all(np.diff(measured) < 0)  # deep JEPA: high rho first
    else:
        assert measured.max() / measured.min() < 1.15  # MAE: nearly together


def _chain(matrices, dim=3):
    product = np.eye(dim)
    for m in matrices:
        product = m @ product
    return product


@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_one_step_matches_the_gradient_formulas(objective):
    # Gaussian init and correlated data: nothing diagonal, nothing balanced.
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 3)).astype("float32")
    y = (x @ rng.standard_normal((3, 3)) + rng.standard_normal((8, 3))).astype("float32")
    cls = theory.DeepLinearJEPA if objective == "jepa" else theory.DeepLinearMAE
    kwargs = {"target_mode": "ema", "momentum": 0.7} if objective == "jepa" else {}
    model = cls(3, 3, 0.5, init="normal", seed=2, **kwargs)
    layers = [np.asarray(keras.ops.convert_to_numpy(w.kernel), np.float64).T
              for w in model.encoder.layers]
    v = model.head_matrix()

    sxx = x.T.astype(np.float64) @ x / 8
    syx = y.T.astype(np.float64) @ x / 8
    w_bar = _chain(layers)
    g = v @ w_bar @ sxx - (w_bar @ syx if objective == "jepa" else syx)
    grad_v = g @ w_bar.T
    grad_w_bar = v.T @ g
    expected = []
    for a in range(3):
        after, before = _chain(layers[a + 1:]), _chain(layers[:a])
        expected.append(layers[a] - 0.1 * after.T @ grad_w_bar @ before.T)
    expected_v = v - 0.1 * grad_v

    model.compile(optimizer=keras.optimizers.SGD(0.1))
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, layer in enumerate(model.encoder.layers):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(layer.kernel).T, expected[a], rtol=1e-4, atol=1e-6
        )
    np.testing.assert_allclose(model.head_matrix(), expected_v, rtol=1e-4, atol=1e-6)
    if objective == "jepa":
        # EMA: t <- m t + (1 - m) online, after the step; the target started as a copy.
        np.testing.assert_allclose(
            model.encoder_matrix(target=True),
            _chain([0.7 * old + 0.3 * new for old, new in zip(layers, expected)]),
            rtol=1e-4,
            atol=1e-6,
        )


def test_training_preserves_balancedness_and_alignment():
    x, y = theory.make_two_view_data(LAM, RHO, num_samples=16, seed=0)
    for cls in (theory.DeepLinearJEPA, theory.DeepLinearMAE):
        model = cls(3, 3, 0.2, init="orthogonal", seed=4)
        start = model.encoder_matrix()
        assert max(np.abs(gap).max() for gap in model.balancedness()) < 1e-5
        theory.train_full_batch(model, x, y, steps=150, learning_rate=0.1, every=150)
        assert np.abs(model.encoder_matrix() - start).max() > 0.1  # it did learn
        # Gradient flow conserves these exactly; gradient descent up to O(eta**2).
        assert max(np.abs(gap).max() for gap in model.balancedness()) < 5e-3

        aligned = cls(3, 3, 0.05)
        theory.train_full_batch(aligned, x, y, steps=150, learning_rate=0.05, every=150)
        w_bar = aligned.encoder_matrix()
        np.testing.assert_allclose(w_bar - np.diag(np.diag(w_bar)), 0.0, atol=1e-6)
        # Per feature the predictor coefficient equals w̄**(1/L) (docs/theory.md, 'Fixed points').
        np.testing.assert_allclose(
            np.diag(aligned.head_matrix()), np.diag(w_bar) ** (1 / 3), rtol=1e-4
        )


def test_serialization_round_trips(tmp_path):
    x, _ = theory.make_two_view_data(LAM, RHO, num_samples=16, seed=0)
    models = [
        theory.DeepLinearJEPA(3, 4, 0.2, init="orthogonal", target_mode="ema",
                              momentum=0.9, seed=5, name="jepa_model"),
        theory.DeepLinearMAE(3, 2, 0.3, init="normal", seed=6, name="mae_model"),
        theory.TwoViewJEPA(
            keras.Sequential([keras.Input((3,)), keras.layers.Dense(5, "relu")]),
            keras.layers.Dense(5),
            target_mode="ema",
            momentum=0.5,
        ),
    ]
    for model in models:
        config = model.get_config()
        clone = type(model).from_config(config)
        assert clone.get_config() == config
        path = os.path.join(tmp_path, f"{model.name}.keras")
        model.save(path)
        loaded = keras.models.load_model(path)
        assert type(loaded) is type(model)
        assert loaded.get_config()["name"] == model.name
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)),
            rtol=1e-6,
        )
        for a, b in zip(loaded.weights, model.weights):
            np.testing.assert_array_equal(
                keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b)
            )


def test_two_view_models_train_a_nonlinear_encoder():
    lam, rho = np.array([1.0, 1.0, 2.0, 2.0]), np.array([1.0, 0.5, 1.0, 0.5])
    x, y = theory.make_two_view_data(lam, rho, num_samples=64, seed=0)
    for objective in ("jepa", "mae"):
        keras.utils.set_random_seed(0)
        encoder = keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(16, "tanh"), keras.layers.Dense(8)]
        )
        if objective == "jepa":
            model = theory.TwoViewJEPA(encoder, keras.layers.Dense(8))
        else:
            model = theory.TwoViewMAE(encoder, keras.layers.Dense(4))
        model.compile(optimizer=keras.optimizers.SGD(0.05))
        before = model.evaluate(x, y, batch_size=64, verbose=0)
        history = theory.ResponseHistory(every=10, probe=x)
        model.fit(np.tile(x, (30, 1)), np.tile(y, (30, 1)), batch_size=64, shuffle=False,
                  verbose=0, callbacks=[history])
        assert model.evaluate(x, y, batch_size=64, verbose=0) < 0.9 * before, objective
        assert history.responses.shape == (4, 4)  # steps 0, 10, 20, 30
        np.testing.assert_array_equal(history.steps, [0, 10, 20, 30])


def test_feature_response_of_a_linear_encoder_is_its_column_norms():
    x, _ = theory.make_two_view_data([1.0, 2.0, 0.5], 1.0, num_samples=32, seed=0)
    kernel = np.array([[1.0, 2.0], [0.0, -3.0], [0.5, 0.0]], dtype="float32")
    dense = keras.layers.Dense(2, use_bias=True, bias_initializer="ones")
    dense.build((None, 3))
    dense.kernel.assign(kernel)
    np.testing.assert_allclose(
        theory.feature_response(dense, x, batch_size=10),
        np.linalg.norm(kernel, axis=1),
        rtol=1e-5,
    )


def test_models_reject_bad_input():
    bad = [
        (dict(dim=3, depth=0, eps=0.1), "`depth` must be an integer >= 1"),
        (dict(dim=3, depth=2.5, eps=0.1), "`depth` must be an integer >= 1"),
        (dict(dim=3, depth=2, eps=0.0), "`eps` must lie strictly between 0 and 1"),
        (dict(dim=3, depth=2, eps=1.2), "`eps` must lie strictly between 0 and 1"),
        (dict(dim=0, depth=2, eps=0.1), "`dim` must be an integer >= 1"),
        (dict(dim=3, depth=2, eps=0.1, init="xavier"), "`init` must be one of"),
    ]
    for kwargs, match in bad:
        for cls in (theory.DeepLinearJEPA, theory.DeepLinearMAE):
            with pytest.raises(ValueError, match=match):
                cls(**kwargs)
    with pytest.raises(ValueError, match="`target_mode` must be one of"):
        theory.DeepLinearJEPA(3, 2, 0.1, target_mode="momentum")
    with pytest.raises(ValueError, match="`momentum` must lie in"):
        theory.DeepLinearJEPA(3, 2, 0.1, target_mode="ema", momentum=1.0)
    with pytest.raises(ValueError, match="`encoder` must be built"):
        theory.TwoViewJEPA(keras.layers.Dense(3), keras.layers.Dense(3), target_mode="ema")
    with pytest.raises(ValueError, match="no separate target encoder"):
        theory.DeepLinearJEPA(3, 2, 0.1).encoder_matrix(target=True)
    with pytest.raises(ValueError, match="`every` must be an integer >= 1"):
        theory.ResponseHistory(every=0)
    model = theory.DeepLinearMAE(3, 2, 0.1)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    with pytest.raises(ValueError, match=r"train on `\(x, y\)` pairs"):
        model.fit(np.ones((4, 3), "float32"), epochs=1, verbose=0)


def test_the_first_release_names_still_work_and_map_to_the_shared_vocabulary():
    """`target`/`ema_momentum` ("stop_gradient") are the old names of IJEPA's
    `target_mode`/`momentum` ("context_stop_gradient"); old configs still load."""
    from keras_jepa.models.ijepa import TARGET_MODES
    from keras_jepa.theory.two_view_jepa import TARGETS

    assert set(TARGETS) == set(TARGET_MODES)
    old = theory.DeepLinearJEPA(3, 2, 0.1, target="ema", ema_momentum=0.7, seed=1)
    new = theory.DeepLinearJEPA(3, 2, 0.1, target_mode="ema", momentum=0.7, seed=1)
    assert (old.target_mode, old.momentum) == (new.target_mode, new.momentum) == ("ema", 0.7)
    assert theory.DeepLinearJEPA(3, 2, 0.1, target="stop_gradient").target_mode == \
        "context_stop_gradient"
    config = new.get_config()
    assert (config["target_mode"], config["momentum"]) == ("ema", 0.7)
    assert "target" not in config and "ema_momentum" not in config
    old_config = {k: v for k, v in config.items() if k not in ("target_mode", "momentum")}
    old_config.update(target="stop_gradient", ema_momentum=0.5)
    loaded = theory.DeepLinearJEPA.from_config(old_config)
    assert (loaded.target_mode, loaded.momentum) == ("context_stop_gradient", 0.5)
    with pytest.raises(ValueError, match="Give `target_mode` only"):
        theory.DeepLinearJEPA(3, 2, 0.1, target_mode="ema", target="no_stop_gradient")
