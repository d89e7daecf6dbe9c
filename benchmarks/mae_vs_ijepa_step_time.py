"""MAE train-step time beside I-JEPA's, same encoder and batch, on each backend.

Command:  python benchmarks/mae_vs_ijepa_step_time.py [--steps 12] [--backends jax tensorflow torch]
Config:   32×32×3 images, patch 4 (8×8 grid), encoder 192 wide / 6 deep / 3 heads, batch 64,
          fp32, 2 CPU threads, the same optimizer (`ijepa_optimizer`) for both.
          I-JEPA: predictor 96 wide / 3 deep, MultiBlockMaskGenerator defaults (4 targets),
          masks made beforehand (as a tf.data pipeline would). MAE: its default decoder
          (`MAEDecoder.for_encoder`: 96 wide / 2 deep / 3 heads), mask ratio 0.75 (16 of 64
          patches visible), norm_pix_loss, masks drawn inside the step.
Writes:   benchmarks/results/mae_vs_ijepa_step_time.{json,md}

Each backend runs in its own process. Timing as in `ijepa_step_time.py`: `model.fit` over
pre-made batches after a warm-up fit that compiles the step; the median of several timed
fits, divided by their steps. `--jit` chooses Keras's `jit_compile` ("auto": Keras's
default, TensorFlow then runs without XLA on CPU; "true": XLA for TensorFlow,
torch.compile for torch).
"""

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
from common import run_per_backend  # noqa: E402
from common import worker_args  # noqa: E402
from common import write_results  # noqa: E402

MODELS = ("ijepa", "mae")


def worker(args):
    limit_threads(args.threads)
    import keras
    import numpy as np
    import tensorflow as tf

    configure_backend_threads(args.threads)
    import keras_jepa

    batch_size, image_size, num_batches = args.batch_size, 32, args.steps
    rng = np.random.default_rng(0)
    images = rng.normal(size=(num_batches, batch_size, image_size, image_size, 3)).astype("float32")
    generator = keras_jepa.masking.MultiBlockMaskGenerator(8, num_targets=4, seed=0)
    masks = [generator(batch_size) for _ in range(num_batches)]
    ijepa_batches = {"images": images, **{k: np.stack([m[k] for m in masks]) for k in masks[0]}}
    datasets = {
        "ijepa": tf.data.Dataset.from_tensor_slices(ijepa_batches).cache(),
        "mae": tf.data.Dataset.from_tensor_slices(images).cache(),
    }

    def build(name):
        encoder = keras_jepa.models.ViTEncoder(
            image_size=image_size, patch_size=4, hidden_dim=192, depth=6, num_heads=3)
        if name == "ijepa":
            predictor = keras_jepa.models.JEPAPredictor.for_encoder(encoder, hidden_dim=96, depth=3)
            model = keras_jepa.models.IJEPA(encoder, predictor, total_steps=1000)
            head = model.predictor
            tokens = f"{generator.num_context_tokens} / {generator.num_target_tokens}×4"
        else:
            model = keras_jepa.models.MAE(encoder, mask_ratio=0.75, seed=0)
            head = model.decoder
            tokens = f"{model.num_visible_tokens} / {model.num_masked_tokens}"
        shape = f"{head.hidden_dim}/{head.depth}/{head.num_heads}"
        return model, tokens, shape

    results = []
    for jit in args.jit:
        jit_compile = {"auto": "auto", "true": True, "false": False}[jit]
        if jit_compile is False and keras.backend.backend() == "jax":
            continue  # JAX always compiles
        for name in args.models:
            keras.utils.set_random_seed(0)
            model, tokens, head_shape = build(name)
            model.compile(optimizer=keras_jepa.training.ijepa_optimizer(total_steps=1000),
                          jit_compile=jit_compile)
            dataset = datasets[name]
            start = time.perf_counter()
            model.fit(dataset.take(3), epochs=1, verbose=0)  # compile + warm up
            warmup = time.perf_counter() - start
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                model.fit(dataset, epochs=1, verbose=0)
                times.append((time.perf_counter() - start) / num_batches)
            median = statistics.median(times)
            results.append({
                "backend": keras.backend.backend(), "jit_compile": jit, "model": name,
                "seconds_per_step": median, "best_seconds_per_step": min(times),
                "images_per_second": batch_size / median, "warmup_seconds": warmup,
                "tokens": tokens, "head": head_shape,
                "trainable_parameters": int(sum(np.prod(v.shape) for v in model.trainable_variables)),
                "batch_size": batch_size, "threads": args.threads, "steps": num_batches,
                "repeats": args.repeats,
            })
    print(json.dumps(results))


def main():
    parser = benchmark_parser(__doc__, steps=12, name="mae_vs_ijepa_step_time")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--jit", nargs="+", default=["auto"], choices=["auto", "true", "false"])
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    forwarded = worker_args(args, "steps", "repeats", "batch_size", "threads", "jit", "models")
    rows = run_per_backend(os.path.abspath(__file__), args.backends, forwarded)
    ijepa = {(r["backend"], r["jit_compile"]): r["seconds_per_step"]
             for r in rows if r["model"] == "ijepa"}
    for r in rows:
        reference = ijepa.get((r["backend"], r["jit_compile"]))
        r["relative_to_ijepa"] = None if reference is None else r["seconds_per_step"] / reference
    lines = [
        "# MAE vs I-JEPA step time, reference tiny config",
        "",
        f"`python benchmarks/mae_vs_ijepa_step_time.py`, {machine()['date']}, {os.cpu_count()} "
        f"CPU cores, {args.threads} threads. 32×32×3 images, patch 4, encoder 192/6/3, batch "
        f"{args.batch_size}, fp32, `ijepa_optimizer` for both. I-JEPA: predictor 96/3, "
        "MultiBlockMaskGenerator defaults, masks made beforehand. MAE: default decoder, "
        "mask ratio 0.75, norm_pix_loss, masks drawn in the step.",
        "",
        markdown_table(
            ["backend", "jit_compile", "model", "tokens (context/targets, visible/masked)",
             "predictor/decoder", "trainable params", "s/step (median)", "best", "images/s",
             "× I-JEPA"],
            [[r["backend"], r["jit_compile"], r["model"], r["tokens"], r["head"],
              f"{r['trainable_parameters'] / 1e6:.2f} M", f"{r['seconds_per_step']:.3f}",
              f"{r['best_seconds_per_step']:.3f}", f"{r['images_per_second']:.0f}",
              "" if r["relative_to_ijepa"] is None else f"{r['relative_to_ijepa']:.2f}"]
             for r in rows]),
    ]
    write_results(args.name, {"machine": machine(), "results": rows}, lines)


if __name__ == "__main__":
    main()
