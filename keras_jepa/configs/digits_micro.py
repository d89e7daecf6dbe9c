"""digits-micro: I-JEPA and MAE on the bundled 8×8 digits with one micro ViT and budget.

Command:   KERAS_BACKEND=jax python -m keras_jepa quickstart          (both methods + table)
           python -m keras_jepa train --method ijepa|mae --config digits_micro --out DIR
           add --smoke for the small variant (one epoch of 3 steps, 1-deep nets, a
           500/200-image probe: ~30 s in-process, ~45 s as a fresh command)
Hardware:  2 CPU cores, no accelerator.
Runtime:   quickstart, both methods at 20 epochs × 21 steps, probes and figures: 130 s
           with jax on 2 cores (measured from a fresh clone; I-JEPA fit 59 s, MAE fit 36 s),
           2 min 22 s with the install.
Result:    measured with jax (1,347 train / 450 test digits, 16 px, patch 2 → 8×8 grid;
           linear probe = keras_jepa.evaluation.linear_probe, kNN k=20):

           | features          | loss first → last | linear probe | kNN   | RankMe |
           |-------------------|-------------------|--------------|-------|--------|
           | raw pixels        |                   | 0.951        | 0.976 | 34.1   |
           | untrained encoder |                   | 0.771        | 0.382 | 2.8    |
           | I-JEPA encoder    | 0.398 → 0.0016    | 0.813        | 0.627 | 4.6    |
           | MAE encoder       | 0.678 → 0.533     | 0.738        | 0.462 | 2.7    |

           I-JEPA's probe ends above the untrained encoder's and MAE's; neither comes near
           raw pixels: the micro encoder on 64 tokens learns position more than content
           (recipes/outputs/compare_jepa_mae/pca_ijepa.png). The table says so rather than
           hiding it.

Data: scikit-learn's digits, upsampled to 16 px, kept in [0, 1]; RandomResizedCrop
(0.3–1.0) for both methods. Encoder: micro ViT (64 wide, 4 deep, 4 heads). I-JEPA:
predictor 32 wide / 2 deep, multi-block masks with the reference's defaults. MAE: decoder
`MAEDecoder.for_encoder` defaults (32 wide, 1 deep), mask ratio 0.75. Optimizer: the
reference's AdamW schedules (warm-up + cosine LR, cosine weight decay).
"""


from keras_jepa.experiment import digits_micro_config


def get_config(smoke=False):
    # The quickstart's default (`keras_jepa.experiment` holds it); this module names it.
    return digits_micro_config(smoke)
