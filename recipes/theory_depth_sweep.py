"""Depth sweep: where deep JEPA's learning order inverts, and how critical times scale in eps.

Part 1 (ODE, exact critical times): five features whose lam rises (1 → 1.5) while their
rho falls (1 → 0.5), eps = 1e-3 fixed, depth L = 1 … 8 (the deepest depth with
``eps**(1/L) < p**(1/L) * rho_min``). MAE learns high-lam first at every depth; JEPA's
order is measured by Kendall's tau between ``t*`` and ``lam`` (−1: greedy in lam, +1: fully
inverted, greedy in rho).

Part 2 (eps-scaling, docs/theory.md, 'Critical times'): exact ``t*`` (`critical_time`)
against eps on log-log axes for L = 1 … 4, with the leading Laurent sum
(`critical_time_leading`, dashed) and the predicted slopes −(2L−1)/L (JEPA) and −(L−1)/L
(MAE, L ≥ 2). Circles: ``t*`` measured on deep linear networks trained with ``fit``
(full-batch SGD) at the larger eps.

Command:   KERAS_BACKEND=jax python recipes/theory_depth_sweep.py [--smoke] [--out DIR]
Hardware:  2 CPU cores, no accelerator.
Runtime:   ~25-30 s with jax (measured); --smoke (no trained networks) ~5 s.
Result:    depth_inversion.png, eps_scaling.png, results.md in
           recipes/outputs/theory/depth_sweep. JEPA is greedy in lam for L ≤ 3, the
           inversion starts at L = 4 (tau −0.6, +0.2 at L = 5) and is complete at L = 8
           (tau +1); MAE
           stays greedy in lam at every depth. Fitted log-log slopes match the predicted
           exponents to < 1%; the trained networks' t* agree with the formula to within ~3%.
"""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from keras_jepa import theory  # noqa: E402
from keras_jepa.plotting import theory_figures  # noqa: E402
from keras_jepa.runner import recipe  # noqa: E402
from keras_jepa.runner.report import markdown_table  # noqa: E402

LAM = np.linspace(1.0, 1.5, 5)
RHO = np.linspace(1.0, 0.5, 5)
EPS = 1e-3
DEPTHS = range(1, 9)
SCALING_DEPTHS = (1, 2, 3, 4)
SCALING_RHO = 0.8
FIT_EPS = (0.1, 0.03, 0.01, 0.003)
# Paper time per SGD step (L * eta * lam). MAE at L = 1 grows exponentially from the
# start, so forward Euler needs a finer step there to stay within ~1% of the flow.
STEP_SIZE = {"jepa": 0.2, "mae": 0.02}


def inversion_sweep():
    rows, jepa_times, taus = [], [], {"jepa": [], "mae": []}
    for depth in DEPTHS:
        times = {o: theory.critical_time(o, LAM, RHO, depth, EPS) for o in ("jepa", "mae")}
        for objective in taus:
            # tau(t*, lam) = -1 when the high-lam feature has the shortest t*.
            taus[objective].append(theory.kendall_tau(times[objective], LAM))
        jepa_times.append(times["jepa"])
        first = {o: int(np.argmin(times[o])) for o in times}
        rows.append([
            depth, f"{taus['jepa'][-1]:+.1f}", f"{taus['mae'][-1]:+.1f}",
            f"λ={LAM[first['jepa']]:g}, ρ={RHO[first['jepa']]:g}",
            f"λ={LAM[first['mae']]:g}, ρ={RHO[first['mae']]:g}",
            f"{times['jepa'].max() / times['jepa'].min():.2f}",
        ])
    return np.array(jepa_times), taus, rows


