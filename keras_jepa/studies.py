"""Comparisons of JEPA and MAE on one encoder and budget, run through the experiment runner.

Three studies, each a function that trains, probes and writes a folder with a markdown
table (`results.md`), the numbers (`results.json`) and a figure:

- `compare_methods`: I-JEPA and MAE from one config, the probe accuracy at checkpoints
  over training (the I-JEPA paper's "JEPA learns semantic features faster", scaled down).
- `noisy_feature_sweep`: the same pair pretrained on images with a loud but weakly
  predictable distractor (`keras_jepa.data.distractors`) at several strengths; the
  theory expects JEPA's probe to degrade less than MAE's.
- `mask_ablation`: I-JEPA with the paper's ablated masking strategies (multi-block,
  rasterized, block, random) and MAE's pixel targets, one row each.

The recipes `recipes/compare_jepa_mae.py`, `recipes/noisy_digits.py` and
`recipes/mask_ablation.py` call these through `run_recipe`, their shared command line.
"""

import copy
import os
import time

import keras

from keras_jepa import experiment
from keras_jepa.runner import recipe
from keras_jepa.runner.report import markdown_table

METHOD_LABELS = {"ijepa": "I-JEPA", "mae": "MAE"}


def _probe_data(config):
    return (experiment.load_probe_arrays(config, "train"),
            experiment.load_probe_arrays(config, "test"))


def _pixel_accuracy(probe_data):
    (train_images, train_labels), (test_images, test_labels) = probe_data
    return experiment.probe_accuracy(experiment.pixel_features, (train_images, train_labels),
                                     (test_images, test_labels))


def probe_curve(config, method, out, probe_every=2, probe_method="linear", probe_data=None,
                verbose=0):
    """Pretrains `method` and probes its encoder at epoch 0 and every `probe_every` epochs.

    The epoch-0 point is the untrained encoder of the same seed (the weights training
    starts from). The probe is `keras_jepa.evaluation.ProbeCallback` (linear by default).

    Args:
        config: a config dict (see `keras_jepa.experiment.load_config`).
        method: "ijepa" or "mae".
        out: run folder (see `keras_jepa.experiment.train`).
        probe_every: epochs between probes.
        probe_method: "linear" or "knn".
        probe_data: optional `(train, test)` image/label pairs (loaded once for many runs).
        verbose: `fit`'s verbosity.

    Returns:
        Dict with `epochs`, `accuracy` (same length), and `results` (the run's results).

    Example:
    curve = keras_jepa.studies.probe_curve(
        keras_jepa.experiment.digits_micro_config(smoke=True), "mae", "runs/mae_curve",
        probe_every=1)
    """
    from keras_jepa.evaluation import ProbeCallback

    probe_data = probe_data or _probe_data(config)
    (train_images, train_labels), (test_images, test_labels) = probe_data
    probe = ProbeCallback(train_images, train_labels, test_images, test_labels,
                          every=probe_every, method=probe_method)
    keras.utils.set_random_seed(config["seed"])
    start = probe.probe(experiment.build_model(config, method, total_steps=1))
    model, results = experiment.train(config, method, out, verbose=verbose,
                                      probe_data=probe_data, callbacks=[probe])
    probed = sorted(probe.results)
    return {"epochs": [0] + [epoch + 1 for epoch in probed],
            "accuracy": [start] + [probe.results[epoch] for epoch in probed],
            "results": results, "model": model}


def feature_figures(models, config, images, out):
    """Pictures of what trained encoders learned, written to `out`.

    `pca_<method>.png`: each encoder's patch features as RGB (the first three principal
    components over the images' patches); `prediction_errors.png`: I-JEPA's per-patch
    prediction error under the config's masks.

    Args:
        models: dict method → trained `IJEPA` / `MAE`.
        config: the config the models were trained with.
        images: a few test images `[n, H, W, C]`.
        out: output folder.

    Example:
    keras_jepa.studies.feature_figures({"ijepa": model}, config, test_images[:6], "runs/x")
    """
    from keras_jepa.plotting.evaluation_figures import plot_feature_pca
    from keras_jepa.plotting.evaluation_figures import plot_prediction_error_maps

    for method, model in models.items():
        plot_feature_pca(model, images, title=f"{METHOD_LABELS.get(method, method)}: patch "
                         "features, first 3 principal components as RGB",
                         path=os.path.join(out, f"pca_{method}.png"))
        if method == "ijepa":
            masks = experiment.make_mask_generator(config).sample(len(images), seed=0)
            plot_prediction_error_maps(model, images, masks,
                                       title="I-JEPA per-patch prediction error",
                                       path=os.path.join(out, "prediction_errors.png"))


