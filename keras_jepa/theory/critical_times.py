"""When a feature is learned: critical times of the ODEs (docs/theory.md, 'Critical times').

The critical time ``t*`` is the paper time at which the encoder response ``w̄`` of a feature,
started at ``w̄(0) = eps`` with the balanced aligned initialisation, first reaches a fraction
``p`` of its own asymptote. With ``u = w̄**(1/L)`` both ODEs separate, so ``t*`` is an integral
of ``du / rate(u)``:

- JEPA has an exact closed form (partial fractions of ``1 / (u**(2L) (rho - u))``).
- MAE is split as ``u**-L + u / (rho - u**(L+1))``: the first part, which carries the whole
  divergence as ``eps -> 0``, is integrated exactly, the remaining bounded part by adaptive
  quadrature after its logarithmic singularity at the asymptote has been subtracted exactly.

`critical_time_leading` gives the leading Laurent sum, the terms that diverge as ``eps -> 0``.
All times are in paper time; gradient descent at learning rate ``eta`` on all ``L`` layers
covers ``L * eta`` of paper time per step.
"""

import warnings

import numpy as np
from scipy import integrate

from keras_jepa import checks
from keras_jepa.theory import arguments
from keras_jepa.theory.fixed_points import fixed_point


def check_init_below_asymptote(objective, rho, depth, eps):
    """Raises ValueError where the initial response is at or above the asymptote.

    There the feature shrinks toward its asymptote instead of growing, so the critical time
    (the first time the response *grows* to a fraction of the asymptote) is undefined. For
    JEPA the condition is ``eps**(1/depth) >= rho``; for MAE it is
    ``eps >= rho**(depth / (depth + 1))``.
    """
    if objective == "jepa":
        above = eps ** (1.0 / depth) >= rho
        condition = "eps**(1/depth) >= rho"
    else:
        above = eps >= rho ** (depth / (depth + 1.0))
        condition = "eps >= rho**(depth/(depth+1))"
    if np.any(above):
        index = np.argwhere(np.atleast_1d(above))[0]
        values = [np.atleast_1d(a)[tuple(index)] for a in (eps, depth, rho)]
        raise ValueError(
            f"The initial response is at or above the {objective.upper()} asymptote "
            f"({condition}; e.g. eps={values[0]:g}, depth={values[1]}, rho={values[2]:g}): "
            "the feature shrinks instead of growing and its critical time is undefined. "
            "Use a smaller `eps` (need eps**(1/depth) < rho for JEPA)."
        )


def _prepare(objective, lam, rho, depth, eps, p=None):
    objective = arguments.check_objective(objective)
    lam = checks.check_positive_number(lam, "lam", elementwise=True)
    rho = checks.check_positive_number(rho, "rho", elementwise=True)
    depth = arguments.check_depth(depth)
    eps = checks.check_open_unit_interval(eps, "eps")
    named = {"lam": lam, "rho": rho, "depth": depth, "eps": eps}
    if p is not None:
        named["p"] = checks.check_open_unit_interval(p, "p")
    arrays = checks.broadcast_arrays(**named)
    check_init_below_asymptote(objective, arrays[1], arrays[2], arrays[3])
    return (objective, *arrays)


def _jepa_time(lam, rho, depth, eps, p):
    u0 = eps ** (1.0 / depth)
    u1 = p ** (1.0 / depth) * rho
    if u1 <= u0:
        return 0.0
    total = 0.0
    for n in range(1, 2 * depth):
        total += (u0**-n - u1**-n) / (n * rho ** (2 * depth - 1 - n))
    total += rho ** (1 - 2 * depth) * np.log(u1 * (rho - u0) / (u0 * (rho - u1)))
    return depth / lam * total


