"""The deep linear JEPA without stop-gradient: the ablation that collapses.

The JEPA loss of docs/theory.md ('The model') stops the gradient of its target,
``½ E‖V W̄ x − sg(W̄ y)‖²``. Letting the gradient flow through the target as well
(`DeepLinearJEPA(target_mode="no_stop_gradient")`) changes the dynamics completely. This module
holds that derivation and its numerical solution.

Derivation (aligned, balanced init ``W_a(0) = V(0) = eps**(1/L)``, diagonal second moments;
per feature, drop the index ``i``). Write ``u`` for each encoder layer's entry (all ``L``
stay equal: the encoder layers stay balanced among themselves), ``w̄ = u**L`` and ``v`` for
the predictor. With ``σ² = E[x²] = lam/rho``, ``lam = E[x y]`` and ``τ² = E[y²]`` (the target
variance, which the stop-gradient dynamics never see), the per-feature loss is

    ℓ(w̄, v) = ½ E (v w̄ x − w̄ y)² = ½ w̄² c(v),
    c(v)    = E (v x − y)² = σ² (v − rho)² + κ,     κ = τ² − lam·rho = τ² − lam²/σ² ≥ 0,

``κ`` being the variance of ``y`` that no linear function of ``x`` predicts. Gradient flow,
converted to the paper time of docs/theory.md, 'Per-feature ODEs' (``t = L · η · steps``):

    dw̄/dt = − c(v) · w̄**(3 − 2/L)
    dv/dt = (1/L) · w̄² · (lam − σ² v),        w̄(0) = eps,  v(0) = eps**(1/L).

With stop-gradient the encoder equation is ``dw̄/dt = −v (σ² v − lam) w̄**(3 − 2/L)`` and
``v = w̄**(1/L)`` at all times (balancedness), which gives the JEPA ODE of docs/theory.md,
'Per-feature ODEs', ``lam w̄**(3 − 1/L) − σ² w̄³``. The only change is the
factor in front: ``E[(v x − y) v x]`` becomes ``E[(v x − y)²]``, the extra term
``E[(v x − y)(−y)] = τ² − v·lam`` being the gradient through the target. Because
``E[(v x − y)²] ≥ 0``, the encoder response never grows: it is non-increasing
from any start, and nothing is ever learned. The predictor is no longer tied to
the encoder (``v² − u²`` changes at rate ``2 w̄² (τ² − v lam)``).

Fixed points and stability. ``dw̄/dt = 0`` needs ``w̄ = 0`` or ``c(v) = 0``; the latter needs
``κ = 0`` (``y`` an exact linear function of ``x``) and ``v = rho``. So for every feature with
``κ > 0`` the fixed points form the line ``{w̄ = 0, v arbitrary}``: the collapsed encoder,
which is also the global minimum (loss 0) of the loss without stop-gradient. The line
attracts every trajectory (the loss ``½ w̄² c(v)`` decreases along the flow). For ``L = 1``
it is hyperbolic in ``w̄``: ``w̄`` decays exponentially at rate ``c(v) ≥ κ``. For ``L ≥ 2`` the
linearisation vanishes (exponent ``3 − 2/L > 1``): the decay is algebraic,
``w̄(t) ≈ [eps**(−(2 − 2/L)) + (2 − 2/L) c t]**(−L / (2L − 2))``, on the time scale
``1 / (c eps**(2 − 2/L))``, well before the stop-gradient plateau of order
``eps**(−(2 − 1/L)) / lam`` ends. Dividing the two equations gives a first integral (a
conserved quantity of the flow):

    H = w̄**(2/L) / 2 − (rho − v)² / 2 − (κ / σ²) · log|rho − v|,

so ``v`` moves only while ``w̄**(2/L)`` (= ``u²``) shrinks, by about
``eps**(2/L) / (2 (rho − v0) + 2 κ / (σ² (rho − v0)))`` in all: from the small init the
predictor barely moves and the encoder response goes to zero. (Only for ``κ = 0`` and
``v0 > rho / 2`` does the level set of ``H`` reach ``v = rho`` first, and ``w̄`` then stops at
``(v0**2 − (rho − v0)**2)**(L/2) > 0``: partial shrinkage, still no growth.)

For the two-view data of `make_two_view_data` (``rho ≤ 1``) and `make_temporal_data`,
``τ² = σ²``, so ``κ = lam (1 − rho²) / rho``: a noisier feature (smaller ``rho``) collapses
faster.
"""

import numpy as np
from scipy import integrate

from keras_jepa import checks
from keras_jepa.theory import arguments


