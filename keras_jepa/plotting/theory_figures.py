"""Matplotlib figures for keras_jepa.theory: learning curves, response heat maps, scalings.

The drawing conventions of the paper's Figure 2: responses normalised by their own
asymptote, against log paper time, one curve per feature, darker for a larger parameter;
trained networks as markers on top of the ODE lines. Every function draws into a given
``matplotlib`` axis and returns it, so the recipes compose them into panels.
"""

import matplotlib
import numpy as np
from matplotlib import colors as mcolors


def feature_colors(values, cmap="Blues", low=0.35, high=1.0):
    """One colour per feature, darker for a larger ``values`` entry.

    Args:
        values: the parameter that orders the features (e.g. ``lam`` or ``rho``), ``[d]``.
        cmap: a matplotlib colormap name.
        low, high: the range of the colormap used (light to dark).

    Returns:
        A list of ``d`` RGBA tuples.
    """
    values = np.asarray(values, dtype=np.float64)
    span = values.max() - values.min()
    ranks = np.zeros_like(values) if span == 0 else (values - values.min()) / span
    colormap = matplotlib.colormaps[cmap]
    return [colormap(low + (high - low) * r) for r in ranks]


def plot_learning_curves(
    ax,
    t,
    responses,
    asymptotes,
    colors,
    labels=None,
    fit_t=None,
    fit_responses=None,
    title=None,
    marker_every=1,
):
    """Normalised responses ``w̄_i(t) / w̄_i(∞)`` against log paper time.

    Args:
        ax: a matplotlib axis.
        t: paper times of the ODE solution, ``[n]`` (> 0 for the log axis).
        responses: ODE responses ``[n, d]`` (from `keras_jepa.theory.simulate`).
        asymptotes: ``[d]`` (from `keras_jepa.theory.fixed_point`).
        colors: ``d`` colours (see `feature_colors`).
        labels: ``d`` legend labels, or ``None``.
        fit_t, fit_responses: optional trained-network records (paper time ``[m]``,
            responses ``[m, d]``), drawn as markers.
        title: axis title.
        marker_every: draw every k-th record of the trained network.

    Returns:
        ``ax``.
    """
    asymptotes = np.broadcast_to(np.asarray(asymptotes, np.float64), responses.shape[1:])
    for i in range(responses.shape[1]):
        ax.plot(t, responses[:, i] / asymptotes[i], color=colors[i], lw=2,
                label=None if labels is None else labels[i])
        if fit_t is not None:
            keep = fit_t > 0
            ax.plot(fit_t[keep][::marker_every],
                    fit_responses[keep, i][::marker_every] / asymptotes[i],
                    ls="none", marker="o", ms=3, mfc="none", color=colors[i], alpha=0.8)
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.08)
    ax.axhline(0.5, color="0.7", lw=0.8, ls=":")
    ax.set_xlabel("paper time t")
    ax.set_ylabel("w̄(t) / w̄(∞)")
    if title:
        ax.set_title(title, fontsize=10)
    if labels is not None:
        ax.legend(fontsize=7, loc="upper left", frameon=False)
    return ax


def progress(responses):
    """Each feature's response mapped from its first (0) to its last (1) record, ``[m, d]``."""
    responses = np.asarray(responses, np.float64)
    span = responses[-1] - responses[0]
    span = np.where(np.abs(span) < 1e-12, 1.0, span)
    return (responses - responses[0]) / span


def plot_response_heatmap(ax, steps, responses, title=None, normalize="final",
                          cmap="viridis"):
    """Per-feature response over training as an image: x = feature, y = iteration.

    Args:
        ax: a matplotlib axis.
        steps: record steps ``[m]``.
        responses: ``[m, d]`` (e.g. `keras_jepa.theory.ResponseHistory.responses`).
        title: axis title.
        normalize: ``"final"`` divides each feature by its last value (so every column
            ends at 1 and the colour shows *when* it is learned); ``"progress"`` maps each
            feature from its first to its last value onto 0 … 1 (the same, but a response
            that starts well above zero still starts dark); ``None`` keeps raw values.
        cmap: a matplotlib colormap name.

    Returns:
        The ``AxesImage``.
    """
    data = np.asarray(responses, np.float64)
    if normalize == "final":
        data = data / np.maximum(np.abs(data[-1]), 1e-12)
    elif normalize == "progress":
        data = progress(data)
    elif normalize is not None:
        raise ValueError(
            f"`normalize` must be 'final', 'progress' or None, got {normalize!r}."
        )
    image = ax.imshow(
        data,
        aspect="auto",
        origin="lower",
        cmap=cmap,
        norm=mcolors.Normalize(vmin=0.0, vmax=1.0) if normalize else None,
        extent=(-0.5, data.shape[1] - 0.5, steps[0], steps[-1]),
        interpolation="nearest",
    )
    ax.set_xlabel("feature index")
    ax.set_ylabel("iteration")
    if title:
        ax.set_title(title, fontsize=10)
    return image


def plot_critical_time_scaling(ax, eps, exact, leading=None, measured_eps=None,
                               measured=None, color="C0", label=None, slope=None):
    """Critical time against ``eps`` on log-log axes, exact curve and leading sum.

    Args:
        ax: a matplotlib axis.
        eps: initial responses ``[n]``.
        exact: `keras_jepa.theory.critical_time` at ``eps``, ``[n]``.
        leading: `keras_jepa.theory.critical_time_leading` at ``eps`` (dashed), or None.
        measured_eps, measured: critical times measured from trained networks (markers).
        color: line colour.
        label: legend label of the exact curve.
        slope: the predicted exponent, added to the label.

    Returns:
        ``ax``.
    """
    if slope is not None:
        label = f"{label} (slope {slope:+.2f})"
    ax.loglog(eps, exact, color=color, lw=2, label=label)
    if leading is not None:
        ax.loglog(eps, leading, color=color, lw=1, ls="--")
    if measured is not None:
        ax.loglog(measured_eps, measured, ls="none", marker="o", mfc="none", color=color)
    ax.set_xlabel("ε  (initial response w̄(0))")
    ax.set_ylabel("critical time t*")
    return ax
