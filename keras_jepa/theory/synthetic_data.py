"""Synthetic two-view data with prescribed per-feature (lam, rho).

The deep linear dynamics (docs/theory.md, 'Data with prescribed λ and ρ') depend on the
data only through ``E[x xᵀ] = diag(lam / rho)`` and ``E[y xᵀ] = diag(lam)``. These
generators return samples whose *sample* second moments (``xᵀx / n``, ``yᵀx / n``,
``yᵀy / n``, means) equal the population ones exactly, up to float32 rounding, so that
full-batch gradient descent on them follows the population gradient flow with no
sampling noise:

- `make_two_view_data`: the static model ``x = z + ξ``, ``y = z + ξ'`` with
  ``Var z = lam`` and ``Var ξ = Var ξ' = lam (1 - rho) / rho`` (so ``rho`` is the predictable
  fraction of the variance). Features with ``rho > 1`` use ``y = rho x + ξ'``.
- `make_temporal_data`: the dynamic model ``x = s_t``, ``y = s_{t+1}`` of a stationary AR(1)
  process per feature with autocorrelation ``rho`` and variance ``lam / rho``.
- `estimate_lam_rho`: reads ``(lam, rho)`` back from a sample.

Exactness comes from whitening the latent variables: their sample second-moment matrix is
made the identity (and their sample means zero) by a linear map computed from the sample.
"""

import numpy as np

from keras_jepa import checks


def _check_lam_rho(lam, rho):
    lam = checks.check_positive_number(lam, "lam", elementwise=True)
    rho = checks.check_positive_number(rho, "rho", elementwise=True)
    lam, rho = checks.broadcast_arrays(lam=lam, rho=rho)
    if lam.ndim > 1:
        raise ValueError(
            "`lam` and `rho` must broadcast to a scalar or a 1-D array of features, got "
            f"shape {lam.shape}."
        )
    return np.atleast_1d(lam).astype(np.float64), np.atleast_1d(rho).astype(np.float64)


def _check_num_samples(num_samples, num_latents):
    if not checks.is_int(num_samples):
        raise ValueError(f"`num_samples` must be an integer, got {num_samples!r}.")
    if num_samples < num_latents + 1:
        raise ValueError(
            f"`num_samples` must be at least {num_latents + 1} for exact second moments "
            f"with these features, got {num_samples}."
        )


def _whiten(latents):
    """Maps ``latents [n, k]`` to zero sample means and ``latentsᵀ latents / n = I``."""
    centred = latents - latents.mean(axis=0, keepdims=True)
    moment = centred.T @ centred / centred.shape[0]
    values, vectors = np.linalg.eigh(moment)
    # The symmetric inverse square root changes an almost-white sample the least.
    return centred @ (vectors / np.sqrt(values)) @ vectors.T


def make_two_view_data(lam, rho, num_samples, seed=None, dtype="float32"):
    """Paired views ``(x, y)`` of the static two-view model with exact second moments.

    Args:
        lam: ``E[x_i y_i]`` of each feature, > 0. Scalar or 1-D.
        rho: ``lam_i / E[x_i**2]`` of each feature, > 0. Scalar or 1-D; broadcast with
            ``lam`` to ``[d]``.
        num_samples: number of pairs ``n``; at least ``3 d + 1``.
        seed: seed of the numpy generator (``None``: fresh entropy).
        dtype: dtype of the returned arrays.

    Returns:
        ``(x, y)``, two arrays ``[num_samples, d]`` with zero sample means,
        ``xᵀx / n = diag(lam / rho)`` and ``yᵀx / n = diag(lam)``; for ``rho <= 1`` also
        ``yᵀy / n = xᵀx / n``.

    Example:

    >>> x, y = keras_jepa.theory.make_two_view_data(
    ...     lam=[1.0, 2.0], rho=[1.0, 0.25], num_samples=64, seed=0)
    >>> np.allclose(y.T @ x / 64, np.diag([1.0, 2.0]), atol=1e-5)
    True
    """
    lam, rho = _check_lam_rho(lam, rho)
    d = lam.size
    _check_num_samples(num_samples, 3 * d)
    rng = np.random.default_rng(seed)
    latents = _whiten(rng.standard_normal((num_samples, 3 * d)))
    z, noise_x, noise_y = np.split(latents, 3, axis=1)
    sigma2 = lam / rho
    two_view = rho <= 1.0
    signal_var = np.where(two_view, lam, sigma2)
    noise_var = np.where(two_view, sigma2 - lam, 0.0)
    x = np.sqrt(signal_var) * z + np.sqrt(noise_var) * noise_x
    # rho > 1 cannot come from a shared signal plus independent noises (E[y x] > E[x x]);
    # a scaled copy of x plus independent noise of variance E[x x] realises it exactly.
    y = np.where(
        two_view,
        np.sqrt(signal_var) * z + np.sqrt(noise_var) * noise_y,
        rho * x + np.sqrt(sigma2) * noise_y,
    )
    return x.astype(dtype), y.astype(dtype)


