"""The ODE mathematics of keras_jepa.theory: fixed points, critical times, simulate (numpy)."""

import warnings

import numpy as np
import pytest
from scipy import integrate

from keras_jepa import theory

# The same on every backend: run once by tests/run_all_backends.sh (tests/conftest.py).
pytestmark = pytest.mark.backend_independent


def _rate(objective, w, lam, rho, depth):
    # Written out here from docs/theory.md ('Per-feature ODEs') rather than taken from the package, so that the
    # quadrature below is an independent check of the closed forms.
    growth = (3.0 if objective == "jepa" else 2.0) - 1.0 / depth
    return lam * w**growth - (lam / rho) * w**3


def _quadrature_time(objective, lam, rho, depth, eps, p):
    target = p * theory.fixed_point(objective, rho, depth)
    # In s = log w̄ the integrand w̄ / rate is smooth over the whole range.
    value, _ = integrate.quad(
        lambda s: np.exp(s) / _rate(objective, np.exp(s), lam, rho, depth),
        np.log(eps),
        np.log(target),
        epsabs=0.0,
        epsrel=1e-11,
        limit=500,
    )
    return value


# --- fixed points ---------------------------------------------------------------------


def test_fixed_points_match_table():
    rho, depth = 0.6, 3
    assert theory.fixed_point("jepa", rho, depth) == pytest.approx(rho**3)
    assert theory.fixed_point("jepa", rho, depth, part="predictor") == pytest.approx(rho)
    assert theory.fixed_point("jepa", rho, depth, part="end_to_end") == pytest.approx(
        rho**4
    )
    assert theory.fixed_point("mae", rho, depth) == pytest.approx(rho ** (3 / 4))
    assert theory.fixed_point("mae", rho, depth, part="predictor") == pytest.approx(
        rho ** (1 / 4)
    )
    # MAE end to end is linear regression whatever the depth.
    np.testing.assert_allclose(
        theory.fixed_point("mae", [0.3, 0.9, 1.7], [1, 4, 7], part="end_to_end"),
        [0.3, 0.9, 1.7],
    )


def test_fixed_points_are_stable_zeros_of_the_rate():
    rho = np.array([0.3, 0.8, 1.0, 1.6])
    for objective, depth in [(o, d) for o in ("jepa", "mae") for d in (1, 2, 5)]:
        w = theory.fixed_point(objective, rho, depth)
        rate = theory.response_rate(objective, w, 1.3, rho, depth)
        np.testing.assert_allclose(rate, 0.0, atol=1e-12)
        # Stable: growing just below, shrinking just above.
        assert np.all(theory.response_rate(objective, 0.99 * w, 1.3, rho, depth) > 0)
        assert np.all(theory.response_rate(objective, 1.01 * w, 1.3, rho, depth) < 0)


def test_fixed_point_broadcasts():
    out = theory.fixed_point("jepa", np.array([[0.5], [0.8]]), np.array([1, 2, 3]))
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out[1], 0.8 ** np.array([1, 2, 3]))


# --- critical times ---------------------------------------------------------------------


@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_critical_time_matches_quadrature(objective):
    cases = [(0.9, 1e-4, 0.5), (1.0, 1e-3, 0.9), (2.5, 1e-2, 0.1)]
    for depth, (rho, eps, p) in [(d, c) for d in (1, 2, 3, 6) for c in cases]:
        eps = min(eps, 0.3 * rho**depth)
        exact = theory.critical_time(objective, 0.7, rho, depth, eps, p=p)
        assert exact == pytest.approx(
            _quadrature_time(objective, 0.7, rho, depth, eps, p), rel=1e-8
        )


def test_critical_time_broadcasts_and_returns_float_for_scalars():
    assert isinstance(theory.critical_time("jepa", 1.0, 1.0, 2, 1e-3), float)
    out = theory.critical_time("mae", [1.0, 2.0], [[0.5], [1.0]], 2, 1e-3)
    assert out.shape == (2, 2)


def test_times_scale_as_one_over_lam():
    rho, depth, eps = np.array([0.6, 0.9]), 3, 1e-3
    for objective in ("jepa", "mae"):
        base = theory.critical_time(objective, 1.0, rho, depth, eps)
        np.testing.assert_allclose(
            theory.critical_time(objective, 4.0, rho, depth, eps), base / 4.0, rtol=1e-12
        )
        t = np.geomspace(1e-1, 10 * base.max(), 50)
        np.testing.assert_allclose(
            theory.simulate(objective, 4.0, rho, depth, eps, t / 4.0),
            theory.simulate(objective, 1.0, rho, depth, eps, t),
            rtol=1e-6,
        )