def _checked_state(w, v, lam, rho, depth, target_variance):
    """The validated arguments of the per-feature system, with σ² = λ/ρ and τ² = E[y²]."""
    w = checks.check_positive_number(w, "w", elementwise=True)
    v = checks.check_finite_array(v, "v")
    lam = checks.check_positive_number(lam, "lam", elementwise=True)
    rho = checks.check_positive_number(rho, "rho", elementwise=True)
    depth = arguments.check_depth(depth)
    sigma2 = lam / rho
    tau2 = sigma2 if target_variance is None else checks.check_positive_number(
        target_variance, "target_variance", elementwise=True)
    return w, v, lam, rho, depth, sigma2, tau2

def _broadcast_features(lam, rho, depth, eps, target_variance, predictor_init):
    lam = checks.check_positive_number(lam, "lam", elementwise=True)
    rho = checks.check_positive_number(rho, "rho", elementwise=True)
    depth = arguments.check_depth(depth)
    eps = checks.check_open_unit_interval(eps, "eps")
    checks.broadcast_arrays(lam=lam, rho=rho, depth=depth, eps=eps)
    sigma2 = lam / rho
    if target_variance is None:
        target_variance = sigma2
    target_variance = checks.check_positive_number(
        target_variance, "target_variance", elementwise=True)
    arrays = checks.broadcast_arrays(lam=lam, rho=rho, depth=depth, eps=eps, sigma2=sigma2,
                                   target_variance=target_variance)
    if arrays[0].ndim > 1:
        raise ValueError(
            "`lam`, `rho`, `depth`, `eps` and `target_variance` must broadcast to a scalar "
            f"or a 1-D array of features, got shape {arrays[0].shape}."
        )
    lam, rho, depth, eps, sigma2, tau2 = (
        np.atleast_1d(a).astype(np.float64) for a in arrays
    )
    if np.any(tau2 < lam * rho * (1.0 - 1e-9)):
        raise ValueError(
            "`target_variance` (E[y**2]) must be >= lam * rho = E[x y]**2 / E[x**2] "
            f"(Cauchy-Schwarz), got {target_variance!r} for lam*rho = {lam * rho!r}."
        )
    if predictor_init is None:
        v0 = eps ** (1.0 / depth)
    else:
        v0 = np.atleast_1d(
            np.broadcast_to(checks.check_finite_array(predictor_init, "predictor_init"),
                            lam.shape)
        ).astype(np.float64)
    return lam, rho, depth, eps, sigma2, tau2, v0


def no_stop_gradient_rates(w, v, lam, rho, depth, target_variance=None):
    """Right-hand sides ``(dw̄/dt, dv/dt)`` without stop-gradient, in paper time.

    ``dw̄/dt = −c(v) w̄**(3 − 2/L)`` and ``dv/dt = (1/L) w̄² (lam − σ² v)`` with
    ``c(v) = E[(v x − y)²] = σ² v² − 2 lam v + τ²`` (module docstring).

    Args:
        w: encoder response ``w̄`` (> 0). Array-like.
        v: predictor coefficient. Array-like.
        lam: ``E[x_i y_i]``, > 0.
        rho: ``lam / E[x_i**2]``, > 0.
        depth: number of encoder layers, integer >= 1.
        target_variance: ``τ² = E[y_i**2]``; ``None`` (default) uses ``E[x_i**2] = lam/rho``,
            which is what `make_two_view_data` (``rho <= 1``) and `make_temporal_data` give.

    Returns:
        ``(dw_dt, dv_dt)``, floats or arrays broadcast over the arguments.

    Example:

    >>> keras_jepa.theory.no_stop_gradient_rates(w=0.1, v=0.3, lam=1.0, rho=0.5, depth=2)
    (-0.0158..., 0.002...)
    """
    w, v, lam, rho, depth, sigma2, tau2 = _checked_state(w, v, lam, rho, depth,
                                                         target_variance)
    c = sigma2 * v**2 - 2.0 * lam * v + tau2
    dw = -c * w ** (3.0 - 2.0 / depth)
    dv = w**2 * (lam - sigma2 * v) / depth
    return arguments.scalar_or_array(dw), arguments.scalar_or_array(dv)


