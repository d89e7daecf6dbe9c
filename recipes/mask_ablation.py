"""The I-JEPA paper's masking ablation at digits scale, plus embedding vs pixel targets.

Command:   KERAS_BACKEND=jax python recipes/mask_ablation.py [--smoke]
Hardware:  2 CPU cores.
Runtime:   see recipes/outputs/mask_ablation/results.md (measured there).
Result:    one row per pretraining — I-JEPA with multi-block, rasterized (one quadrant
           predicts the other three), block (one large target block, context its
           complement) and random (random target patches, context the complement) masks,
           and MAE (pixel targets) — with the linear-probe accuracy and RankMe of each
           encoder; a mask figure per strategy; results.md and results.json.

Same encoder, data, optimizer and epochs for every row (`keras_jepa.experiment`'s
config); only the masks (and for MAE the target) change.
"""

import argparse

from keras_jepa import experiment
from keras_jepa import studies


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="digits_micro")
    parser.add_argument("--out", default="recipes/outputs/mask_ablation")
    parser.add_argument("--generators", nargs="+", default=list(studies.ABLATION_GENERATORS))
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    config = experiment.load_config(args.config, smoke=args.smoke)
    if args.epochs is not None:
        config["epochs"] = args.epochs
    summary = studies.mask_ablation(config, args.out, generators=args.generators)
    print(summary["table"])


if __name__ == "__main__":
    main()
