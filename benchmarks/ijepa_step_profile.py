"""Where the I-JEPA step's time goes, per backend, beside the official code (same run).

Command:  IJEPA_SRC=/path/to/ijepa python benchmarks/ijepa_step_profile.py
Writes:   benchmarks/results/ijepa_step_profile.{json,md}

Three measurements per backend, each in its own process (2 threads), for the tiny
config of `ijepa_step_time.py` (encoder 192/6/3 on 32×32 images, patch 4, batch 64):

1. `matmul`: GFLOP/s of one `[4096, 192] × [192, 768]` product (the MLP's shape), the
   ceiling a matmul-bound step can reach on this machine with that backend;
2. `encoder forward`: ms for the target encoder's forward pass over the batch (64
   tokens per image, no gradient), keras_jepa's `ViTEncoder` against the official
   `VisionTransformer` (torch, eager) when `IJEPA_SRC` is set;
3. on torch, the operators of both forward passes (`torch.profiler`, self CPU time
   per forward), which names what costs more than in the official code.

The whole train step is timed by `ijepa_step_time.py`.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import benchmark_parser  # noqa: E402
from common import configure_backend_threads  # noqa: E402
from common import limit_threads  # noqa: E402
from common import machine  # noqa: E402
from common import markdown_table  # noqa: E402
from common import run_worker  # noqa: E402
from common import worker_args  # noqa: E402
from common import write_results  # noqa: E402
from official_ijepa import official_source  # noqa: E402

SHAPE = (4096, 192, 768)
BATCH, IMAGE, PATCH, WIDTH, DEPTH, HEADS = 64, 32, 4, 192, 6, 3
REPEATS = 10


def _timed(fn, sync, repeats=REPEATS):
    sync(fn())
    start = time.perf_counter()
    for _ in range(repeats):
        out = fn()
    sync(out)
    return (time.perf_counter() - start) / repeats


def _torch_operators(fn, forwards=5):
    import torch
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile

    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(forwards):
            fn()
    rows = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    return [{"op": e.key, "ms_per_forward": e.self_cpu_time_total / 1e3 / forwards,
             "calls_per_forward": e.count / forwards} for e in rows[:8]]


def _jax_operator_groups(fn, runs=3):
    """XLA operator groups of `fn()` on JAX (profiler trace, ms per run), largest first.

    Operators are grouped by their name without the numeric suffix (`ynn_fusion.211`
    → `ynn_fusion`: the matrix products XLA hands to its CPU library; `*_fusion`: fused
    element-wise code, copies and transposes).
    """
    import collections
    import glob
    import gzip
    import re
    import tempfile

    import jax

    jax.block_until_ready(fn())
    with tempfile.TemporaryDirectory() as folder:
        jax.profiler.start_trace(folder, create_perfetto_trace=True)
        for _ in range(runs):
            out = fn()
        jax.block_until_ready(out)
        jax.profiler.stop_trace()
        path = sorted(glob.glob(os.path.join(folder, "**", "*.json.gz"), recursive=True))[-1]
        with gzip.open(path) as f:
            trace = json.load(f)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    totals, counts = collections.Counter(), collections.Counter()
    for event in events:
        name = event.get("name", "")
        if event.get("ph") != "X" or "dur" not in event or \
                name.startswith(("ThunkExecutor", "$", "SlinkyThreadPool", "PjitFunction")):
            continue
        group = re.sub(r"\.\d+$", "", name)
        totals[group] += event["dur"]
        counts[group] += 1
    return [{"op": group, "ms_per_forward": total / 1e3 / runs,
             "calls_per_forward": counts[group] / runs}
            for group, total in totals.most_common(10)]


def _jax_loss_and_gradient(keras_jepa, keras, np):
    """`fn()` running the tiny I-JEPA's loss and gradient (monitors off) once, jitted."""
    import jax

    encoder = keras_jepa.models.ViTEncoder(image_size=IMAGE, patch_size=PATCH,
                                           hidden_dim=WIDTH, depth=DEPTH, num_heads=HEADS)
    predictor = keras_jepa.models.JEPAPredictor.for_encoder(encoder, hidden_dim=96, depth=3)
    model = keras_jepa.models.IJEPA(encoder, predictor, total_steps=100, monitors=False)
    generator = keras_jepa.masking.MultiBlockMaskGenerator(IMAGE // PATCH, num_targets=4, seed=0)
    batch = {"images": np.random.default_rng(0).normal(
        size=(BATCH, IMAGE, IMAGE, 3)).astype("float32"), **generator(BATCH)}
    model.compile(optimizer="adam")
    model.fit(batch, batch_size=BATCH, verbose=0)  # builds everything
    trainable = [v.value for v in model.trainable_variables]
    frozen = [v.value for v in model.non_trainable_variables]
    step = jax.jit(jax.value_and_grad(
        lambda tv, ntv, b: model._stateless_ssl_loss(tv, ntv, b, True)[0]))
    batch = {k: jax.numpy.asarray(v) for k, v in batch.items()}
    return lambda: step(trainable, frozen, batch)


def worker(args):
    limit_threads(args.threads)
    import keras
    import numpy as np
    from keras import ops

    configure_backend_threads(args.threads)
    import keras_jepa

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        def compiled(f):
            return tf.function(f, jit_compile=True)
    elif backend == "jax":
        import jax

        compiled = jax.jit
    else:
        def compiled(f):
            return f

    def sync(value):
        np.asarray(ops.convert_to_numpy(value))

    rng = np.random.default_rng(0)
    m, k, n = SHAPE
    a = ops.convert_to_tensor(rng.normal(size=(m, k)).astype("float32"))
    b = ops.convert_to_tensor(rng.normal(size=(k, n)).astype("float32"))
    product = compiled(lambda x, y: ops.matmul(x, y))
    seconds = _timed(lambda: product(a, b), sync)
    row = {"backend": backend, "matmul_gflops": 2 * m * k * n / seconds / 1e9}

    encoder = keras_jepa.models.ViTEncoder(image_size=IMAGE, patch_size=PATCH,
                                           hidden_dim=WIDTH, depth=DEPTH, num_heads=HEADS)
    images_np = rng.normal(size=(BATCH, IMAGE, IMAGE, 3)).astype("float32")
    images = ops.convert_to_tensor(images_np)
    if backend == "torch":
        import torch

        with torch.no_grad():
            row["encoder_forward_ms"] = 1e3 * _timed(lambda: encoder(images), sync)
        row["operators"] = _torch_operators(lambda: encoder(images))
    else:
        forward = compiled(lambda x: encoder(x, training=False))
        row["encoder_forward_ms"] = 1e3 * _timed(lambda: forward(images), sync)
    if backend == "jax":
        loss_and_gradient = _jax_loss_and_gradient(keras_jepa, keras, np)
        import jax

        row["loss_and_gradient_ms"] = 1e3 * _timed(loss_and_gradient, jax.block_until_ready)
        row["step_operators"] = _jax_operator_groups(loss_and_gradient)
    print(json.dumps([row]))


def official_worker(args):
    limit_threads(args.threads)
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, official_source())
    from src.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    encoder = VisionTransformer(img_size=[IMAGE], patch_size=PATCH, embed_dim=WIDTH,
                                depth=DEPTH, num_heads=HEADS)
    images = torch.from_numpy(
        np.random.default_rng(0).normal(size=(BATCH, 3, IMAGE, IMAGE)).astype("float32"))
    m, k, n = SHAPE
    a, b = torch.randn(m, k), torch.randn(k, n)
    row = {"backend": "official (torch)",
           "matmul_gflops": 2 * m * k * n / _timed(lambda: a @ b, lambda v: None) / 1e9}
    with torch.no_grad():
        row["encoder_forward_ms"] = 1e3 * _timed(lambda: encoder(images), lambda v: None)
    row["operators"] = _torch_operators(lambda: encoder(images))
    print(json.dumps([row]))


