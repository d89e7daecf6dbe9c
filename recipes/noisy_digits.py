"""The noisy-feature experiment on real images: a loud, weakly predictable distractor.

Command:   KERAS_BACKEND=jax python recipes/noisy_digits.py [--smoke]
Hardware:  2 CPU cores.
Runtime:   see recipes/outputs/noisy_digits/results.md (measured there).
Result:    probe accuracy of I-JEPA and MAE (and raw pixels) against the distractor's
           strength; noisy_features.png, results.md, results.json.

Design (docs/theory.md, 'Data with prescribed λ and ρ': the static two-view model on
patches): every image gets `strength · (z + ξ_p) · G`, a ±1 pixel checkerboard G whose
amplitude is one shared value z per image (variance ρ: the part one patch predicts of
another) plus an independent value ξ_p per patch (variance 1 − ρ). Its variance per pixel is
strength², its covariance between patches strength²·ρ (the λ MAE is driven by) and its
regression coefficient between patches ρ (what JEPA is driven by). With ρ = 0.2 and strength
up to 2 (digit pixels have a standard deviation of ~0.4) it is the loudest signal in the
image and a weakly predictable one; it carries no label information. The theory expects MAE,
which learns by λ, to spend its features on it, and JEPA, which learns by ρ, to degrade
less. See `keras_jepa.data.distractors`.
"""

from keras_jepa import studies


def main(argv=None):
    studies.run_recipe(
        studies.noisy_feature_sweep, __doc__, "recipes/outputs/noisy_digits",
        arguments={"--strengths": {"type": float, "nargs": "+",
                                   "default": [0.0, 0.5, 1.0, 2.0]},
                   "--predictability": {"type": float, "default": 0.2}},
        # --smoke keeps the first two strengths.
        options=lambda args: {
            "strengths": args.strengths[:2] if args.smoke else args.strengths,
            "predictability": args.predictability},
        argv=argv)


if __name__ == "__main__":
    main()