def compare_methods(config, out, probe_every=2, probe_method="linear", verbose=0):
    """I-JEPA against MAE on one encoder and budget: probe accuracy over training.

    Writes `probe_curves.png`, `results.md`, `results.json` and the `feature_figures`
    in `out`, and one run folder per method.

    Args:
        config: a config dict.
        out: output folder.
        probe_every: epochs between probes.
        probe_method: "linear" or "knn".
        verbose: `fit`'s verbosity.

    Returns:
        Dict with `curves` (method → curve dict), `pixels` (probe on raw pixels) and
        `table` (markdown).

    Example:
    summary = keras_jepa.studies.compare_methods(
        keras_jepa.experiment.digits_micro_config(smoke=True), "runs/compare")
    """
    from keras_jepa.plotting.evaluation_figures import plot_probe_curves

    os.makedirs(out, exist_ok=True)
    probe_data = _probe_data(config)
    pixels = _pixel_accuracy(probe_data)
    curves = {}
    for method in experiment.METHODS:
        curves[method] = probe_curve(config, method, os.path.join(out, method), probe_every,
                                     probe_method, probe_data, verbose)
    plot_probe_curves(
        {METHOD_LABELS[m]: (c["epochs"], c["accuracy"]) for m, c in curves.items()},
        baselines={"raw pixels": pixels},
        title=f"{config['name']}: {probe_method} probe during pretraining "
              f"({keras.backend.backend()})",
        path=os.path.join(out, "probe_curves.png"))
    feature_figures({m: c.pop("model") for m, c in curves.items()}, config,
                    probe_data[1][0][:6], out)
    epochs = curves["ijepa"]["epochs"]
    lines = [markdown_table(
        ["epoch", *(METHOD_LABELS[m] for m in curves)],
        [[epoch, *(f"{c['accuracy'][index]:.3f}" for c in curves.values())]
         for index, epoch in enumerate(epochs)])]
    lines.append("")
    lines.append(f"Raw-pixel {probe_method} probe: {pixels:.3f}. Final runs:")
    lines.append("")
    lines.append(experiment.comparison_table([
        {"name": METHOD_LABELS[m], **{k: v for k, v in c["results"].items() if k != "history"}}
        for m, c in curves.items()]))
    table = "\n".join(lines)
    _write(out, table, {"pixels": pixels, "probe_method": probe_method,
                        "curves": {m: {k: v for k, v in c.items() if k != "results"}
                                   for m, c in curves.items()},
                        "runs": {m: c["results"] for m, c in curves.items()}})
    return {"curves": curves, "pixels": pixels, "table": table}


def noisy_feature_sweep(config, out, strengths=(0.0, 0.5, 1.0, 2.0), predictability=0.2,
                        verbose=0):
    """Probe accuracy of I-JEPA and MAE against the strength of a noisy distractor.

    At each strength the config's images (train and probe) get
    `keras_jepa.data.add_patch_distractor(images, patch_size, strength, predictability)`;
    both methods pretrain from scratch and are probed on the distracted images. The raw
    pixels' probe is the reference line. Random crops are turned off at every strength
    (resizing a crop would blur the pixel-level distractor and change its λ and ρ).

    Args:
        config: a config dict on the digits or synthetic data.
        out: output folder (`noisy_features.png`, `results.md`, `results.json`).
        strengths: distractor standard deviations per pixel.
        predictability: ρ of the distractor between two patches.
        verbose: `fit`'s verbosity.

    Returns:
        Dict with `rows` (one per strength) and `table` (markdown).

    Example:
    summary = keras_jepa.studies.noisy_feature_sweep(
        keras_jepa.experiment.digits_micro_config(smoke=True), "runs/noisy",
        strengths=(0.0, 1.0))
    """
    from keras_jepa.plotting.evaluation_figures import plot_probe_curves

    os.makedirs(out, exist_ok=True)
    rows = []
    for strength in strengths:
        run_config = copy.deepcopy(config)
        run_config["data"]["distractor"] = {"strength": float(strength),
                                            "predictability": float(predictability)}
        run_config["data"]["crop_scale"] = None
        probe_data = _probe_data(run_config)
        row = {"strength": float(strength), "pixels": _pixel_accuracy(probe_data)}
        for method in experiment.METHODS:
            _, results = experiment.train(
                run_config, method, os.path.join(out, f"{method}_strength_{strength:g}"),
                verbose=verbose, probe_data=probe_data)
            row[method] = results["probe_accuracy"]
            row[f"{method}_rank"] = results["effective_rank"]
        rows.append(row)
        print(f"distractor strength {strength:g}: " + ", ".join(
            f"{name} {row[key]:.3f}" for key, name in
            (("pixels", "pixels"), ("ijepa", "I-JEPA"), ("mae", "MAE"))))
    x = [row["strength"] for row in rows]
    plot_probe_curves({"I-JEPA": (x, [r["ijepa"] for r in rows]),
                       "MAE": (x, [r["mae"] for r in rows]),
                       "raw pixels": (x, [r["pixels"] for r in rows])},
                      xlabel="distractor strength (std per pixel)",
                      title=f"{config['name']}: noisy distractor, ρ = {predictability:g} "
                            f"({keras.backend.backend()})",
                      path=os.path.join(out, "noisy_features.png"))
    table = markdown_table(
        ["strength", "raw pixels", "I-JEPA", "MAE", "I-JEPA RankMe", "MAE RankMe"],
        [[f"{r['strength']:g}", f"{r['pixels']:.3f}", f"{r['ijepa']:.3f}", f"{r['mae']:.3f}",
          f"{r['ijepa_rank']:.1f}", f"{r['mae_rank']:.1f}"] for r in rows])
    _write(out, table, {"predictability": predictability, "rows": rows})
    return {"rows": rows, "table": table}


