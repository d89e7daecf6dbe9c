"""Helpers shared by the benchmark scripts: command line, thread limits, subprocess per
backend, output."""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

BACKENDS = ("jax", "tensorflow", "torch")
RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def benchmark_parser(doc, steps=None, name=None):
    """A benchmark's command line: `--backends`, `--threads` and the hidden `--worker`.

    With `steps`, also `--steps` (that default) and `--repeats` (3); with `name`, `--name`
    (the results' file name, that default). The script adds its own options.
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS))
    if steps is not None:
        parser.add_argument("--steps", type=int, default=steps)
        parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    if name is not None:
        parser.add_argument("--name", default=name)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return parser


def worker_args(args, *names):
    """The parsed options `names` as command-line words for the workers.

    A list gives its items after the flag, True the bare flag; None, False and "" are left
    out (the worker's default).
    """
    words = []
    for name in names:
        value = getattr(args, name)
        if value is None or value is False or value == "":
            continue
        words.append("--" + name.replace("_", "-"))
        if isinstance(value, list):
            words.extend(str(v) for v in value)
        elif value is not True:
            words.append(str(value))
    return words


def limit_threads(threads):
    """Limits every library's CPU threads; call before importing keras."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ[var] = str(threads)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def configure_backend_threads(threads):
    import keras

    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def run_worker(script, args, backend, env=None):
    """Runs `script *args` in a fresh process with `KERAS_BACKEND=backend`; its JSON rows."""
    worker_env = dict(os.environ, KERAS_BACKEND=backend, **(env or {}))
    done = subprocess.run([sys.executable, script, *args], env=worker_env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stderr[-4000:], file=sys.stderr)
        raise SystemExit(f"{backend} worker failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_per_backend(script, backends, extra_args, env=None):
    """Runs `script --worker` once per backend in a fresh process; returns their JSON."""
    results = []
    for backend in backends:
        results.extend(run_worker(script, ["--worker", *extra_args], backend, env))
    return results


def peak_memory_mb():
    """The device's peak allocation on a GPU (torch, jax), else this process's peak RSS."""
    backend = os.environ.get("KERAS_BACKEND")
    try:
        if backend == "torch":
            import torch

            if torch.cuda.is_available():
                return torch.cuda.max_memory_allocated() / 2**20
        if backend == "jax":
            import jax

            device = jax.devices()[0]
            if device.platform == "gpu":
                return device.memory_stats()["peak_bytes_in_use"] / 2**20
        if backend == "tensorflow":
            import tensorflow as tf

            if tf.config.list_logical_devices("GPU"):
                return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
    except Exception:  # noqa: BLE001 - fall back to the host figure
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine():
    import numpy

    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
    }


def markdown_table(header, rows):
    """`keras_jepa.runner.report.markdown_table`, imported on use: importing keras_jepa
    imports Keras, which a worker must not do before it limits its threads."""
    from keras_jepa.runner.report import markdown_table as table

    return table(header, rows)


def write_results(name, payload, table_lines):
    os.makedirs(RESULTS_DIR, exist_ok=True)
    with open(os.path.join(RESULTS_DIR, f"{name}.json"), "w") as f:
        json.dump(payload, f, indent=2)
    with open(os.path.join(RESULTS_DIR, f"{name}.md"), "w") as f:
        f.write("\n".join(table_lines) + "\n")
    print("\n".join(table_lines))
