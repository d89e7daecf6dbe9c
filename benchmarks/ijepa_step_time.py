"""I-JEPA train-step time on each backend, paired with the official code in the same run.

Command:  IJEPA_SRC=/path/to/ijepa python benchmarks/ijepa_step_time.py [--steps 12]
          [--backends jax tensorflow torch] [--jit default true false]
Config:   32×32×3 images, patch 4 (8×8 grid), encoder 192 wide / 6 deep / 3 heads,
          predictor 96 wide / 3 deep, 4 target blocks, batch 64, fp32, 2 CPU threads.
Official: with `IJEPA_SRC` set to an extracted facebookresearch/ijepa (the folder holding
          `src/`), its own networks, optimizer and schedules run the same batches in a
          worker of this invocation (`official_ijepa.py`), and every row's ratio is
          against that time. Without it the official row is skipped with a message and the
          ratios use the figure of IJEPA_REFERENCE.md (0.46–0.49 s/step on 2 cores).
Goals:    fastest backend ≤ 0.75× the official step, slowest ≤ 1.25×.
Writes:   benchmarks/results/<name>.{json,md} (default name ijepa_step_time)

`--config vit_b16 --dtype-policy mixed_bfloat16 --batch-size 128` times ViT-B/16 at 224 px
(predictor 384/12, 14×14 grid) for accelerators: the table then also gives the model
FLOPs per step (matrix products, forward and backward, counted from the shapes) and the
MFU against `--peak-tflops` (790: an H200's dense bf16).

Each backend runs in its own process. Timing: `model.fit` over pre-made batches (masks
from MultiBlockMaskGenerator, so the pipeline costs nothing here), after a warm-up fit
that compiles the step (its wall time is the `compile s` column); the step time is the
median interval between consecutive step ends inside the timed fits.
`fit_seconds_per_step` (whole fit calls / steps) is also recorded. `--jit`: "default" is
what `compile()` does when `jit_compile` is left alone (keras_jepa picks XLA for
TensorFlow, the eager step for torch; JAX always compiles); "true"/"false" force it.
Peak memory: the worker's peak resident set (ru_maxrss) on CPU; the device's peak
allocation on a GPU.
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import benchmark_parser  # noqa: E402
from common import configure_backend_threads  # noqa: E402
from common import limit_threads  # noqa: E402
from common import machine  # noqa: E402
from common import markdown_table  # noqa: E402
from common import peak_memory_mb  # noqa: E402
from common import run_per_backend  # noqa: E402
from common import run_worker  # noqa: E402
from common import worker_args  # noqa: E402
from common import write_results  # noqa: E402
from official_ijepa import official_source  # noqa: E402
from official_ijepa import time_official_steps  # noqa: E402

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


def _blocks_flops(tokens, width, depth):
    """Matrix-product FLOPs of `depth` transformer blocks (MLP ratio 4) on `tokens` tokens."""
    return depth * (24 * tokens * width**2 + 4 * tokens**2 * width)


def mae_flops_per_step(config, batch_size, num_visible, decoder):
    """Matrix-product FLOPs of one MAE train step (forward and backward: ×3)."""
    enc = config["encoder"]
    d, dd = enc["hidden_dim"], decoder["hidden_dim"]
    patches = (enc["image_size"] // enc["patch_size"]) ** 2
    patch_dim = enc["patch_size"] ** 2 * 3
    encoder = 2 * num_visible * patch_dim * d + _blocks_flops(num_visible, d, enc["depth"])
    head = 2 * num_visible * d * dd + _blocks_flops(patches, dd, decoder["depth"]) \
        + 2 * patches * dd * patch_dim
    return batch_size * 3 * (encoder + head)


def model_flops_per_step(config, batch_size, num_context, num_target, num_blocks):
    """Matrix-product FLOPs of one I-JEPA train step (forward ×3 for forward + backward).

    Target encoder: forward only, on every patch. Context encoder and predictor:
    forward and backward. A transformer block on T tokens of width D (MLP ratio 4)
    costs 24·T·D² + 4·T²·D in its products.
    """
    enc, pred = config["encoder"], config["predictor"]
    d, dp = enc["hidden_dim"], pred["hidden_dim"]
    patches = (enc["image_size"] // enc["patch_size"]) ** 2
    patch_dim = enc["patch_size"] ** 2 * 3

    blocks = _blocks_flops

    def encoder(tokens):
        return 2 * tokens * patch_dim * d + blocks(tokens, d, enc["depth"])

    predictor_tokens = num_context + num_target
    predictor = num_blocks * (2 * num_context * d * dp + blocks(predictor_tokens, dp, pred["depth"])
                              + 2 * num_target * dp * d)
    forward_only = encoder(patches)
    trained = encoder(num_context) + predictor
    return batch_size * (forward_only + 3 * trained)


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
    batches, generator = make_batches(args, config)
    stacked = {k: np.stack([b[k] for b in batches]) for k in batches[0]}
    dataset = tf.data.Dataset.from_tensor_slices(stacked).cache()

    if args.model == "mae":
        dataset = tf.data.Dataset.from_tensor_slices(stacked["images"]).cache()
    results = []
    for jit in args.jit:
        keras.utils.set_random_seed(0)
        encoder = keras_jepa.models.ViTEncoder(**config["encoder"])
        if args.model == "mae":
            model = keras_jepa.models.MAE(encoder, mask_ratio=0.75, seed=0,
                                          monitors=not args.no_monitors)
            flops = mae_flops_per_step(
                config, args.batch_size, model.num_visible_tokens,
                {"hidden_dim": model.decoder.hidden_dim, "depth": model.decoder.depth})
        else:
            predictor = keras_jepa.models.JEPAPredictor.for_encoder(
                encoder, **config["predictor"])
            model = keras_jepa.models.IJEPA(encoder, predictor, total_steps=1000,
                                            monitors=not args.no_monitors)
            flops = None
        if jit == "false" and keras.backend.backend() == "jax":
            continue  # an un-jitted JAX step is not a configuration anyone trains with
        options = {} if jit == "default" else {"jit_compile": jit == "true"}
        model.compile(optimizer=keras_jepa.training.ijepa_optimizer(total_steps=1000), **options)
        start = time.perf_counter()
        model.fit(dataset.take(3), epochs=1, verbose=0)  # compile + warm up
        compile_seconds = time.perf_counter() - start
        stamps = StepTimes()
        fit_times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            model.fit(dataset, epochs=1, verbose=0, callbacks=[stamps])
            fit_times.append((time.perf_counter() - start) / len(batches))
        times = stamps.intervals
        results.append(row(args, config, generator, times, fit_times, compile_seconds,
                           flops=flops, backend=keras.backend.backend(), jit_compile=jit,
                           resolved_jit=str(model.jit_compile), model=args.model))
        if args.model == "mae":  # its tokens: visible / masked
            results[-1].update(num_context_tokens=model.num_visible_tokens,
                               num_target_tokens=model.num_masked_tokens)
    print(json.dumps(results))


def make_batches(args, config):
    import numpy as np

    import keras_jepa

    image_size, patch_size = config["image_size"], config["patch_size"]
    generator = keras_jepa.masking.MultiBlockMaskGenerator(
        image_size // patch_size, num_targets=4, seed=0,
        num_context_tokens=args.context_tokens, num_target_tokens=args.target_tokens)
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(args.steps):
        images = rng.normal(size=(args.batch_size, image_size, image_size, 3)).astype("float32")
        batches.append({"images": images, **generator(args.batch_size)})
    return batches, generator


def row(args, config, generator, times, fit_times, compile_seconds, flops=None, **fields):
    median = statistics.median(times)
    if flops is None:
        flops = model_flops_per_step(config, args.batch_size, generator.num_context_tokens,
                                     generator.num_target_tokens, 4)
    return {
        **fields,
        "seconds_per_step": median, "best_seconds_per_step": min(times),
        "fit_seconds_per_step": statistics.median(fit_times) if fit_times else None,
        "compile_seconds": compile_seconds,
        "images_per_second": args.batch_size / median,
        "model_tflops_per_step": flops / 1e12,
        "mfu": flops / median / (args.peak_tflops * 1e12),
        "peak_memory_mb": peak_memory_mb(),
        "num_context_tokens": generator.num_context_tokens,
        "num_target_tokens": generator.num_target_tokens,
        "batch_size": args.batch_size, "threads": args.threads, "steps": args.steps,
        "config": args.config, "repeats": args.repeats,
    }


def official_worker(args):
    """The official code on the same batches (a process with torch and numpy only)."""
    limit_threads(args.threads)
    import numpy as np

    config = CONFIGS[args.config]
    with np.load(args.official_worker) as saved:
        stacked = {k: saved[k] for k in saved.files}
    batches = [{k: v[i] for k, v in stacked.items()} for i in range(args.steps)]
    generator = argparse.Namespace(num_context_tokens=stacked["context_indices"].shape[-1],
                                   num_target_tokens=stacked["target_indices"].shape[-1])
    dtype = "bfloat16" if args.dtype_policy and "bfloat16" in args.dtype_policy else None
    times, first = time_official_steps(official_source(), config, batches, args.threads,
                                       args.repeats, dtype=dtype)
    print(json.dumps([row(args, config, generator, times, [], first, backend="official",
                          jit_compile="-", resolved_jit="eager (PyTorch)", model="ijepa")]))


def main():
    parser = benchmark_parser(__doc__, steps=12, name="ijepa_step_time")
    parser.add_argument("--jit", nargs="+", default=["default", "true"],
                        choices=["default", "true", "false"])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--context-tokens", type=int, default=None)
    parser.add_argument("--target-tokens", type=int, default=None)
    parser.add_argument("--config", default="tiny", choices=sorted(CONFIGS))
    parser.add_argument("--dtype-policy", default=None, help="e.g. mixed_bfloat16")
    parser.add_argument("--model", default="ijepa", choices=["ijepa", "mae"],
                        help="mae: MAE on the same encoder (mask ratio 0.75, default decoder); "
                        "the official row is I-JEPA's only")
    parser.add_argument("--no-monitors", action="store_true",
                        help="IJEPA(monitors=False): no RankMe SVD or feature statistics")
    parser.add_argument("--peak-tflops", type=float, default=790.0,
                        help="the accelerator's peak for the MFU column (H200 bf16: 790)")
    parser.add_argument("--official-worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    if args.official_worker:
        return official_worker(args)
    forwarded = worker_args(args, "steps", "repeats", "batch_size", "threads", "jit", "config",
                            "peak_tflops", "model", "dtype_policy", "no_monitors",
                            "context_tokens", "target_tokens")
    script = os.path.abspath(__file__)
    rows = []
    if official_source() and args.model == "ijepa":
        import tempfile

        import numpy as np

        batches, _ = make_batches(args, CONFIGS[args.config])
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "batches.npz")
            np.savez(path, **{k: np.stack([b[k] for b in batches]) for k in batches[0]})
            rows += run_worker(script, ["--official-worker", path, *forwarded], backend="torch")
        reference, reference_label = rows[0]["seconds_per_step"], "the official code, this run"
    else:
        print("IJEPA_SRC is not set: the official code's row is skipped; ratios use "
              "IJEPA_REFERENCE.md's 0.46–0.49 s/step.", file=sys.stderr)
        reference = statistics.mean(REFERENCE_SECONDS)
        reference_label = f"IJEPA_REFERENCE.md's {REFERENCE_SECONDS[0]}–{REFERENCE_SECONDS[1]} s"
    rows += run_per_backend(script, args.backends, forwarded)
    for r in rows:  # the official code is I-JEPA's: no ratio for MAE
        r["ratio_to_official"] = r["seconds_per_step"] / reference \
            if r["model"] == "ijepa" else None
    enc, pred = CONFIGS[args.config]["encoder"], CONFIGS[args.config]["predictor"]
    lines = [
        f"# {'I-JEPA' if args.model == 'ijepa' else 'MAE'} step time against the official "
        "I-JEPA code",
        "",
        f"`python benchmarks/ijepa_step_time.py`, {machine()['date']}, {os.cpu_count()} CPU "
        f"cores, {args.threads} threads. Config {args.config}: {enc['image_size']} px, patch "
        f"{enc['patch_size']}, encoder {enc['hidden_dim']}/{enc['depth']}/{enc['num_heads']}, "
        f"predictor {pred['hidden_dim']}/{pred['depth']}, 4 targets, batch {args.batch_size}, "
        f"dtype policy {args.dtype_policy or 'float32'}"
        + (", monitors off" if args.no_monitors else ", monitors on (the default)")
        + f". Ratios against {reference_label} ({reference:.3f} s/step).",
        "",
        markdown_table(
            ["backend", "model", "jit_compile (resolved)", "Kc / Kt (MAE: visible / masked)",
             "s/step (median)", "best", "images/s", "× official", "compile s",
             "peak memory MB", "model TFLOP/step", "MFU"],
            [[r["backend"], r["model"], f"{r['jit_compile']} ({r['resolved_jit']})",
              f"{r['num_context_tokens']} / {r['num_target_tokens']}",
              f"{r['seconds_per_step']:.3f}", f"{r['best_seconds_per_step']:.3f}",
              f"{r['images_per_second']:.0f}",
              "-" if r["ratio_to_official"] is None else format(r["ratio_to_official"], ".2f"),
              f"{r['compile_seconds']:.1f}", f"{r['peak_memory_mb']:.0f}",
              f"{r['model_tflops_per_step']:.3f}", f"{r['mfu']:.2%}"] for r in rows]),
    ]
    write_results(args.name, {"machine": machine(), "reference_seconds": reference,
                              "reference": reference_label, "results": rows}, lines)


if __name__ == "__main__":
    main()
