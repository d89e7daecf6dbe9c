"""I-JEPA pretraining of a micro ViT on the bundled 8×8 digits, with a linear probe.

Command:   python recipes/digits_micro_ijepa.py            (KERAS_BACKEND=jax|tensorflow|torch)
           python recipes/digits_micro_ijepa.py --smoke    (one short epoch, for CI)
Hardware:  2 CPU cores.
Runtime:   about 1–3 minutes (backend-dependent), compilation included.
Result:    the loss falls from ~0.4 to ~0.01; a logistic-regression probe on the pooled
           target-encoder features scores a little above the same probe on the untrained
           encoder (~0.87 vs ~0.85 test accuracy) and well below raw pixels (~0.96); the
           features' effective rank (RankMe) ends low (~5 of 64): at this scale the
           encoder learns mostly position, not content — the output says so rather than
           hiding it. Figures and numbers go to the output folder
           (default runs/digits_micro_ijepa).

Data: scikit-learn's digits (1,347 train / 450 test images, stratified fixed split),
upsampled to 16 px; patch 2 gives an 8×8 grid, the reference's tiny-config grid.
Model: micro ViT (64 wide, 4 deep, 4 heads), predictor 32 wide / 2 deep; multi-block
masks, RandomResizedCrop (0.3–1.0) and optimizer schedules with the reference's defaults.
"""

import argparse
import json
import os
import time

import keras
import numpy as np

import keras_jepa


def probe_accuracy(features, train, test):
    """Test accuracy of a logistic-regression probe on features of the images."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    train_x, test_x = features(train[0]), features(test[0])
    scaler = StandardScaler().fit(train_x)
    probe = LogisticRegression(max_iter=3000).fit(scaler.transform(train_x), train[1])
    return float(probe.score(scaler.transform(test_x), test[1]))


def effective_rank(features):
    """RankMe: exp(entropy) of the normalised singular values of centred features.

    A collapsed encoder (every image mapped to nearly the same feature) has a rank
    near 1; a healthy one uses a good share of its width.
    """
    centred = features - features.mean(0)
    s = np.linalg.svd(centred, compute_uv=False)
    p = s / s.sum()
    return float(np.exp(-(p * np.log(p + 1e-12)).sum()))


def save_loss_curve(history, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(np.arange(1, len(history["loss"]) + 1), history["loss"], marker="o")
    ax.set_xlabel("epoch")
    ax.set_ylabel("I-JEPA loss (smooth L1)")
    ax.set_title(f"micro ViT on digits, backend {keras.backend.backend()}")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="peak learning rate")
    parser.add_argument("--weight-decay", type=float, nargs=2, default=(0.04, 0.4),
                        metavar=("START", "END"), help="cosine weight-decay schedule")
    parser.add_argument("--momentum", type=float, default=0.996, help="initial EMA momentum")
    parser.add_argument("--crop-scale", type=float, nargs=2, default=(0.3, 1.0), metavar=("MIN", "MAX"),
                        help="RandomResizedCrop area range (the reference's only augmentation)")
    parser.add_argument("--out", default="runs/digits_micro_ijepa")
    parser.add_argument("--smoke", action="store_true", help="one short epoch")
    args = parser.parse_args()
    if args.smoke:
        args.epochs = 1
    os.makedirs(args.out, exist_ok=True)
    keras.utils.set_random_seed(args.seed)

    image_size, patch_size = 16, 2
    train = keras_jepa.data.load_digits("train", image_size)
    test = keras_jepa.data.load_digits("test", image_size)
    generator = keras_jepa.masking.MultiBlockMaskGenerator(
        grid_size=image_size // patch_size, seed=args.seed)
    dataset = keras_jepa.data.digits_dataset(args.batch_size, generator, "train", image_size,
                                             seed=args.seed, crop_scale=tuple(args.crop_scale))
    steps_per_epoch = len(train[0]) // args.batch_size
    if args.smoke:
        dataset, steps_per_epoch = dataset.take(3), 3
    total_steps = steps_per_epoch * args.epochs

    encoder = keras_jepa.models.ViTEncoder.from_preset(
        "micro", image_size=image_size, patch_size=patch_size, num_channels=1)
    predictor = keras_jepa.models.JEPAPredictor.for_encoder(encoder, hidden_dim=32, depth=2)
    model = keras_jepa.models.IJEPA(encoder, predictor, momentum=args.momentum,
                                    total_steps=total_steps)
    model.compile(optimizer=keras_jepa.training.ijepa_optimizer(
        total_steps=total_steps, peak_learning_rate=args.learning_rate,
        start_learning_rate=args.learning_rate / 5, weight_decay=tuple(args.weight_decay)))
    print(f"backend {keras.backend.backend()}; {generator}; "
          f"{model.count_params():,} parameters; {total_steps} steps")

    pixels = probe_accuracy(lambda x: x.reshape(len(x), -1), train, test)
    before = probe_accuracy(model.encode, train, test)
    start = time.perf_counter()
    history = model.fit(dataset, epochs=args.epochs, verbose=1).history
    seconds = time.perf_counter() - start
    after = probe_accuracy(model.encode, train, test)
    rank = effective_rank(model.encode(test[0]))

    results = {
        "backend": keras.backend.backend(),
        "epochs": args.epochs,
        "steps": total_steps,
        "train_seconds": round(seconds, 1),
        "first_loss": float(history["loss"][0]),
        "last_loss": float(history["loss"][-1]),
        "probe_accuracy_untrained": before,
        "probe_accuracy_pretrained": after,
        "probe_accuracy_pixels": pixels,
        "effective_rank": rank,
        "mask_generator": generator.get_config(),
    }
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({**results, "history": {k: [float(v) for v in vs] for k, vs in history.items()}}, f, indent=2)
    save_loss_curve(history, os.path.join(args.out, "loss.png"))
    model.save(os.path.join(args.out, "ijepa_digits_micro.keras"))

    print()
    print("| backend | epochs | train s | loss first → last | probe: pixels | untrained ViT | "
          "I-JEPA ViT | RankMe |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {results['backend']} | {args.epochs} | {seconds:.0f} | "
          f"{results['first_loss']:.4f} → {results['last_loss']:.4f} | {pixels:.3f} | "
          f"{before:.3f} | {after:.3f} | {rank:.1f} of {encoder.hidden_dim} |")
    print(f"\nSaved model, loss curve and results to {args.out}/")


if __name__ == "__main__":
    main()
