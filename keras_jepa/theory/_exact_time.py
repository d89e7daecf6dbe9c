"""Closed-form paper time to go from ``u0`` to ``u`` (``u = w̄**(1/L)``), vectorised.

Separation of variables turns each per-feature ODE into ``t(u) = ∫ du / rate(u)``:

- JEPA: partial fractions of ``1 / (u**(2L) (rho − u))`` (docs/theory.md,
  'Critical times').
- MAE: ``u**-L + u / (rho − u**(L+1))``; the second part splits over the ``L + 1`` roots
  ``r_k`` of ``rho − u**(L+1)`` into ``Σ_k A_k / (r_k − u)``, ``A_k = r_k**(1−L) / (L+1)``,
  whose integral is a sum of complex logarithms. Along the real segment from ``u0`` to
  ``u`` no ``r_k − u`` crosses the branch cut of the principal logarithm, so the principal
  branch is the continuous one.

Both formulas also hold when ``u0`` lies above the asymptote (the feature decays). They
are used by `simulate(method="exact")`, which inverts ``t(u)``; `critical_time` keeps its
own scalar implementation (quadrature for MAE), so the two check each other.
"""

import numpy as np


def jepa_time(u, u0, lam, rho, depth):
    total = 0.0
    for n in range(1, 2 * depth):
        total = total + (u0**-n - u**-n) / (n * rho ** (2 * depth - 1 - n))
    total = total + rho ** (1 - 2 * depth) * np.log(u * (rho - u0) / (u0 * (rho - u)))
    return depth / lam * total


def mae_time(u, u0, lam, rho, depth):
    u_inf = rho ** (1.0 / (depth + 1))
    if depth == 1:
        divergent = np.log(u / u0)
    else:
        divergent = (u0 ** (1 - depth) - u ** (1 - depth)) / (depth - 1)
    roots = np.exp(2j * np.pi * np.arange(depth + 1) / (depth + 1))
    bounded = 0.0
    for unit in roots:
        root = u_inf * unit
        weight = root ** (1 - depth) / (depth + 1)
        bounded = bounded + weight * (
            np.log(root - u0 + 0j) - np.log(root - u + 0j)
        )
    return depth / lam * (divergent + bounded.real)


def invert_time(objective, t, u0, lam, rho, depth, iterations=80):
    """``u`` with ``time(u) = t``, by bisection in ``log u`` between ``u0`` and the asymptote.

    Args:
        t: times ``[n, 1]`` (broadcast against the per-feature arguments ``[d]``).
        u0, lam, rho: per-feature arrays ``[d]``; ``depth`` one integer.

    Returns:
        ``u`` of shape ``[n, d]``.
    """
    time_fn = jepa_time if objective == "jepa" else mae_time
    u_inf = rho if objective == "jepa" else rho ** (1.0 / (depth + 1))
    low = np.broadcast_to(np.log(u0), np.broadcast_shapes(t.shape, u0.shape)).copy()
    high = np.broadcast_to(np.log(u_inf), low.shape).copy()
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(iterations):
            middle = 0.5 * (low + high)
            before = time_fn(np.exp(middle), u0, lam, rho, depth) < t
            # The path runs from u0 towards the asymptote, up or down: "before" means the
            # feature is not yet at `middle` at time t, so the answer lies past it.
            low = np.where(before, middle, low)
            high = np.where(before, high, middle)
    return np.exp(0.5 * (low + high))