def no_stop_gradient_invariant(w, v, lam, rho, depth, target_variance=None):
    """The first integral ``H`` of the flow without stop-gradient (constant in time).

    ``H = w̄**(2/L) / 2 − (rho − v)² / 2 − (κ/σ²) log|rho − v|``, ``κ = τ² − lam·rho``.
    Along any solution of `simulate_no_stop_gradient` it stays at its initial value, which
    ties the predictor to the encoder response (and checks the integration).

    Args:
        w, v, lam, rho, depth, target_variance: as in `no_stop_gradient_rates`
            (``v != rho`` when ``κ > 0``).

    Returns:
        ``H``, a float or an array broadcast over the arguments.

    Example:

    >>> keras_jepa.theory.no_stop_gradient_invariant(0.1, 0.3, 1.0, 0.5, 2)
    1.237...
    """
    w, v, lam, rho, depth, sigma2, tau2 = _checked_state(w, v, lam, rho, depth,
                                                         target_variance)
    kappa = tau2 - lam * rho
    gap = rho - v
    with np.errstate(divide="ignore"):
        log_term = np.where(kappa > 0, kappa / sigma2 * np.log(np.abs(gap)), 0.0)
    return arguments.scalar_or_array(w ** (2.0 / depth) / 2.0 - gap**2 / 2.0 - log_term)


def simulate_no_stop_gradient(lam, rho, depth, eps, t, target_variance=None,
                              predictor_init=None, rtol=1e-10):
    """Encoder responses and predictor of deep linear JEPA trained *without* stop-gradient.

    Integrates the two-variable per-feature ODE of the module docstring (in ``log w̄`` and
    ``v``, scipy's implicit Radau method) from ``w̄(0) = eps``, ``v(0) = eps**(1/L)`` (the
    aligned init of `DeepLinearJEPA`), in the same paper time as `simulate`
    (``depth * learning_rate * steps`` of plain gradient descent).

    Args:
        lam: ``E[x_i y_i]`` of each feature, > 0. Scalar or 1-D.
        rho: regression coefficient ``lam / E[x_i**2]`` of each feature, > 0.
        depth: number of encoder layers, integer >= 1.
        eps: initial encoder response ``w̄(0)``, in (0, 1).
        t: paper times, 1-D, finite, >= 0, in any order.
        target_variance: ``E[y_i**2]`` of each feature; ``None`` (default) uses
            ``lam / rho`` (the two-view and temporal data of this package, ``rho <= 1``).
            Must be >= ``lam * rho``.
        predictor_init: initial predictor coefficient; ``None`` (default) uses
            ``eps**(1/depth)``.
        rtol: relative (and absolute) tolerance of the integrator.

    Returns:
        ``(responses, predictor)``: float64 arrays ``[len(t), d]``, ``w̄_i(t)`` and
        ``v_i(t)``.

    Example:

    >>> t = np.linspace(0.0, 50.0, 6)
    >>> w, v = keras_jepa.theory.simulate_no_stop_gradient(
    ...     lam=1.0, rho=[0.5, 1.0], depth=2, eps=0.25, t=t)
    >>> bool(np.all(np.diff(w, axis=0) <= 0))  # never grows
    True
    """
    lam, rho, depth, eps, sigma2, tau2, v0 = _broadcast_features(
        lam, rho, depth, eps, target_variance, predictor_init)
    t = np.asarray(t, dtype=np.float64)
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError(
            f"`t` must be a non-empty 1-D array of finite times >= 0, got {t!r}."
        )
    d = lam.size
    power = 2.0 - 2.0 / depth

    def rate(_, state):
        s, v = state[:d], state[d:]
        w = np.exp(s)
        c = sigma2 * v**2 - 2.0 * lam * v + tau2
        return np.concatenate([-c * w**power, w**2 * (lam - sigma2 * v) / depth])

    def jacobian(_, state):
        s, v = state[:d], state[d:]
        w = np.exp(s)
        c = sigma2 * v**2 - 2.0 * lam * v + tau2
        jac = np.zeros((2 * d, 2 * d))
        index = np.arange(d)
        jac[index, index] = -c * power * w**power
        jac[index, d + index] = -(2.0 * sigma2 * v - 2.0 * lam) * w**power
        jac[d + index, index] = 2.0 * w**2 * (lam - sigma2 * v) / depth
        jac[d + index, d + index] = -(w**2) * sigma2 / depth
        return jac

    order = np.argsort(t, kind="stable")
    t_sorted = t[order]
    responses = np.empty((t.size, d))
    predictor = np.empty((t.size, d))
    if t_sorted[-1] == 0:
        responses[:], predictor[:] = eps, v0
        return responses, predictor
    with np.errstate(over="ignore", invalid="ignore"):
        solution = integrate.solve_ivp(
            rate, (0.0, t_sorted[-1]), np.concatenate([np.log(eps), v0]),
            method="Radau", t_eval=t_sorted, jac=jacobian, rtol=rtol, atol=rtol,
        )
    if not solution.success:
        raise RuntimeError(f"The no-stop-gradient ODE could not be integrated: "
                           f"{solution.message}")
    responses[order] = np.exp(solution.y[:d].T)
    predictor[order] = solution.y[d:].T
    return responses, predictor