def _mae_time(lam, rho, depth, eps, p):
    u_inf = rho ** (1.0 / (depth + 1))
    u0 = eps ** (1.0 / depth)
    u1 = p ** (1.0 / depth) * u_inf
    if u1 <= u0:
        return 0.0
    if depth == 1:
        divergent = np.log(u1 / u0)
    else:
        divergent = (u0 ** (1 - depth) - u1 ** (1 - depth)) / (depth - 1)
    # u / (rho - u**(L+1)) ~ c / (u_inf - u) near the asymptote; integrate that part exactly
    # so that quad only sees a smooth, bounded integrand for any p < 1.
    c = u_inf ** (1 - depth) / (depth + 1)

    def smooth(u):
        gap = u_inf - u
        if gap <= 1e-9 * u_inf:
            # Removable singularity: the Taylor limit of the difference at u = u_inf.
            return (depth - 2.0) / (2.0 * (depth + 1) * u_inf**depth)
        return u / (rho - u ** (depth + 1)) - c / gap

    singular = c * np.log((u_inf - u0) / (u_inf - u1))
    # The remainder can be tiny next to the exact parts; an absolute tolerance relative to
    # them keeps quad from chasing round-off.
    scale = abs(divergent) + abs(singular) + u1 * abs(smooth(u0))
    remainder, _ = integrate.quad(
        smooth, u0, u1, epsabs=1e-13 * scale, epsrel=1e-12, limit=200
    )
    return depth / lam * (divergent + singular + remainder)


def critical_time(objective, lam, rho, depth, eps, p=0.5):
    """Paper time at which a feature's encoder response reaches ``p`` times its asymptote.

    Exact: JEPA by its closed form, MAE by an exact divergent part plus quadrature of a
    bounded remainder (relative accuracy ~1e-12).

    Args:
        objective: ``"jepa"`` or ``"mae"``.
        lam: ``E[x_i y_i]``, the feature's covariance between the views, > 0. Array-like.
        rho: ``lam / E[x_i**2]``, the feature's regression coefficient, > 0. Array-like.
        depth: number of encoder layers ``L``, an integer >= 1. Array-like.
        eps: initial encoder response ``w̄(0)`` (every layer starts at ``eps**(1/L)``), in
            (0, 1). Must be below the asymptote (``eps**(1/L) < rho`` for JEPA).
        p: fraction of the asymptote, in (0, 1).

    Returns:
        ``t*`` broadcast over the array arguments (a float when all are scalars). It is 0
        where ``eps`` already exceeds ``p`` times the asymptote.

    Raises:
        ValueError: for a bad argument, or where the initial response is at or above the
            asymptote (the critical time is undefined there).

    Example:

    >>> t = keras_jepa.theory.critical_time("jepa", lam=1.0, rho=[0.5, 1.0], depth=2,
    ...                                     eps=1e-3)
    >>> bool(t[0] > t[1])  # deep JEPA learns the high-rho feature first
    True
    """
    objective, lam, rho, depth, eps, p = _prepare(objective, lam, rho, depth, eps, p)
    if np.any(eps >= p * fixed_point(objective, rho, depth)):
        warnings.warn(
            "Some features start at or above p times their asymptote (eps >= p * "
            "fixed_point): their critical time is 0. A smaller `eps` makes them grow.",
            stacklevel=2,
        )
    time_fn = _jepa_time if objective == "jepa" else _mae_time
    out = np.empty(lam.shape, dtype=np.float64)
    for index in np.ndindex(lam.shape):
        out[index] = time_fn(
            lam[index], rho[index], int(depth[index]), eps[index], p[index]
        )
    return arguments.scalar_or_array(out)


