"""I-JEPA train-step time on each backend for the reference's tiny config.

Command:  python benchmarks/ijepa_step_time.py [--steps 20] [--backends jax tensorflow torch]
Config:   32×32×3 images, patch 4 (8×8 grid), encoder 192 wide / 6 deep / 3 heads,
          predictor 96 wide / 3 deep, 4 target blocks, batch 64, fp32, 2 CPU threads.
Anchor:   the reference implementation takes 0.46–0.49 s per step on a 2-core machine
          like ours (IJEPA_REFERENCE.md); the goal is the fastest backend ≤ 0.75× that
          (≤ 0.345 s) and none slower than 1.25× (≤ 0.575 s).
Writes:   benchmarks/results/ijepa_step_time.{json,md}

`--config vit_b16 --dtype-policy mixed_bfloat16 --batch-size 128` times ViT-B/16 at 224 px
(predictor 384/12, 14×14 grid) instead, for accelerators.

Each backend runs in its own process. Timing: `model.fit` over pre-made batches (masks
from MultiBlockMaskGenerator, so the pipeline costs nothing here), after a warm-up fit
that compiles the step; the step time is the median interval between consecutive step
ends inside the timed fits. `fit_seconds_per_step` (whole fit calls / steps) is also
recorded: this benchmark's plain dataset keeps tf.data's autotuner, and some fit calls
then end with a 3–4 s pause after the last step (the iterator's deletion waits for the
autotuner); keras_jepa's pipelines turn the autotuner off (`data.pipeline.without_autotuner`).
`--jit` chooses Keras's `jit_compile` ("auto": Keras's default; TensorFlow then runs
without XLA on CPU; "true": XLA for TensorFlow, torch.compile for torch).
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import BACKENDS, configure_backend_threads, limit_threads, machine, run_per_backend, write_results  # noqa: E402

REFERENCE_SECONDS = (0.46, 0.49)
CONFIGS = {
    "tiny": {
        "image_size": 32, "patch_size": 4,
        "encoder": dict(image_size=32, patch_size=4, hidden_dim=192, depth=6, num_heads=3),
        "predictor": dict(hidden_dim=96, depth=3),
    },
    "vit_b16": {
        "image_size": 224, "patch_size": 16,
        "encoder": dict(image_size=224, patch_size=16, hidden_dim=768, depth=12, num_heads=12),
        "predictor": dict(hidden_dim=384, depth=12),
    },
}


def step_times_callback():
    import keras

    class StepTimes(keras.callbacks.Callback):
        """Wall time between consecutive step ends, within each fit call."""

        def __init__(self):
            super().__init__()
            self.intervals = []
            self._last = None

        def on_train_begin(self, logs=None):
            self._last = None

        def on_train_batch_end(self, batch, logs=None):
            now = time.perf_counter()
            if self._last is not None:
                self.intervals.append(now - self._last)
            self._last = now

    return StepTimes


def worker(args):
    limit_threads(args.threads)
    import keras
    import numpy as np
    import tensorflow as tf

    configure_backend_threads(args.threads)
    import keras_jepa

    StepTimes = step_times_callback()

    if args.dtype_policy:
        keras.config.set_dtype_policy(args.dtype_policy)
    config = CONFIGS[args.config]
    batch_size, image_size, patch_size = args.batch_size, config["image_size"], config["patch_size"]
    generator = keras_jepa.masking.MultiBlockMaskGenerator(
        image_size // patch_size, num_targets=4, seed=0,
        num_context_tokens=args.context_tokens, num_target_tokens=args.target_tokens)
    rng = np.random.default_rng(0)
    num_batches = args.steps
    images = rng.normal(size=(num_batches, batch_size, image_size, image_size, 3)).astype("float32")
    masks = [generator(batch_size) for _ in range(num_batches)]
    batches = {"images": images, **{k: np.stack([m[k] for m in masks]) for k in masks[0]}}
    dataset = tf.data.Dataset.from_tensor_slices(batches).cache()

    results = []
    for jit in args.jit:
        keras.utils.set_random_seed(0)
        encoder = keras_jepa.models.ViTEncoder(**config["encoder"])
        predictor = keras_jepa.models.JEPAPredictor.for_encoder(encoder, **config["predictor"])
        model = keras_jepa.models.IJEPA(encoder, predictor, total_steps=1000)
        jit_compile = {"auto": "auto", "true": True, "false": False}[jit]
        if jit_compile is False and keras.backend.backend() == "jax":
            continue  # JAX always compiles
        model.compile(optimizer=keras_jepa.training.ijepa_optimizer(total_steps=1000),
                      jit_compile=jit_compile)
        model.fit(dataset.take(3), epochs=1, verbose=0)  # compile + warm up
        stamps = StepTimes()
        fit_times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            model.fit(dataset, epochs=1, verbose=0, callbacks=[stamps])
            fit_times.append((time.perf_counter() - start) / num_batches)
        times = stamps.intervals
        median = statistics.median(times)
        results.append({
            "backend": keras.backend.backend(), "jit_compile": jit,
            "seconds_per_step": median, "best_seconds_per_step": min(times),
            "fit_seconds_per_step": statistics.median(fit_times),
            "images_per_second": batch_size / median,
            "num_context_tokens": generator.num_context_tokens,
            "num_target_tokens": generator.num_target_tokens,
            "batch_size": batch_size, "threads": args.threads, "steps": num_batches,
            "config": args.config, "dtype_policy": keras.config.dtype_policy().name,
            "repeats": args.repeats,
        })
    print(json.dumps(results))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS))
    parser.add_argument("--jit", nargs="+", default=["auto", "true"], choices=["auto", "true", "false"])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--context-tokens", type=int, default=None)
    parser.add_argument("--target-tokens", type=int, default=None)
    parser.add_argument("--config", default="tiny", choices=sorted(CONFIGS))
    parser.add_argument("--dtype-policy", default=None, help="e.g. mixed_bfloat16")
    parser.add_argument("--name", default="ijepa_step_time")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    forwarded = ["--steps", str(args.steps), "--repeats", str(args.repeats),
                 "--batch-size", str(args.batch_size), "--threads", str(args.threads),
                 "--jit", *args.jit, "--config", args.config]
    if args.dtype_policy:
        forwarded += ["--dtype-policy", args.dtype_policy]
    for flag, value in (("--context-tokens", args.context_tokens), ("--target-tokens", args.target_tokens)):
        if value is not None:
            forwarded += [flag, str(value)]
    rows = run_per_backend(os.path.abspath(__file__), args.backends, forwarded)
    ref = statistics.mean(REFERENCE_SECONDS)
    lines = [
        "# I-JEPA step time, reference tiny config",
        "",
        f"`python benchmarks/ijepa_step_time.py`, {machine()['date']}, {os.cpu_count()} CPU cores, "
        f"{args.threads} threads. 32×32 images, patch 4, encoder 192/6/3, predictor 96/3, "
        f"4 targets, batch {args.batch_size}, fp32. Reference: {REFERENCE_SECONDS[0]}–"
        f"{REFERENCE_SECONDS[1]} s/step (ratio against {ref:.3f} s).",
        "",
        f"Config {args.config}, dtype policy {rows[0]['dtype_policy'] if rows else '-'}.",
        "",
        "| backend | jit_compile | Kc / Kt | s/step (median) | best | images/s | × reference | whole fit s/step |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['backend']} | {r['jit_compile']} | {r['num_context_tokens']} / {r['num_target_tokens']} | "
            f"{r['seconds_per_step']:.3f} | {r['best_seconds_per_step']:.3f} | "
            f"{r['images_per_second']:.0f} | {r['seconds_per_step'] / ref:.2f} | "
            f"{r['fit_seconds_per_step']:.3f} |")
    write_results(args.name, {"machine": machine(), "reference_seconds": REFERENCE_SECONDS, "results": rows}, lines)


if __name__ == "__main__":
    main()
