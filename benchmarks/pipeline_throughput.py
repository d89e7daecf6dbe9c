"""Input-pipeline throughput against the I-JEPA train step's consumption, tiny config.

Command:  python benchmarks/pipeline_throughput.py [--backends jax tensorflow torch]
                 [--steps 8] [--repeats 3] [--threads 2]
Config:   the reference's tiny config: 32×32×3 uint8 images from a synthetic array
          source, RandomResizedCrop (0.3, 1.0), ImageNet normalisation, batch 64,
          MultiBlockMaskGenerator(8) masks attached in the pipeline; encoder 192 wide /
          6 deep / 3 heads, patch 4, predictor 96 wide / 3 deep (as
          benchmarks/ijepa_step_time.py). 2 CPU threads.
Target:   the pipeline alone makes ≥ 5× the images per second that a train step
          consumes (DESIGN.md: data never starves the model).
Writes:   benchmarks/results/pipeline_throughput.{json,md}

Each backend runs in its own process and measures, with `keras_jepa.data` only:
1. the pipeline alone: images/s when iterating `make_pretraining_dataset` (after a
   warm-up), for the array source with and without masks and for a folder of JPEG
   files (decoding included);
2. the train step on pre-made batches (cached in memory, so the pipeline costs
   nothing): `model.fit` time per step, after a warm-up fit that compiles it;
3. the train step fed by the live pipeline: the same fit reading
   `make_pretraining_dataset` directly, so its slowdown against (2) is what the
   pipeline costs while it shares the CPU with training.
Medians of `--repeats` timings.
"""

import json
import os
import statistics
import sys
import tempfile
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

IMAGE_SIZE, PATCH_SIZE, BATCH_SIZE, NUM_IMAGES = 32, 4, 64, 4096
TARGET_RATIO = 5.0


def pipeline_images_per_second(dataset, batches, repeats, warmup=5):
    """Median images/s over `repeats` timed runs of `batches` batches."""
    iterator = iter(dataset)
    for _ in range(warmup):
        next(iterator)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(batches):
            next(iterator)
        rates.append(batches * BATCH_SIZE / (time.perf_counter() - start))
    return statistics.median(rates)


def write_jpeg_folder(root, images):
    import tensorflow as tf

    for i, image in enumerate(images):
        tf.io.write_file(os.path.join(root, f"{i:05d}.jpg"), tf.io.encode_jpeg(image, quality=90))


