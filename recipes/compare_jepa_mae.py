"""I-JEPA against MAE: same encoder, same budget, probe accuracy over training.

Command:   KERAS_BACKEND=jax python recipes/compare_jepa_mae.py            (digits, CPU)
           KERAS_BACKEND=jax python recipes/compare_jepa_mae.py --config cifar10_vit_tiny
                                                        (CIFAR-10 through TFDS: needs the data)
           add --smoke for the wiring check (seconds)
Hardware:  2 CPU cores for the digits; a GPU for CIFAR-10.
Runtime:   digits: see recipes/outputs/compare_jepa_mae/results.md (measured there).
Result:    the linear-probe accuracy of both encoders at epoch 0 (untrained) and every
           `--probe-every` epochs, beside a probe on raw pixels; table, JSON and
           probe_curves.png in the output folder. What was measured is reported in
           results.md whichever way it goes.

The I-JEPA paper's claim to check, scaled down: JEPA learns semantic features faster
than pixel reconstruction. Both methods share `keras_jepa.experiment`'s config (encoder,
data, optimizer, epochs); only the objective differs.
"""

import argparse

from keras_jepa import experiment
from keras_jepa import studies


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="digits_micro")
    parser.add_argument("--out", default="recipes/outputs/compare_jepa_mae")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--probe-every", type=int, default=2)
    parser.add_argument("--probe", choices=("linear", "knn"), default="linear")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    config = experiment.load_config(args.config, smoke=args.smoke)
    if args.epochs is not None:
        config["epochs"] = args.epochs
    summary = studies.compare_methods(config, args.out, probe_every=args.probe_every,
                                      probe_method=args.probe)
    print(summary["table"])


if __name__ == "__main__":
    main()
