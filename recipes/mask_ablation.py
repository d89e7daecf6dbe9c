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

from keras_jepa import studies


def main(argv=None):
    studies.run_recipe(
        studies.mask_ablation, __doc__, "recipes/outputs/mask_ablation",
        arguments={"--generators": {"nargs": "+",
                                    "default": list(studies.ABLATION_GENERATORS)}},
        options=lambda args: {"generators": args.generators}, argv=argv)


if __name__ == "__main__":
    main()
