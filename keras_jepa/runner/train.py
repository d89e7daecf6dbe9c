"""Training one method: the run folder, resuming a killed run, the finite-loss check."""

import copy
import math
import os
import time

import keras

from keras_jepa import training
from keras_jepa.runner.build import _set_distribution
from keras_jepa.runner.build import build_model
from keras_jepa.runner.build import build_optimizer
from keras_jepa.runner.config import ExperimentError
from keras_jepa.runner.config import check_config
from keras_jepa.runner.config import check_method
from keras_jepa.runner.config import load_config
from keras_jepa.runner.evaluate import evaluate
from keras_jepa.runner.report import write_json
from keras_jepa.runner.sources import data_has_labels
from keras_jepa.runner.sources import load_probe_arrays
from keras_jepa.runner.sources import make_training_dataset


def _check_finite(history, method, checkpoint=None):
    losses = history.get("loss", [])
    if not losses or not all(math.isfinite(v) for v in losses):
        kept = ""
        if checkpoint is not None:
            kept = (f" The last finite checkpoint (epoch {checkpoint.last_saved_epoch}) is "
                    f"kept at {checkpoint.last_saved}." if checkpoint.last_saved else
                    " No finite checkpoint was written.")
        raise FloatingPointError(
            f"{method} training produced a non-finite loss ({losses}); lower the "
            f"learning rate or check the data.{kept}")


