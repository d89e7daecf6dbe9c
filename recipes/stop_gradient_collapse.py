"""Without its stop-gradient target, JEPA collapses: deep linear theory and a micro ViT.

Part (a), deep linear JEPA (the setting of docs/theory.md: L = 2, eps = 0.05, lam = 1,
rho = 0.5 / 0.75 / 1.0, aligned balanced init, full-batch SGD with ``fit``). With the
stop-gradient target the responses ``w̄_i`` rise to ``rho_i**L`` (the ODE of docs/theory.md,
'Per-feature ODEs'); with the gradient flowing through the target as well they only shrink,
following ``dw̄/dt = −E[(v x − y)²] w̄**(3 − 2/L)``
(`keras_jepa.theory.simulate_no_stop_gradient`, derivation in
`keras_jepa/theory/no_stop_gradient.py`): the loss ``½‖V W̄ x − W̄ y‖²`` has its global
minimum at ``W̄ = 0`` and, since ``E[(v x − y)²] ≥ 0``, no response can ever grow. Lines:
ODEs; markers: trained networks.

Part (b), I-JEPA on the bundled digits (the quickstart's micro ViT config,
`keras_jepa.experiment.digits_micro_config`), three target modes of `IJEPA(target_mode=...)`:
"ema" (I-JEPA: EMA target behind a stop-gradient), "no_stop_gradient" (the context
encoder's own tokens as target, gradient through both branches) and
"context_stop_gradient" (the context encoder's tokens behind a stop-gradient, no EMA).
Every few epochs: the RankMe of the pooled target-encoder features of the test images
(`keras_jepa.evaluation.monitors.effective_rank`) and a linear probe on them
(`keras_jepa.evaluation.linear_probe.linear_probe`); the epoch loss and the in-step
monitors come from `fit`, and `keras_jepa.evaluation.monitors.CollapseMonitor` reports
whether it flags the run.

Command:   KERAS_BACKEND=jax python recipes/stop_gradient_collapse.py [--smoke] [--out DIR]
           (--smoke: 100 deep-linear steps and 2 I-JEPA steps of the no_stop_gradient mode
           only; wiring, not results)
Hardware:  2 CPU cores, no accelerator.
Runtime:   3.6 min (jax, 2 CPU cores, nothing else running: 211 s wall, 351 s CPU);
           the deep linear part takes ~1 s. --smoke: ~30 s.
Result:    deep_linear.png, ijepa_modes.png and results.md in
           recipes/outputs/stop_gradient_collapse. (a) The trained networks sit on the
           ODE lines: with stop-gradient every w̄_i reaches rho_i**2; without it every
           w̄_i decays from 0.05 to 0.002-0.006 after 1240 steps (|fit − ODE| ≤ 1.2e-4),
           the rho = 1 feature included (its kappa is 0, but v(0) = eps**(1/2) < rho/2).
           (b) no_stop_gradient collapses: the loss falls to 5e-4 (vs 0.06 with EMA),
           the RankMe of the test features falls from 3.4 to 1.5 (EMA: rises to 4.8) and
           the probe drops from 0.69 (untrained) to 0.60 (EMA: 0.76).
           context_stop_gradient (no EMA) does not collapse at this scale (RankMe 3.9,
           probe 0.75). `CollapseMonitor` with its defaults flags the no_stop_gradient run (from
           epoch 2, by its feature_spread rule) and neither of the other two.
"""

import argparse
import os
import time
import warnings

import matplotlib

matplotlib.use("Agg")
import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from keras_jepa import experiment  # noqa: E402
from keras_jepa import theory  # noqa: E402
from keras_jepa.evaluation.linear_probe import linear_probe  # noqa: E402
from keras_jepa.evaluation.monitors import CollapseMonitor  # noqa: E402
from keras_jepa.evaluation.monitors import effective_rank  # noqa: E402
from keras_jepa.runner.report import markdown_table  # noqa: E402