def test_jepa_leading_sum_dominates_as_eps_vanishes():
    lam, rho = 1.5, 0.7
    for depth in (1, 2, 4):
        gaps = []
        for eps in (1e-6, 1e-9):
            exact = theory.critical_time("jepa", lam, rho, depth, eps)
            leading = theory.critical_time_leading("jepa", lam, rho, depth, eps)
            gaps.append(exact - leading)
            assert leading / exact == pytest.approx(1.0, abs=0.02)
        # What remains is Θ(log eps): it grows by ~ log(1000) * rho**(1-2L) / lam, far
        # less than the leading sum, which grows by a power of 1000.
        expected = np.log(1e3) * rho ** (1 - 2 * depth) / lam
        assert gaps[1] - gaps[0] == pytest.approx(expected, rel=0.05)


def test_jepa_leading_sum_formula():
    # L = 2: 2/(rho**2 eps**0.5) + 2/(2 rho eps) + 2/(3 eps**1.5), all over lam.
    lam, rho, eps = 2.0, 0.5, 1e-4
    expected = (2 / (rho**2 * eps**0.5) + 1 / (rho * eps) + 2 / (3 * eps**1.5)) / lam
    assert theory.critical_time_leading("jepa", lam, rho, 2, eps) == pytest.approx(expected)
    assert theory.critical_time_leading("mae", lam, rho, 3, eps) == pytest.approx(
        3 / (2 * lam * eps ** (2 / 3))
    )


def test_order_5_eps_scaling_exponents():
    eps = np.array([1e-9, 1e-8])
    for depth in (1, 2, 3, 5):
        jepa = theory.critical_time("jepa", 1.0, 0.8, depth, eps)
        slope = np.diff(np.log(jepa))[0] / np.diff(np.log(eps))[0]
        assert slope == pytest.approx(-(2 * depth - 1) / depth, rel=0.01)
        if depth >= 2:
            mae = theory.critical_time("mae", 1.0, 0.8, depth, eps)
            slope = np.diff(np.log(mae))[0] / np.diff(np.log(eps))[0]
            assert slope == pytest.approx(-(depth - 1) / depth, rel=0.01)


# --- simulate ---------------------------------------------------------------------------


def test_simulate_matches_mae_depth_one_closed_form():
    lam, rho, eps = np.array([0.5, 1.0, 3.0]), np.array([0.4, 1.0, 2.0]), 1e-3
    t = np.concatenate([[0.0], np.geomspace(1e-3, 1e3, 300)])
    closed = (
        1.0 / rho + (1.0 / eps**2 - 1.0 / rho) * np.exp(-2.0 * lam * t[:, None])
    ) ** -0.5
    for method in ("exact", "radau"):
        w = theory.simulate("mae", lam, rho, 1, eps, t, method=method)
        assert w.shape == (t.size, 3)
        np.testing.assert_allclose(w, closed, rtol=1e-6, err_msg=method)


def test_simulate_crosses_the_level_at_the_critical_time():
    lam, rho, depth, eps = np.array([1.0, 2.0]), np.array([0.9, 0.6]), 3, 1e-4
    for objective, method in [(o, m) for o in ("jepa", "mae") for m in ("exact", "radau")]:
        t_star = theory.critical_time(objective, lam, rho, depth, eps)
        asymptote = theory.fixed_point(objective, rho, depth)
        # Times in any order, spanning many decades.
        t = np.array([50 * t_star.max(), t_star[0], 0.0, t_star[1]])
        w = theory.simulate(objective, lam, rho, depth, eps, t, method=method)
        np.testing.assert_allclose(w[2], eps)
        assert w[1, 0] == pytest.approx(0.5 * asymptote[0], rel=1e-5)
        assert w[3, 1] == pytest.approx(0.5 * asymptote[1], rel=1e-5)
        np.testing.assert_allclose(w[0], asymptote, rtol=1e-6)


