"""The per-feature gradient-flow ODEs and their solution (docs/theory.md, 'Per-feature ODEs').

With the balanced aligned initialisation every feature ``i`` evolves alone; its encoder
response ``w̄_i`` (the diagonal entry of ``W̄ = W_L ⋯ W_1``) follows

    JEPA:  dw̄/dt = lam * w̄**(3 - 1/L) - (lam/rho) * w̄**3
    MAE:   dw̄/dt = lam * w̄**(2 - 1/L) - (lam/rho) * w̄**3,     w̄(0) = eps.

`simulate` solves them for times spanning many decades: a long plateau near ``eps``, a fast
rise, then an exponential approach to the asymptote. By default it uses the exact solution
by separation of variables: the paper time ``t(w̄)`` to reach ``w̄`` has a closed form for
both objectives, which is inverted by bisection, so no step-size control can be fooled by a
rise that is very sharp next to its time scale. ``method="radau"`` integrates ``log w̄``
numerically instead (implicit Runge-Kutta, exact Jacobian); the two agree to ~1e-8 in
ordinary regimes and cross-check each other in the tests.
"""

import warnings

import numpy as np
from scipy import integrate

from keras_jepa import checks
from keras_jepa.theory import _exact_time
from keras_jepa.theory import arguments
from keras_jepa.theory.fixed_points import fixed_point


def response_rate(objective, w, lam, rho, depth):
    """Right-hand side ``dw̄/dt`` of the per-feature ODE, in paper time.

    Args:
        objective: ``"jepa"`` or ``"mae"``.
        w: encoder response ``w̄`` (> 0). Array-like.
        lam: ``E[x_i y_i]``, > 0. Array-like.
        rho: regression coefficient ``lam / E[x_i**2]``, > 0. Array-like.
        depth: number of encoder layers, integer >= 1. Array-like.

    Returns:
        ``dw̄/dt`` broadcast over the arguments (a float when all are scalars).

    Example:

    >>> keras_jepa.theory.response_rate("jepa", w=0.25, lam=1.0, rho=0.5, depth=2)
    0.0
    """
    objective = arguments.check_objective(objective)
    w = checks.check_positive_number(w, "w", elementwise=True)
    lam = checks.check_positive_number(lam, "lam", elementwise=True)
    rho = checks.check_positive_number(rho, "rho", elementwise=True)
    depth = arguments.check_depth(depth)
    growth = (3.0 if objective == "jepa" else 2.0) - 1.0 / depth
    return arguments.scalar_or_array(lam * w**growth - (lam / rho) * w**3)


def paper_time(steps, learning_rate, depth):
    """Paper time of plain gradient descent: ``depth * learning_rate * steps``.

    Gradient descent at learning rate ``eta`` on all ``L`` layers of the deep linear
    networks moves ``w̄`` ``L`` times faster than the ODEs (docs/theory.md, 'Per-feature
    ODEs'): one step covers ``L * eta`` of paper time.

    Args:
        steps: optimizer steps (array-like, >= 0).
        learning_rate: the SGD learning rate, > 0.
        depth: number of encoder layers, integer >= 1.

    Returns:
        Paper times, a float or float64 array shaped like ``steps``.

    Example:

    >>> keras_jepa.theory.paper_time(1000, learning_rate=0.25, depth=2)
    500.0
    """
    steps = np.asarray(steps, dtype=np.float64)
    if np.any(steps < 0):
        raise ValueError(f"`steps` must be >= 0, got {steps!r}.")
    learning_rate = float(
        checks.check_positive_number(learning_rate, "learning_rate", elementwise=True))
    depth = arguments.check_depth(depth)
    return arguments.scalar_or_array(depth * learning_rate * steps)


METHODS = ("radau", "exact")