def worker(args):
    limit_threads(args.threads)
    import keras
    import numpy as np
    import tensorflow as tf

    configure_backend_threads(args.threads)
    import keras_jepa

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (NUM_IMAGES, IMAGE_SIZE, IMAGE_SIZE, 3), dtype="uint8")
    source = keras_jepa.data.from_arrays(images)
    generator = keras_jepa.masking.MultiBlockMaskGenerator(IMAGE_SIZE // PATCH_SIZE, seed=0)

    def pipeline(data_source, masks=True):
        return keras_jepa.data.make_pretraining_dataset(
            data_source, IMAGE_SIZE, BATCH_SIZE, generator if masks else None,
            crop_scale=(0.3, 1.0), seed=0, repeat=True,
        )

    batches = args.pipeline_batches
    rates = {
        "arrays, masks": pipeline_images_per_second(pipeline(source), batches, args.repeats),
        "arrays, no masks": pipeline_images_per_second(
            pipeline(source, masks=False), batches, args.repeats),
    }
    with tempfile.TemporaryDirectory() as folder:
        write_jpeg_folder(folder, images[:1024])
        rates["JPEG folder, masks"] = pipeline_images_per_second(
            pipeline(keras_jepa.data.from_image_folder(folder)), batches, args.repeats)

    keras.utils.set_random_seed(0)
    encoder = keras_jepa.models.ViTEncoder(
        image_size=IMAGE_SIZE, patch_size=PATCH_SIZE, hidden_dim=192, depth=6, num_heads=3)
    predictor = keras_jepa.models.JEPAPredictor.for_encoder(encoder, hidden_dim=96, depth=3)
    model = keras_jepa.models.IJEPA(encoder, predictor, total_steps=1000)
    model.compile(optimizer=keras_jepa.training.ijepa_optimizer(total_steps=1000))
    live = pipeline(source)
    premade = list(live.take(args.steps).as_numpy_iterator())
    premade = {key: np.stack([b[key] for b in premade]) for key in premade[0]}
    cached = tf.data.Dataset.from_tensor_slices(premade).cache()
    model.fit(cached.take(3), epochs=1, verbose=0)  # compile + warm up
    step_times = {"cached": [], "live": []}
    for _ in range(args.repeats):
        for mode, dataset in (("cached", cached), ("live", live)):
            start = time.perf_counter()
            model.fit(dataset, epochs=1, steps_per_epoch=args.steps, verbose=0)
            step_times[mode].append((time.perf_counter() - start) / args.steps)
    cached_step = statistics.median(step_times["cached"])
    live_step = statistics.median(step_times["live"])
    print(json.dumps([{
        "backend": keras.backend.backend(),
        "pipeline_images_per_second": rates,
        "step_seconds_cached": cached_step,
        "step_seconds_live_pipeline": live_step,
        "step_images_per_second": BATCH_SIZE / cached_step,
        "ratio": rates["arrays, masks"] * cached_step / BATCH_SIZE,
        "live_slowdown": live_step / cached_step - 1.0,
        "num_context_tokens": generator.num_context_tokens,
        "num_target_tokens": generator.num_target_tokens,
        "threads": args.threads, "steps": args.steps, "repeats": args.repeats,
        "pipeline_batches": batches,
    }]))


def main():
    parser = benchmark_parser(__doc__, steps=8, name="pipeline_throughput")
    parser.add_argument("--pipeline-batches", type=int, default=40)
    parser.add_argument("--note", default="", help="context for the table, e.g. other load")
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    forwarded = worker_args(args, "steps", "repeats", "pipeline_batches", "threads")
    rows = run_per_backend(os.path.abspath(__file__), args.backends, forwarded)
    sources = list(rows[0]["pipeline_images_per_second"])
    lines = [
        "# Input pipeline throughput vs. I-JEPA train step, tiny config",
        "",
        f"`python benchmarks/pipeline_throughput.py`, {machine()['date']}, {os.cpu_count()} CPU "
        f"cores, {args.threads} threads. 32×32×3 uint8 images, RandomResizedCrop (0.3, 1.0), "
        f"ImageNet normalisation, batch {BATCH_SIZE}, MultiBlockMaskGenerator(8) "
        f"(Kc {rows[0]['num_context_tokens']} / Kt {rows[0]['num_target_tokens']}); "
        "encoder 192/6/3, predictor 96/3, fp32, jit_compile='auto'. Pipeline images/s: "
        "iterating the pipeline alone; step: `fit` on cached batches; ratio: pipeline "
        f"(arrays, masks) / step images/s, target ≥ {TARGET_RATIO:g}×; live slowdown: "
        "`fit` fed by the pipeline against cached batches.",
    ]
    if args.note:
        lines += ["", args.note]
    lines += [
        "",
        markdown_table(
            ["backend", *(f"pipeline images/s ({s})" for s in sources), "step images/s",
             "ratio", "s/step cached", "s/step live pipeline", "live slowdown"],
            [[r["backend"], *(f"{r['pipeline_images_per_second'][s]:.0f}" for s in sources),
              f"{r['step_images_per_second']:.0f}", f"{r['ratio']:.1f}×",
              f"{r['step_seconds_cached']:.3f}", f"{r['step_seconds_live_pipeline']:.3f}",
              f"{100 * r['live_slowdown']:+.0f}%"] for r in rows]),
    ]
    met = all(r["ratio"] >= TARGET_RATIO for r in rows)
    lines += ["", f"Target ≥ {TARGET_RATIO:g}× on every backend: {'met' if met else 'NOT met'} "
              f"(lowest {min(r['ratio'] for r in rows):.1f}×)."]
    write_results(args.name, {"machine": machine(), "target_ratio": TARGET_RATIO,
                              "note": args.note, "results": rows}, lines)


if __name__ == "__main__":
    main()