def measured_time(objective, depth, eps):
    x, y = theory.make_two_view_data(1.0, SCALING_RHO, num_samples=4, seed=0)
    exact = theory.critical_time(objective, 1.0, SCALING_RHO, depth, eps)
    learning_rate = STEP_SIZE[objective] / depth
    steps = int(np.ceil(1.3 * exact / (depth * learning_rate)))
    cls = theory.DeepLinearJEPA if objective == "jepa" else theory.DeepLinearMAE
    model = cls(1, depth, eps)
    history = theory.train_full_batch(
        model, x, y, steps, learning_rate, every=max(1, steps // 2000)
    )
    t = model.paper_time(history.steps, learning_rate)
    asymptote = theory.fixed_point(objective, SCALING_RHO, depth)
    return theory.measured_critical_time(t, history.responses, asymptote)[0], exact


def main():
    args = recipe.parse_args(__doc__, "recipes/outputs/theory/depth_sweep",
                             smoke_help="no trained networks")

    # --- Part 1: order inversion with depth -------------------------------------------
    jepa_times, taus, inversion_rows = inversion_sweep()
    depths = np.array(list(DEPTHS))
    starts = [d for d, tau in zip(depths, taus["jepa"]) if tau > -1]
    complete = [d for d, tau in zip(depths, taus["jepa"]) if tau == 1]

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3), constrained_layout=True)
    colors = theory_figures.feature_colors(LAM, "Greens")
    for i in range(LAM.size):
        axes[0].plot(depths, jepa_times[:, i] / jepa_times.min(axis=1), "o-",
                     color=colors[i], label=f"λ={LAM[i]:g}, ρ={RHO[i]:g}")
    axes[0].set_xlabel("depth L")
    axes[0].set_ylabel("JEPA t* / (fastest t* at that depth)")
    axes[0].set_title(f"JEPA critical times, ε = {EPS:g}", fontsize=10)
    axes[0].legend(fontsize=7, frameon=False)
    axes[1].plot(depths, taus["jepa"], "o-", label="JEPA")
    axes[1].plot(depths, taus["mae"], "s--", label="MAE")
    axes[1].axhline(0, color="0.7", lw=0.8)
    axes[1].set_ylim(-1.1, 1.1)
    axes[1].set_xlabel("depth L")
    axes[1].set_ylabel("Kendall τ(t*, λ)   (−1: high λ first, +1: high ρ first)")
    axes[1].set_title("Learning order against depth", fontsize=10)
    axes[1].legend(frameon=False)
    deepest = depths[-1]
    t_deep = theory.critical_time("jepa", LAM, RHO, deepest, EPS)
    t = np.geomspace(1e-2 * t_deep.min(), 3 * t_deep.max(), 600)
    theory_figures.plot_learning_curves(
        axes[2], t, theory.simulate("jepa", LAM, RHO, deepest, EPS, t),
        theory.fixed_point("jepa", RHO, deepest), colors,
        labels=[f"λ={a:g}, ρ={b:g}" for a, b in zip(LAM, RHO)],
        title=f"JEPA at L = {deepest}: ODE responses",
    )
    fig.savefig(os.path.join(args.out, "depth_inversion.png"), dpi=110)

    # --- Part 2: eps-scaling ----------------------------------------------------------
    eps_grid = np.geomspace(1e-8, 0.1, 60)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), constrained_layout=True)
    slope_rows, fit_rows = [], []
    for panel, objective in enumerate(("jepa", "mae")):
        for k, depth in enumerate(SCALING_DEPTHS):
            predicted = -(2 * depth - 1) / depth if objective == "jepa" else -(depth - 1) / depth
            valid = eps_grid < 0.5 * theory.fixed_point(objective, SCALING_RHO, depth)
            eps = eps_grid[valid]
            exact = theory.critical_time(objective, 1.0, SCALING_RHO, depth, eps)
            leading = theory.critical_time_leading(objective, 1.0, SCALING_RHO, depth, eps)
            small = eps <= 1e-6
            slope = np.polyfit(np.log(eps[small]), np.log(exact[small]), 1)[0]
            measured_eps, measured = [], []
            if not args.smoke:
                for e in FIT_EPS:
                    if e < 0.5 * theory.fixed_point(objective, SCALING_RHO, depth):
                        m, ex = measured_time(objective, depth, e)
                        measured_eps.append(e)
                        measured.append(m)
                        fit_rows.append([objective.upper(), depth, f"{e:g}", f"{ex:.4g}",
                                         f"{m:.4g}", f"{100 * (m / ex - 1):+.2f}"])
            theory_figures.plot_critical_time_scaling(
                axes[panel], eps, exact, leading, measured_eps or None, measured or None,
                color=f"C{k}", label=f"L = {depth}",
                slope=predicted if (objective == "jepa" or depth > 1) else None,
            )
            note = "(log divergence)" if objective == "mae" and depth == 1 else ""
            slope_rows.append([objective.upper(), depth, f"{slope:+.4f}",
                               f"{predicted:+.4f}" + (f" {note}" if note else ""),
                               f"{leading[0] / exact[0]:.4f}"])
        axes[panel].set_title(
            f"{objective.upper()}: t* vs ε (ρ = {SCALING_RHO}, λ = 1); "
            "dashed: leading sum; circles: model.fit", fontsize=10)
        axes[panel].legend(fontsize=8, frameon=False)
    fig.savefig(os.path.join(args.out, "eps_scaling.png"), dpi=110)

    lines = [
        "# Depth sweep (p = 0.5)\n",
        f"## Learning order against depth: λ = {np.round(LAM, 3).tolist()}, "
        f"ρ = {np.round(RHO, 3).tolist()}, ε = {EPS:g}\n",
        markdown_table(["L", "τ JEPA", "τ MAE", "JEPA learns first", "MAE learns first",
                        "JEPA t* spread"], inversion_rows),
        "",
        f"JEPA's order starts to invert at L = {starts[0] if starts else 'none'} and is "
        f"completely inverted (high ρ first) at L = {complete[0] if complete else 'none'}; "
        f"MAE stays greedy in λ at every depth (τ = {min(taus['mae']):+.0f} … "
        f"{max(taus['mae']):+.0f}).\n",
        f"## ε-scaling (λ = 1, ρ = {SCALING_RHO})\n",
        "Log-log slope of the exact t* over ε ∈ [1e-8, 1e-6] against the prediction, and "
        "leading Laurent sum / exact t* at ε = 1e-8:\n",
        markdown_table(["objective", "L", "fitted slope", "predicted", "leading / exact"],
                       slope_rows),
        "",
    ]
    if fit_rows:
        errors = [abs(float(r[5])) for r in fit_rows]
        lines += [
            "Critical times of deep linear networks trained with `fit` "
            f"(full-batch SGD, L·η·λ = {STEP_SIZE['jepa']} for JEPA, "
            f"{STEP_SIZE['mae']} for MAE):\n",
            markdown_table(["objective", "L", "ε", "t* exact", "t* fit", "error %"], fit_rows),
            "",
            f"Largest |error|: {max(errors):.2f}% over {len(errors)} runs.\n",
        ]
    recipe.write_results(args, lines)


if __name__ == "__main__":
    main()