def simulate(objective, lam, rho, depth, eps, t, method="exact", rtol=1e-10):
    """Encoder responses ``w̄_i(t)`` of the per-feature ODEs at the given paper times.

    Args:
        objective: ``"jepa"`` or ``"mae"``.
        lam: ``E[x_i y_i]`` of each feature, > 0. Scalar or 1-D.
        rho: regression coefficient of each feature, > 0. Scalar or 1-D.
        depth: number of encoder layers, integer >= 1. Scalar or 1-D.
        eps: initial response ``w̄(0)``, in (0, 1). Scalar or 1-D.
            ``lam, rho, depth, eps`` broadcast to one shape ``[d]`` (``d = 1`` if all are
            scalars).
        t: paper times, 1-D, finite, >= 0, in any order (e.g. ``np.geomspace``).
        method: ``"exact"`` (default) inverts the closed-form time ``t(w̄)`` of separation
            of variables by bisection in ``log w̄``: machine precision (up to the
            conditioning of ``w̄(t)`` itself) over any number of decades. ``"radau"``
            integrates ``log w̄`` with scipy's implicit Radau IIA method and the exact
            Jacobian. Radau agrees with the exact solution to ~1e-8 in ordinary regimes,
            but where a rise is extremely sharp next to its time (``t* / rise width``
            beyond ~1e12, e.g. depth 1 with eps = 1e-12) it can step over it and lose
            accuracy; if it fails outright it falls back to ``"exact"`` with a warning.
        rtol: relative tolerance of the Radau integrator (on ``w̄``).

    Returns:
        float64 array ``[len(t), d]``.

    Warns:
        UserWarning: where a feature starts at or above its asymptote (it then decays to it).

    Example:

    >>> t = np.geomspace(1e-2, 1e4, 200)
    >>> w = keras_jepa.theory.simulate("jepa", lam=1.0, rho=[0.6, 0.8, 1.0], depth=3,
    ...                                eps=1e-3, t=t)
    >>> w.shape
    (200, 3)
    """
    objective = arguments.check_objective(objective)
    lam = checks.check_positive_number(lam, "lam", elementwise=True)
    rho = checks.check_positive_number(rho, "rho", elementwise=True)
    depth = arguments.check_depth(depth)
    eps = checks.check_open_unit_interval(eps, "eps")
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {METHODS}, got {method!r}.")
    lam, rho, depth, eps = checks.broadcast_arrays(lam=lam, rho=rho, depth=depth, eps=eps)
    if lam.ndim > 1:
        raise ValueError(
            "`lam`, `rho`, `depth` and `eps` must broadcast to a scalar or a 1-D array of "
            f"features, got shape {lam.shape}."
        )
    lam, rho, depth, eps = (np.atleast_1d(a).astype(np.float64) for a in (lam, rho, depth, eps))
    t = np.asarray(t, dtype=np.float64)
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError(
            f"`t` must be a non-empty 1-D array of finite times >= 0, got {t!r}."
        )
    asymptote = fixed_point(objective, rho, depth.astype(np.int64))
    if np.any(eps >= asymptote):
        warnings.warn(
            f"Some features start at or above their {objective.upper()} asymptote "
            "(for JEPA: eps**(1/depth) >= rho); they decay to it instead of growing.",
            stacklevel=2,
        )

    if method == "exact":
        return _simulate_exact(objective, lam, rho, depth.astype(np.int64), eps, t)
    try:
        return _simulate_radau(objective, lam, rho, depth, eps, t, rtol)
    except _IntegrationError as error:
        warnings.warn(
            f"Radau could not integrate ({error}); using method='exact' instead.",
            stacklevel=2,
        )
        return _simulate_exact(objective, lam, rho, depth.astype(np.int64), eps, t)


class _IntegrationError(RuntimeError):
    pass


def _simulate_exact(objective, lam, rho, depth, eps, t):
    out = np.empty((t.size, lam.size), dtype=np.float64)
    for value in np.unique(depth):
        # The closed forms take one depth at a time.
        index = np.nonzero(depth == value)[0]
        u = _exact_time.invert_time(
            objective, t[:, None], eps[index] ** (1.0 / value), lam[index], rho[index],
            int(value),
        )
        out[:, index] = u**value
    return out


def _simulate_radau(objective, lam, rho, depth, eps, t, rtol):
    # In s = log w̄:  ds/dt = lam * w̄**a - sigma2 * w̄**2 with a = 2 - 1/L (JEPA) or
    # 1 - 1/L (MAE); the Jacobian is diagonal.
    power = (2.0 if objective == "jepa" else 1.0) - 1.0 / depth
    sigma2 = lam / rho

    def rate(_, s):
        w = np.exp(s)
        return lam * w**power - sigma2 * w**2

    def jacobian(_, s):
        w = np.exp(s)
        return np.diag(lam * power * w**power - 2.0 * sigma2 * w**2)

    order = np.argsort(t, kind="stable")
    t_sorted = t[order]
    out = np.empty((t.size, lam.size), dtype=np.float64)
    if t_sorted[-1] == 0:
        out[:] = eps
        return out
    # Rejected trial steps may overshoot exp(s); the accepted solution never does.
    with np.errstate(over="ignore", invalid="ignore"):
        solution = integrate.solve_ivp(
            rate,
            (0.0, t_sorted[-1]),
            np.log(eps),
            method="Radau",
            t_eval=t_sorted,
            jac=jacobian,
            rtol=rtol,
            atol=rtol,
        )
    if not solution.success:
        raise _IntegrationError(solution.message)
    out[order] = np.exp(solution.y.T)
    return out
