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

from keras_jepa import studies


def main(argv=None):
    studies.run_recipe(
        studies.compare_methods, __doc__, "recipes/outputs/compare_jepa_mae",
        arguments={"--probe-every": {"type": int, "default": 2},
                   "--probe": {"choices": ("linear", "knn"), "default": "linear"}},
        options=lambda args: {"probe_every": args.probe_every, "probe_method": args.probe},
        argv=argv)


if __name__ == "__main__":
    main()