def train(config, method, out, epochs=None, verbose=1, probe_data=None, evaluate_model=True,
          callbacks=None, resume=False, dtype_policy=None):
    """Pretrains `method` on `config` and writes the run folder `out`.

    Files: `model.keras` (written atomically after every epoch with a finite loss and
    finite weights, by `keras_jepa.training.SafeModelCheckpoint`), `config.json`
    (the resolved config, with method and backend), `log.csv` (`CSVLogger`),
    `results.json` (losses, timing, probe accuracy and RankMe), `loss.png`, and
    `masks.png` (I-JEPA) or `reconstructions.png` (MAE).

    Args:
        config: a config dict (see `load_config`).
        method: "ijepa" or "mae".
        out: output folder (created).
        epochs: override of `config["epochs"]`.
        verbose: `fit`'s verbosity (1: progress bars).
        probe_data: optional `(train, test)` arrays for the probe.
        evaluate_model: run the linear probe after training.
        callbacks: extra Keras callbacks (e.g. `keras_jepa.evaluation.ProbeCallback`);
            they run before the CSV logger, so the values they log reach `log.csv`.
        resume: continue the killed run in `out`: `config` None reads its
            `config.json`; weights, optimizer state and finished epochs come from
            `out/backup` (`keras.callbacks.BackupAndRestore`, written after every epoch
            and removed when the run ends). The data pipeline starts afresh, so the
            continued run draws new (equally distributed) batches; see docs/resume.md.
        dtype_policy: a Keras dtype policy for the model, e.g. "mixed_bfloat16" (set
            with `keras.config.set_dtype_policy` while the model is built; restored
            afterwards). Saved in `config.json` as `dtype_policy`.

    Returns:
        `(model, results)`: the trained model and the results dict.

    Example:
    model, results = keras_jepa.experiment.train(
        keras_jepa.experiment.digits_micro_config(smoke=True), "mae", "runs/mae")
    """
    from keras_jepa.plotting import training_figures

    check_method(method)
    backup_dir = os.path.join(out, "backup")
    if resume:
        config = _resumed_config(config, method, out, backup_dir)
    elif os.path.isdir(backup_dir):
        # A fresh run into a killed run's folder starts over.
        import shutil

        shutil.rmtree(backup_dir)
    config = check_config(copy.deepcopy(config))
    if dtype_policy is not None:
        config["dtype_policy"] = dtype_policy
    if epochs is not None:
        config["epochs"] = int(epochs)
        check_config(config)
    if os.path.exists(out) and not os.path.isdir(out):
        raise ExperimentError(f"`--out` {out!r} is an existing file; expected a folder "
                              "(created if missing).")
    os.makedirs(out, exist_ok=True)
    keras.utils.set_random_seed(config["seed"])
    _set_distribution(config)
    dataset, steps, generator = make_training_dataset(config, method)
    total_steps = steps * config["epochs"]
    previous_policy = keras.config.dtype_policy()
    try:
        if config.get("dtype_policy"):
            try:
                keras.config.set_dtype_policy(config["dtype_policy"])
            except ValueError as error:
                raise ExperimentError(
                    f"`--dtype-policy` must be a Keras dtype policy such as 'float32', "
                    f"'mixed_float16' or 'mixed_bfloat16', got {config['dtype_policy']!r}."
                ) from error
        model = build_model(config, method, total_steps)
        model.compile(optimizer=build_optimizer(config, total_steps))
    finally:
        keras.config.set_dtype_policy(previous_policy)
    resolved = {**config, "method": method, "backend": keras.backend.backend(),
                "steps_per_epoch": steps, "total_steps": total_steps}
    write_json(os.path.join(out, "config.json"), resolved)
    print(f"[{method}] config {config['name']}, backend {keras.backend.backend()}, "
          f"{model.count_params():,} parameters, {config['epochs']} epochs x {steps} steps")

    # A NaN/inf loss stops the run (TerminateOnNaN); the checkpoint refuses to save it.
    checkpoint = training.SafeModelCheckpoint(os.path.join(out, "model.keras"))
    callbacks = [
        # First, so an epoch's backup is written even when a later callback stops the run.
        keras.callbacks.BackupAndRestore(backup_dir),
        *(callbacks or []),
        checkpoint,
        keras.callbacks.CSVLogger(os.path.join(out, "log.csv"), append=bool(resume)),
        keras.callbacks.TerminateOnNaN(),
    ]
    start = time.perf_counter()
    history = model.fit(dataset, epochs=config["epochs"], verbose=verbose,
                        callbacks=callbacks).history
    seconds = time.perf_counter() - start
    history = {k: [float(v) for v in vs] for k, vs in history.items()}
    _check_finite(history, method, checkpoint)

    results = {"method": method, "config": config["name"], "backend": keras.backend.backend(),
               "epochs": config["epochs"], "steps": total_steps,
               "train_seconds": round(seconds, 1), "first_loss": history["loss"][0],
               "last_loss": history["loss"][-1], "history": history}
    if evaluate_model and probe_data is None and not data_has_labels(config):
        print(f"[{method}] the data has no labels: no linear probe (results.json says so)")
        results["probe"] = "skipped: the data has no labels"
    elif evaluate_model:
        results.update(evaluate(model, config, probe_data))
    write_json(os.path.join(out, "results.json"), results)

    training_figures.save_loss_curves({method: history["loss"]}, os.path.join(out, "loss.png"),
                                      title=f"{config['name']} ({keras.backend.backend()})")
    examples = (probe_data[1][0] if probe_data else load_probe_arrays(config, "test")[0])[:8]
    if method == "ijepa":
        training_figures.save_mask_overlays(examples, generator, os.path.join(out, "masks.png"))
    else:
        training_figures.save_reconstructions(model, examples,
                                              os.path.join(out, "reconstructions.png"))
    return model, results


def _resumed_config(config, method, out, backup_dir):
    """The config of the killed run in `out` (its config.json, or `config` if given)."""
    saved = os.path.join(out, "config.json")
    if not os.path.isfile(saved):
        raise ExperimentError(f"`--resume`: no run to resume in `--out` {out!r} (no "
                              "config.json).")
    if not os.path.isdir(backup_dir):
        raise ExperimentError(
            f"`--resume`: nothing to resume in `--out` {out!r}: no backup/ (the run "
            "finished, or stopped before its first epoch ended).")
    resolved = load_config(saved)
    if resolved.get("method", method) != method:
        raise ExperimentError(f"`--method` {method!r} differs from the run's "
                              f"{resolved['method']!r} in {saved!r}.")
    if config is not None:
        return config
    for key in ("method", "backend", "total_steps"):
        resolved.pop(key, None)
    return resolved