ABLATION_GENERATORS = ("multi_block", "rasterized", "block", "random")


def mask_ablation(config, out, generators=ABLATION_GENERATORS, include_mae=True, verbose=0):
    """I-JEPA with each masking strategy, and MAE's pixel targets, probed after training.

    Args:
        config: a config dict.
        out: output folder (`results.md`, `results.json`, `masks_<generator>.png`).
        generators: names from `keras_jepa.experiment.IJEPA_MASK_GENERATORS`.
        include_mae: add a row for MAE (pixel targets) on the same encoder and budget.
        verbose: `fit`'s verbosity.

    Returns:
        Dict with `rows` and `table` (markdown).

    Example:
    summary = keras_jepa.studies.mask_ablation(
        keras_jepa.experiment.digits_micro_config(smoke=True), "runs/ablation")
    """
    from keras_jepa.plotting.evaluation_figures import plot_mask_overlays

    os.makedirs(out, exist_ok=True)
    probe_data = _probe_data(config)
    runs = [("ijepa", name) for name in generators] + ([("mae", None)] if include_mae else [])
    rows = []
    overlays = []
    for method, generator_name in runs:
        run_config = copy.deepcopy(config)
        if generator_name is not None:
            masks = dict(run_config["masks"]["ijepa"])
            masks["generator"] = generator_name
            run_config["masks"]["ijepa"] = masks
        label = (f"I-JEPA, {generator_name} masks (embedding targets)" if method == "ijepa"
                 else "MAE, random masks (pixel targets)")
        start = time.perf_counter()
        _, results = experiment.train(
            run_config, method, os.path.join(out, generator_name or method), verbose=verbose,
            probe_data=probe_data)
        rows.append({"name": label, "generator": generator_name, "method": method,
                     "probe_accuracy": results["probe_accuracy"],
                     "effective_rank": results["effective_rank"],
                     "seconds": round(time.perf_counter() - start, 1)})
        if generator_name is not None:
            generator = experiment.make_mask_generator(run_config)
            overlays.append((generator_name, generator.sample(1, seed=0)))
        print(f"{label}: probe {results['probe_accuracy']:.3f}")
    for name, sample in overlays:
        # One figure per generator: they differ in their number of target blocks.
        plot_mask_overlays(probe_data[1][0][:1], sample, experiment.grid_size(config),
                           title=name, path=os.path.join(out, f"masks_{name}.png"))
    table = markdown_table(
        ["pretraining", "probe accuracy", "RankMe", "train s"],
        [[r["name"], f"{r['probe_accuracy']:.3f}", f"{r['effective_rank']:.1f}", r["seconds"]]
         for r in rows])
    _write(out, table, {"rows": rows})
    return {"rows": rows, "table": table}


def _write(out, table, results):
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(table + "\n")
    experiment.write_json(os.path.join(out, "results.json"),
                          {"backend": keras.backend.backend(), **results})


def run_recipe(study, doc, out, arguments=None, options=None, argv=None):
    """A study recipe's command line, end to end: parse, load the config, run, print.

    The command takes `--config` (default `digits_micro`), `--out`, `--epochs` (overrides
    the config's), `--smoke` (the config's small variant) and the study's own
    `arguments`; `study(config, out, **options(args))` then runs and its table is printed.

    Args:
        study: `compare_methods`, `noisy_feature_sweep` or `mask_ablation`.
        doc: the recipe's module docstring (the command's description).
        out: the default of `--out`.
        arguments: `{flag: add_argument keywords}`, the study's own options.
        options: `args -> {keyword: value}`, the study's keywords from the parsed command.
        argv: the arguments (default `sys.argv[1:]`).

    Returns:
        The study's summary dict.

    Example:
    run_recipe(mask_ablation, __doc__, "recipes/outputs/mask_ablation")
    """
    arguments = {"--config": {"default": "digits_micro"}, **(arguments or {}),
                 "--epochs": {"type": int, "default": None}}
    args = recipe.parse_args(doc, out, arguments=arguments, argv=argv)
    config = experiment.load_config(args.config, smoke=args.smoke)
    if args.epochs is not None:
        config["epochs"] = args.epochs
    summary = study(config, args.out, **(options(args) if options else {}))
    print(summary["table"])
    return summary