def test_integration_agrees_with_the_exact_solution():
    # Per-feature depths, growing and decaying features, times over eight decades.
    lam = np.array([0.3, 1.0, 2.0, 5.0])
    rho = np.array([0.5, 1.3, 0.8, 0.2])
    depth = np.array([1, 2, 3, 2])
    eps = np.array([1e-3, 1e-2, 1e-3, 0.09])  # the last one starts above rho**L = 0.04
    t = np.geomspace(1e-3, 1e5, 200)
    for objective in ("jepa", "mae"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exact = theory.simulate(objective, lam, rho, depth, eps, t)
            radau = theory.simulate(objective, lam, rho, depth, eps, t, method="radau")
        np.testing.assert_allclose(radau, exact, rtol=1e-6, err_msg=objective)


def test_exact_simulation_spans_extreme_time_scales():
    # Critical times from ~1e10 to ~1e14: a rise far sharper than its time scale.
    lam, rho, eps = np.geomspace(0.01, 100, 5), np.linspace(0.5, 1.0, 5), 1e-12
    t_star = theory.critical_time("jepa", lam, rho, 1, eps)
    w = theory.simulate("jepa", lam, rho, 1, eps, np.append(t_star, 1e18))
    np.testing.assert_allclose(np.diag(w[:5]), 0.5 * rho, rtol=1e-3)
    np.testing.assert_allclose(w[5], rho, rtol=1e-12)


def test_measured_critical_time_from_simulation():
    lam, rho, depth, eps = 1.0, np.array([0.6, 0.8, 1.0]), 2, 1e-3
    t = np.geomspace(1e4, 1e5, 3000)
    w = theory.simulate("jepa", lam, rho, depth, eps, t)
    measured = theory.measured_critical_time(t, w, theory.fixed_point("jepa", rho, depth))
    # Linear interpolation between records 0.08% apart in time.
    np.testing.assert_allclose(
        measured, theory.critical_time("jepa", lam, rho, depth, eps), rtol=1e-3
    )
    never = theory.measured_critical_time(t[:10], w[:10], 1.0)
    assert np.all(np.isnan(never))


# --- learning orders (docs/theory.md, 'Critical times') ---------------------------------------------------


def _stages_separated(objective, lam, rho, depth, eps):
    """Whether each feature reaches 90% before the next one (in t*) reaches 10%."""
    early = theory.critical_time(objective, lam, rho, depth, eps, p=0.1)
    late = theory.critical_time(objective, lam, rho, depth, eps, p=0.9)
    order = np.argsort(theory.critical_time(objective, lam, rho, depth, eps))
    return bool(np.all(late[order][:-1] < early[order][1:]))


def test_order_1_both_greedy_in_lam():
    lam, eps = np.array([1.0, 2.0, 4.0]), 1e-3
    for objective, depth in [(o, d) for o in ("jepa", "mae") for d in (1, 3)]:
        t = theory.critical_time(objective, lam, 1.0, depth, eps)
        assert np.all(np.diff(t) < 0), (objective, depth)
        assert _stages_separated(objective, lam, 1.0, depth, eps), (objective, depth)


def test_order_2_only_deep_jepa_greedy_in_rho():
    rho, eps = np.array([0.55, 0.7, 0.85, 1.0]), 0.014
    jepa = theory.critical_time("jepa", 1.0, rho, 5, eps)
    mae = theory.critical_time("mae", 1.0, rho, 5, eps)
    assert np.all(np.diff(jepa) < 0)  # high rho first
    assert jepa.max() / jepa.min() > 1.5
    assert mae.max() / mae.min() < 1.05  # MAE: nearly together
    # At depth 1 the rho-dependence is only logarithmic: JEPA's curves overlap too.
    shallow = theory.critical_time("jepa", 1.0, rho, 1, 1e-3)
    assert shallow.max() / shallow.min() < 1.05


def test_order_3_jepa_inverts_with_depth_mae_never():
    lam, rho, eps = np.linspace(1.0, 1.5, 5), np.linspace(1.0, 0.5, 5), 1e-3
    for depth in range(1, 9):
        mae = theory.critical_time("mae", lam, rho, depth, eps)
        assert np.all(np.diff(mae) < 0), depth  # MAE: high lam first, every depth
    assert np.all(np.diff(theory.critical_time("jepa", lam, rho, 1, eps)) < 0)
    # Complete inversion for deep JEPA: high rho (low lam) first.
    assert np.all(np.diff(theory.critical_time("jepa", lam, rho, 8, eps)) > 0)


def test_order_4_clean_versus_noisy_feature():
    lam, rho, eps = np.array([1.0, 2.0]), np.array([1.0, 0.5]), 2e-4
    for depth in range(1, 11):
        mae = theory.critical_time("mae", lam, rho, depth, eps)
        assert mae[1] < mae[0], depth  # MAE: noisy (loud) first at every depth
    shallow = theory.critical_time("jepa", lam, rho, 1, eps)
    deep = theory.critical_time("jepa", lam, rho, 10, eps)
    assert shallow[1] < shallow[0]
    assert deep[0] < deep[1]  # deep JEPA: the clean feature first


# --- bad input --------------------------------------------------------------------------


CRITICAL_TIME_BAD_INPUT = [
    ({"depth": 0}, "`depth` must be an integer >= 1"),
    ({"depth": 1.5}, "`depth` must be an integer >= 1"),
    ({"eps": 0.0}, "`eps` must lie strictly between 0 and 1"),
    ({"eps": 1.0}, "`eps` must lie strictly between 0 and 1"),
    ({"lam": 0.0}, "`lam` must be > 0"),
    ({"lam": [1.0, -2.0]}, "`lam` must be > 0"),
    ({"rho": -0.5}, "`rho` must be > 0"),
    ({"p": 1.0}, "`p` must lie strictly between 0 and 1"),
    ({"objective": "byol"}, "`objective` must be one of"),
]


def test_critical_time_rejects_bad_input():
    for kwargs, match in CRITICAL_TIME_BAD_INPUT:
        args = {"objective": "jepa", "lam": 1.0, "rho": 0.9, "depth": 2, "eps": 1e-3}
        args.update(kwargs)
        with pytest.raises(ValueError, match=match):
            theory.critical_time(**args)


def test_init_above_asymptote_is_an_error_for_critical_time():
    # eps**(1/2) = 0.5 >= rho = 0.4: the JEPA feature would shrink, t* is undefined.
    with pytest.raises(ValueError, match=r"eps\*\*\(1/depth\) >= rho"):
        theory.critical_time("jepa", 1.0, [1.0, 0.4], 2, 0.25)
    with pytest.raises(ValueError, match="at or above the MAE asymptote"):
        theory.critical_time("mae", 1.0, 0.1, 2, 0.5)
    with pytest.raises(ValueError, match=r"eps\*\*\(1/depth\) >= rho"):
        theory.critical_time_leading("jepa", 1.0, 0.4, 2, 0.25)
    # Below the asymptote but above p times it: already there, t* = 0 with a warning.
    with pytest.warns(UserWarning, match="critical time is 0"):
        assert theory.critical_time("jepa", 1.0, 0.6, 2, 0.3) == 0.0


def test_simulate_warns_above_asymptote_and_decays_to_it():
    t = np.array([0.0, 1e4])
    with pytest.warns(UserWarning, match="at or above"):
        w = theory.simulate("jepa", 1.0, 0.4, 2, 0.25, t)
    assert w[1, 0] == pytest.approx(0.16, rel=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        theory.simulate("jepa", 1.0, 0.9, 2, 0.25, t)


SIMULATE_BAD_INPUT = [
    ({"t": [1.0, -1.0]}, "`t` must be a non-empty 1-D array"),
    ({"t": [[1.0]]}, "`t` must be a non-empty 1-D array"),
    ({"lam": np.ones((2, 2))}, "must broadcast to a scalar or a 1-D array"),
    ({"depth": 0}, "`depth` must be an integer >= 1"),
    ({"eps": 1.5}, "`eps` must lie strictly between 0 and 1"),
    ({"objective": "JEPA2"}, "`objective` must be one of"),
    ({"method": "euler"}, "`method` must be one of"),
]


def test_simulate_and_paper_time_reject_bad_input():
    for kwargs, match in SIMULATE_BAD_INPUT:
        args = {"objective": "mae", "lam": 1.0, "rho": 0.9, "depth": 2, "eps": 1e-3,
                "t": [0.0, 1.0]}
        args.update(kwargs)
        with pytest.raises(ValueError, match=match):
            theory.simulate(**args)
    with pytest.raises(ValueError, match="`learning_rate` must be > 0"):
        theory.paper_time(10, 0.0, 2)


def test_paper_time_is_depth_times_learning_rate_times_steps():
    np.testing.assert_allclose(theory.paper_time([0, 1000], 0.05, 3), [0.0, 150.0])


def test_kendall_tau_of_learning_orders():
    assert theory.kendall_tau([3.0, 2.0, 1.0], [1.0, 1.2, 1.4]) == -1.0
    assert theory.kendall_tau([1.0, 2.0, 3.0], [1.0, 1.2, 1.4]) == 1.0
    assert theory.kendall_tau([1.0, 3.0, 2.0], [1.0, 2.0, 3.0]) == 1 / 3