def main():
    parser = benchmark_parser(__doc__)
    parser.add_argument("--official-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    if args.official_worker:
        return official_worker(args)
    script, forwarded = os.path.abspath(__file__), worker_args(args, "threads")
    rows = []
    if official_source():
        rows += run_worker(script, ["--official-worker", *forwarded], "torch")
    else:
        print("IJEPA_SRC is not set: the official code's rows are skipped.", file=sys.stderr)
    for backend in args.backends:
        rows += run_worker(script, ["--worker", *forwarded], backend)
    official = next((r for r in rows if r["backend"].startswith("official")), None)
    lines = [
        "# Where the I-JEPA step's time goes",
        "",
        f"`python benchmarks/ijepa_step_profile.py`, {machine()['date']}, {os.cpu_count()} CPU "
        f"cores, {args.threads} threads. Encoder {WIDTH}/{DEPTH}/{HEADS}, {IMAGE} px, patch "
        f"{PATCH}, batch {BATCH}, fp32; matmul {SHAPE[0]}×{SHAPE[1]} · {SHAPE[1]}×{SHAPE[2]}.",
        "",
    ]
    cells = []
    for r in rows:
        ratio = r["encoder_forward_ms"] / official["encoder_forward_ms"] if official else None
        cells.append([r["backend"], f"{r['matmul_gflops']:.0f}", f"{r['encoder_forward_ms']:.1f}",
                      "-" if ratio is None else f"{ratio:.2f}"])
    lines.append(markdown_table(["backend", "matmul GFLOP/s", "target-encoder forward ms",
                                 "× official"], cells))

    def operator_table(first_column, operators):
        return markdown_table(
            [first_column, "ms", "calls"],
            [[f"`{o['op']}`", f"{o['ms_per_forward']:.1f}", f"{o['calls_per_forward']:.0f}"]
             for o in operators])

    for r in rows:
        if "operators" in r:
            lines += ["", f"Operators of one forward pass, {r['backend']} (torch.profiler, "
                      "self CPU ms):", "", operator_table("operator", r["operators"])]
    for r in rows:
        if "step_operators" in r:
            lines += ["", f"XLA operator groups of the loss and its gradient, {r['backend']} "
                      f"(the tiny I-JEPA, monitors off; {r['loss_and_gradient_ms']:.0f} ms "
                      "per call; profiler trace, ms per call):", "",
                      operator_table("operator group", r["step_operators"])]
    write_results("ijepa_step_profile", {"machine": machine(), "results": rows}, lines)


if __name__ == "__main__":
    main()