LAM = np.ones(3)
RHO = np.array([0.5, 0.75, 1.0])
DEPTH, EPS, LEARNING_RATE = 2, 0.05, 0.1
MODES = ("ema", "no_stop_gradient", "context_stop_gradient")
LABELS = {
    "ema": "EMA + stop-gradient (I-JEPA)",
    "no_stop_gradient": "no stop-gradient, no EMA",
    "context_stop_gradient": "stop-gradient, no EMA",
}
COLORS = {"ema": "tab:blue", "no_stop_gradient": "tab:red",
          "context_stop_gradient": "tab:green"}


# === (a) Deep linear JEPA ===


def deep_linear_part(smoke):
    """Trains DeepLinearJEPA with and without stop-gradient; returns the curves."""
    t_star = theory.critical_time("jepa", LAM, RHO, DEPTH, EPS)
    t_end = 2.5 * float(np.max(t_star))
    steps = int(np.ceil(t_end / (DEPTH * LEARNING_RATE)))
    if smoke:
        steps = 100
    every = max(1, steps // 40)
    x, y = theory.make_two_view_data(LAM, RHO, num_samples=16, seed=0)
    runs = {}
    for target in ("stop_gradient", "no_stop_gradient"):
        model = theory.DeepLinearJEPA(dim=3, depth=DEPTH, eps=EPS, target=target)
        history = theory.train_full_batch(model, x, y, steps, LEARNING_RATE, every=every)
        t_fit = model.paper_time(np.asarray(history.steps), LEARNING_RATE)
        runs[target] = {"t_fit": t_fit, "fit": np.asarray(history.responses)}
    t_ode = np.geomspace(0.05, DEPTH * LEARNING_RATE * steps, 300)
    runs["stop_gradient"]["ode"] = theory.simulate("jepa", LAM, RHO, DEPTH, EPS, t_ode)
    runs["no_stop_gradient"]["ode"] = theory.simulate_no_stop_gradient(
        LAM, RHO, DEPTH, EPS, t_ode)[0]
    for run in runs.values():
        run["t_ode"] = t_ode
    # The ODEs at the trained networks' recorded times, for the agreement numbers.
    runs["stop_gradient"]["ode_at_fit"] = theory.simulate(
        "jepa", LAM, RHO, DEPTH, EPS, runs["stop_gradient"]["t_fit"])
    runs["no_stop_gradient"]["ode_at_fit"] = theory.simulate_no_stop_gradient(
        LAM, RHO, DEPTH, EPS, runs["no_stop_gradient"]["t_fit"])[0]
    return runs, steps, t_star


def plot_deep_linear(runs, path):
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    shades = plt.cm.viridis(np.linspace(0.15, 0.85, len(RHO)))
    titles = {"stop_gradient": "with stop-gradient: ½‖V W̄x − sg(W̄y)‖²",
              "no_stop_gradient": "without stop-gradient: ½‖V W̄x − W̄y‖²"}
    for ax, (target, run) in zip(axes, runs.items()):
        for i, rho in enumerate(RHO):
            ax.plot(run["t_ode"], run["ode"][:, i], color=shades[i],
                    label=f"ODE, ρ = {rho:g}")
            keep = run["t_fit"] > 0
            ax.plot(run["t_fit"][keep][::2], run["fit"][keep, i][::2], "o", ms=3.5,
                    mfc="none", color=shades[i])
            if target == "stop_gradient":
                ax.axhline(rho**DEPTH, color=shades[i], ls=":", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("paper time  L·η·step")
        ax.set_title(titles[target], fontsize=9.5)
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("encoder response w̄ᵢ = diag(W_L⋯W_1)")
    axes[0].legend(fontsize=8, title="lines: ODE, circles: fit", title_fontsize=8)
    fig.suptitle(f"Deep linear JEPA, L = {DEPTH}, ε = {EPS}, λ = 1 "
                 "(dotted: fixed points ρ^L)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


# === (b) I-JEPA target modes on the digits ===


class FeatureProbe(keras.callbacks.Callback):
    """RankMe and linear-probe accuracy of the pooled target features every few epochs."""

    def __init__(self, train, test, every, probe_epochs, at_start=True):
        super().__init__()
        self.train, self.test = train, test
        self.every, self.probe_epochs, self.at_start = every, probe_epochs, at_start
        self.rows = []

    def measure(self, epoch):
        train_features = self.model.encode(self.train[0])
        test_features = self.model.encode(self.test[0])
        result = linear_probe(train_features, self.train[1], test_features, self.test[1],
                              epochs=self.probe_epochs, seed=0)
        self.rows.append({"epoch": epoch, "rankme": effective_rank(test_features),
                          "probe_accuracy": float(result.accuracy)})

    def on_train_begin(self, logs=None):
        if self.at_start:
            self.measure(0)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            self.measure(epoch + 1)


def ijepa_part(smoke, epochs, every, probe_epochs, modes):
    config = experiment.digits_micro_config(smoke=smoke)
    config["epochs"] = epochs
    if smoke:
        # One probe batch shape, so that feature extraction compiles once.
        config["steps_per_epoch"] = 2
        config["eval"] = {"probe_train_examples": 256, "probe_test_examples": 256}
    train = experiment.load_probe_arrays(config, "train")
    test = experiment.load_probe_arrays(config, "test")
    runs = {}
    for mode in modes:
        keras.utils.set_random_seed(config["seed"])
        config["ijepa"] = {**config.get("ijepa", {}), "target_mode": mode}
        dataset, steps_per_epoch, _ = experiment.make_training_dataset(config, "ijepa")
        total_steps = steps_per_epoch * epochs
        model = experiment.build_model(config, "ijepa", total_steps)
        model.compile(optimizer=experiment.build_optimizer(config, total_steps))
        probe = FeatureProbe(train, test, every, probe_epochs, at_start=not smoke)
        monitor = CollapseMonitor()
        start, cpu = time.perf_counter(), time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the monitor's own warning
            history = model.fit(dataset, epochs=epochs, verbose=0,
                                callbacks=[probe, monitor]).history
        seconds = time.perf_counter() - start
        runs[mode] = {"history": history, "probes": probe.rows, "seconds": seconds,
                      "cpu_seconds": time.process_time() - cpu,
                      "collapsed": monitor.collapsed,
                      "collapsed_epoch": monitor.collapsed_epoch,
                      "width": model.context_encoder.hidden_dim}
        print(f"{mode}: {seconds:.1f} s, loss {history['loss'][0]:.4f} → "
              f"{history['loss'][-1]:.4f}, probes {probe.rows}, "
              f"CollapseMonitor collapsed={monitor.collapsed}")
    return runs, config, steps_per_epoch


def plot_ijepa(runs, path):
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for mode, run in runs.items():
        loss = run["history"]["loss"]
        axes[0].plot(np.arange(1, len(loss) + 1), loss, color=COLORS[mode],
                     label=LABELS[mode])
        epochs = [row["epoch"] for row in run["probes"]]
        axes[1].plot(epochs, [row["rankme"] for row in run["probes"]], "o-",
                     color=COLORS[mode])
        axes[2].plot(epochs, [row["probe_accuracy"] for row in run["probes"]], "o-",
                     color=COLORS[mode])
    axes[0].set_yscale("log")
    axes[0].set_ylabel("training loss (smooth L1)")
    axes[1].set_ylabel("RankMe of pooled target features (test)")
    axes[2].set_ylabel("linear-probe test accuracy")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("I-JEPA, micro ViT on the digits: target modes", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


# === Report ===


def write_results(path, deep, ijepa, timings, args):
    runs, steps, t_star = deep
    lines = [
        "# Stop-gradient ablation: results",
        "",
        f"Backend {keras.backend.backend()}, {'smoke run' if args.smoke else 'full run'}; "
        f"written by `recipes/stop_gradient_collapse.py`. Wall-clock: deep linear part "
        f"{timings['deep']:.0f} s, I-JEPA part {timings['ijepa']:.0f} s, total "
        f"{timings['total']:.0f} s; CPU time of the process {timings['cpu']:.0f} s "
        "(2 CPU cores).",
        "",
        f"## (a) Deep linear JEPA (L = {DEPTH}, ε = {EPS}, λ = 1, full-batch SGD η = "
        f"{LEARNING_RATE}, {steps} steps)",
        "",
    ]
    sg, nsg = runs["stop_gradient"], runs["no_stop_gradient"]
    lines.append(markdown_table(
        ["ρ", "fixed point ρ^L", "t* (ODE)", "w̄ end, stop-gradient (fit / ODE)",
         "w̄ end, no stop-gradient (fit / ODE)"],
        [[f"{rho:g}", f"{rho**DEPTH:.4f}", f"{t_star[i]:.1f}",
          f"{sg['fit'][-1, i]:.4f} / {sg['ode_at_fit'][-1, i]:.4f}",
          f"{nsg['fit'][-1, i]:.5f} / {nsg['ode_at_fit'][-1, i]:.5f}"]
         for i, rho in enumerate(RHO)]))
    error = {k: float(np.max(np.abs(r["fit"] - r["ode_at_fit"]))) for k, r in runs.items()}
    lines += [
        "",
        f"Largest |fit − ODE| over the run: {error['stop_gradient']:.2e} (stop-gradient), "
        f"{error['no_stop_gradient']:.2e} (no stop-gradient), starting from ε = {EPS}.",
        "",
    ]
    ijepa_runs, config, steps_per_epoch = ijepa
    lines += [
        f"## (b) I-JEPA on the digits ({config['epochs']} epochs × {steps_per_epoch} steps, "
        f"batch {config['batch_size']}, encoder width {next(iter(ijepa_runs.values()))['width']})",
        "",
    ]
    probe_rows = []
    for mode, run in ijepa_runs.items():
        loss = run["history"]["loss"]
        for row in run["probes"]:
            epoch_loss = "—" if row["epoch"] == 0 else f"{loss[row['epoch'] - 1]:.4g}"
            probe_rows.append([mode, row["epoch"], epoch_loss, f"{row['rankme']:.2f}",
                               f"{row['probe_accuracy']:.3f}"])
    lines.append(markdown_table(["target mode", "epoch", "loss", "RankMe (test features)",
                                 "linear probe acc."], probe_rows))
    monitor_rows = []
    for mode, run in ijepa_runs.items():
        rankme = run["history"].get("rankme", [float("nan")])[-1]
        flag = (f"collapsed from epoch {run['collapsed_epoch']}" if run["collapsed"]
                else "not flagged")
        monitor_rows.append([mode, f"{run['seconds']:.0f} ({run['cpu_seconds']:.0f})",
                             f"{rankme:.2f}", flag])
    lines += ["", markdown_table(["target mode", "wall s (CPU s), probes included",
                                  "in-step rankme (last epoch)", "CollapseMonitor"],
                                 monitor_rows)]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true",
                        help="a few steps of everything (wiring, not results)")
    parser.add_argument("--epochs", type=int, default=12, help="I-JEPA epochs per mode")
    parser.add_argument("--every", type=int, default=3, help="probe every this many epochs")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=None,
                        help="I-JEPA target modes to train (default: all three; with "
                             "--smoke only no_stop_gradient, as each compiles its own step)")
    parser.add_argument("--out", default=None,
                        help="output folder (default recipes/outputs/stop_gradient_collapse; "
                             "with --smoke runs/stop_gradient_collapse_smoke)")
    args = parser.parse_args()
    epochs, every, probe_epochs = args.epochs, args.every, 30
    modes = args.modes or MODES
    if args.smoke:
        epochs, every, probe_epochs = 1, 1, 1
        modes = args.modes or ("no_stop_gradient",)
    if args.out is None:
        args.out = (os.path.join("runs", "stop_gradient_collapse_smoke") if args.smoke else
                    os.path.join("recipes", "outputs", "stop_gradient_collapse"))
    os.makedirs(args.out, exist_ok=True)
    start, cpu = time.perf_counter(), time.process_time()
    deep = deep_linear_part(args.smoke)
    deep_seconds = time.perf_counter() - start
    plot_deep_linear(deep[0], os.path.join(args.out, "deep_linear.png"))
    ijepa = ijepa_part(args.smoke, epochs, every, probe_epochs, modes)
    total = time.perf_counter() - start
    plot_ijepa(ijepa[0], os.path.join(args.out, "ijepa_modes.png"))
    timings = {"deep": deep_seconds, "ijepa": total - deep_seconds, "total": total,
               "cpu": time.process_time() - cpu}
    write_results(os.path.join(args.out, "results.md"), deep, ijepa, timings, args)
    print(f"wrote {args.out} in {total:.0f} s")


if __name__ == "__main__":
    main()
