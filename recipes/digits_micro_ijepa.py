"""I-JEPA pretraining of a micro ViT on the bundled 8×8 digits, with a linear probe.

Command:   python recipes/digits_micro_ijepa.py            (KERAS_BACKEND=jax|tensorflow|torch)
           python recipes/digits_micro_ijepa.py --smoke    (one short epoch, for CI)
Hardware:  2 CPU cores.
Runtime:   about 1–3 minutes (backend-dependent), compilation included.
Result:    the loss falls from ~0.4 to ~0.002; the linear probe on the pooled
           target-encoder features ends above the same probe on the untrained encoder
           (0.81 vs 0.76 in recipes/outputs/compare_jepa_mae, jax) and well below raw
           pixels (0.95); the output prints all three rather than hiding the gap.
           Figures and numbers go to the output folder (default runs/digits_micro_ijepa).

Data: scikit-learn's digits (1,347 train / 450 test images, stratified fixed split),
upsampled to 16 px; patch 2 gives an 8×8 grid, the reference's tiny-config grid.
Model: micro ViT (64 wide, 4 deep, 4 heads), predictor 32 wide / 2 deep; multi-block
masks, RandomResizedCrop (0.3–1.0) and optimizer schedules with the reference's defaults.
"""

import argparse

import keras

from keras_jepa import experiment


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--learning-rate", type=float, default=None, help="peak learning rate")
    parser.add_argument("--momentum", type=float, default=None, help="initial EMA momentum")
    parser.add_argument("--crop-scale", type=float, nargs=2, default=None, metavar=("MIN", "MAX"),
                        help="RandomResizedCrop area range (the reference's only augmentation)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--out", default="runs/digits_micro_ijepa")
    parser.add_argument("--smoke", action="store_true", help="one short epoch")
    args = parser.parse_args()
    config = experiment.digits_micro_config(smoke=args.smoke)
    if args.learning_rate is not None:
        config["optimizer"].update(peak_learning_rate=args.learning_rate,
                                   start_learning_rate=args.learning_rate / 5)
    if args.momentum is not None:
        config["ijepa"]["momentum"] = args.momentum
    if args.crop_scale is not None:
        config["data"]["crop_scale"] = tuple(args.crop_scale)
    if args.seed is not None:
        config["seed"] = args.seed

    probe_data = (experiment.load_probe_arrays(config, "train"),
                  experiment.load_probe_arrays(config, "test"))
    (train_x, train_y), (test_x, test_y) = probe_data
    pixels = experiment.feature_metrics(experiment.pixel_features(train_x), train_y,
                                        experiment.pixel_features(test_x), test_y)
    keras.utils.set_random_seed(config["seed"])
    untrained = experiment.evaluate(experiment.build_model(config, "ijepa", 1), config,
                                    probe_data)
    _, results = experiment.train(config, "ijepa", args.out, epochs=args.epochs,
                                  probe_data=probe_data)
    print()
    print(experiment.comparison_table([
        {"name": "raw pixels", **pixels},
        {"name": "untrained encoder", **untrained},
        {"name": "I-JEPA encoder", **{k: v for k, v in results.items() if k != "history"}},
    ]))
    print(f"\nModel, logs, figures and results in {args.out}/")


if __name__ == "__main__":
    main()