def critical_time_leading(objective, lam, rho, depth, eps):
    """The leading Laurent sum of the critical time: its terms that diverge as ``eps -> 0``.

    JEPA: ``(1/lam) * sum_{n=1}^{2L-1} L / (n * rho**(2L-n-1) * eps**(n/L))``; the
    ``Θ(log eps)`` remainder is left out. Only the largest term (``n = 2L-1``) is free of
    ``rho``, so for ``L = 1`` ``rho`` enters only through the logarithm.

    MAE: ``L / ((L-1) * lam * eps**((L-1)/L))`` for ``L >= 2``, free of ``rho``; for
    ``L = 1`` the divergence is logarithmic and this returns ``log(1/eps) / lam``.

    Args:
        objective: ``"jepa"`` or ``"mae"``.
        lam: ``E[x_i y_i]``, > 0. Array-like.
        rho: regression coefficient, > 0. Array-like.
        depth: integer >= 1. Array-like.
        eps: initial encoder response, in (0, 1). Array-like.

    Returns:
        The leading sum, broadcast over the arguments (a float when all are scalars).

    Example:

    >>> keras_jepa.theory.critical_time_leading("jepa", 1.0, 1.0, depth=1, eps=0.01)
    100.0
    """
    objective, lam, rho, depth, eps = _prepare(objective, lam, rho, depth, eps)
    out = np.empty(lam.shape, dtype=np.float64)
    for index in np.ndindex(lam.shape):
        l_, r, L, e = lam[index], rho[index], int(depth[index]), eps[index]
        if objective == "jepa":
            n = np.arange(1, 2 * L)
            out[index] = np.sum(L / (n * r ** (2 * L - n - 1) * e ** (n / L))) / l_
        elif L == 1:
            out[index] = np.log(1.0 / e) / l_
        else:
            out[index] = L / ((L - 1) * l_ * e ** ((L - 1) / L))
    return arguments.scalar_or_array(out)


def measured_critical_time(t, responses, asymptote, p=0.5):
    """First time each recorded response reaches ``p`` times its asymptote.

    The empirical counterpart of `critical_time`, for trajectories from `simulate` or
    `ResponseHistory`: linear interpolation between the two records around the crossing.

    Args:
        t: increasing times of the records, ``[n]``.
        responses: responses ``[n, d]`` (or ``[n]`` for one feature).
        asymptote: asymptote of each feature, broadcast to ``[d]`` (e.g. `fixed_point`).
        p: fraction of the asymptote, in (0, 1).

    Returns:
        float64 array ``[d]``; NaN where a response never reaches the level.

    Example:

    >>> t = np.geomspace(1e-2, 1e4, 2000)
    >>> w = keras_jepa.theory.simulate("mae", 1.0, 0.5, 2, 1e-3, t)
    >>> keras_jepa.theory.measured_critical_time(t, w, keras_jepa.theory.fixed_point(
    ...     "mae", 0.5, 2))  # ≈ critical_time("mae", 1.0, 0.5, 2, 1e-3)
    """
    t = np.asarray(t, dtype=np.float64)
    responses = np.asarray(responses, dtype=np.float64)
    if responses.ndim == 1:
        responses = responses[:, None]
    if t.ndim != 1 or responses.ndim != 2 or responses.shape[0] != t.size:
        raise ValueError(
            "`t` must be 1-D [n] and `responses` [n, d] with the same n, got shapes "
            f"{t.shape} and {responses.shape}."
        )
    if np.any(np.diff(t) < 0):
        raise ValueError("`t` must be non-decreasing.")
    p = float(checks.check_open_unit_interval(p, "p"))
    level = p * np.broadcast_to(
        checks.check_positive_number(asymptote, "asymptote", elementwise=True), responses.shape[1:]
    )
    out = np.full(responses.shape[1], np.nan)
    for i in range(responses.shape[1]):
        above = np.nonzero(responses[:, i] >= level[i])[0]
        if above.size == 0:
            continue
        k = above[0]
        if k == 0:
            out[i] = t[0]
            continue
        w0, w1 = responses[k - 1, i], responses[k, i]
        out[i] = t[k - 1] + (level[i] - w0) / (w1 - w0) * (t[k] - t[k - 1])
    return out


def kendall_tau(a, b):
    """Kendall's tau between two orderings of the same features (without ties).

    +1 where `a` and `b` order every pair of features alike, −1 where every pair is
    reversed. With `a` the features' critical times and `b` their λ, −1 says that the
    features of high λ are learned first (MAE's greedy order).

    Example:
    keras_jepa.theory.kendall_tau([3.0, 2.0, 1.0], [1.0, 1.2, 1.4])  # -1.0
    """
    sign = np.sign(np.subtract.outer(a, a)) * np.sign(np.subtract.outer(b, b))
    n = len(a)
    return sign[np.triu_indices(n, 1)].sum() / (n * (n - 1) / 2)