def make_temporal_data(lam, rho, num_samples, seed=None, dtype="float32"):
    """Consecutive states ``(s_t, s_{t+1})`` of per-feature AR(1) processes, exact moments.

    Each feature follows ``s_{t+1} = rho * s_t + sqrt(v (1 - rho**2)) * noise_t`` with
    stationary variance ``v = lam / rho``, so ``E[x x] = v``, ``E[y x] = rho v = lam``,
    ``E[y y] = v``. One trajectory of ``num_samples + 1`` states is drawn from the stationary
    distribution; its states and innovations are then whitened jointly so that the sample
    moments are exact. The whitening is a small linear correction, so ``y[k]`` and
    ``x[k + 1]`` agree only approximately (to ``O(1/sqrt(n))``).

    Args:
        lam: ``E[x_i y_i]`` of each feature, > 0. Scalar or 1-D.
        rho: autocorrelation of each feature, in (0, 1). Scalar or 1-D.
        num_samples: number of pairs ``n``; at least ``2 d + 1``.
        seed: seed of the numpy generator.
        dtype: dtype of the returned arrays.

    Returns:
        ``(x, y)``, two arrays ``[num_samples, d]`` with zero sample means,
        ``xᵀx / n = yᵀy / n = diag(lam / rho)`` and ``yᵀx / n = diag(lam)``.

    Example:

    >>> x, y = keras_jepa.theory.make_temporal_data(
    ...     lam=0.9, rho=[0.9, 0.3], num_samples=1000, seed=0)
    >>> x.shape
    (1000, 2)
    """
    lam, rho = _check_lam_rho(lam, rho)
    if np.any(rho >= 1.0):
        raise ValueError(
            "`rho` is the autocorrelation of a stationary process and must lie strictly "
            f"between 0 and 1, got {rho!r}."
        )
    d = lam.size
    _check_num_samples(num_samples, 2 * d)
    rng = np.random.default_rng(seed)
    innovations = rng.standard_normal((num_samples, d))
    states = np.empty((num_samples + 1, d))
    states[0] = rng.standard_normal(d)
    keep = np.sqrt(1.0 - rho**2)
    for step in range(num_samples):
        states[step + 1] = rho * states[step] + keep * innovations[step]
    # The state and the next innovation are independent in the population; making them
    # exactly white in the sample fixes every second moment of (x, y).
    white = _whiten(np.concatenate([states[:-1], innovations], axis=1))
    state, innovation = np.split(white, 2, axis=1)
    scale = np.sqrt(lam / rho)
    x = scale * state
    y = scale * (rho * state + keep * innovation)
    return x.astype(dtype), y.astype(dtype)


def estimate_lam_rho(x, y):
    """Per-feature ``(lam, rho)`` of a sample: ``lam = mean(x * y)``, ``rho = lam / mean(x**2)``.

    Args:
        x: context views, ``[n, d]``.
        y: target views, ``[n, d]``.

    Returns:
        ``(lam, rho)``, two float64 arrays ``[d]``.

    Example:

    >>> x, y = keras_jepa.theory.make_two_view_data(1.0, 0.5, num_samples=16, seed=0)
    >>> lam, rho = keras_jepa.theory.estimate_lam_rho(x, y)
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or x.shape != y.shape:
        raise ValueError(
            f"`x` and `y` must be 2-D arrays of the same shape, got {x.shape} and {y.shape}."
        )
    lam = np.mean(x * y, axis=0)
    return lam, lam / np.mean(x * x, axis=0)
