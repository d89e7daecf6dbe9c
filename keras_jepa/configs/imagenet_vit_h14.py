"""imagenet-vit-h14: the I-JEPA reference setting, ViT-H/14 on ImageNet-1k for 300 epochs.

Command:   KERAS_BACKEND=jax python -m keras_jepa train --method ijepa --config imagenet_vit_h14 --out runs/in1k_h14_ijepa
           KERAS_BACKEND=jax python -m keras_jepa train --method mae --config imagenet_vit_h14 --out runs/in1k_h14_mae
           python -m keras_jepa evaluate --model runs/in1k_h14_ijepa/model.keras
           add --smoke for the small variant (synthetic 56 px images, a 64-wide 1-deep ViT, ~30 s on CPU)
Hardware:  the reference used 16 A100 80 GB GPUs; here, with the JAX backend and
           `keras.distribution.DataParallel` over every device: a TPU v4-32 or larger, or
           several 8-GPU hosts. Needs `imagenet2012` prepared for TFDS.
Runtime:   not measured yet; the paper reports under 72 hours for its ViT-H/14 run on 16
           A100s (625 steps/epoch × 300 epochs at batch 2048).
Result:    not measured yet. The paper reports 79.3% linear-probe top-1 for I-JEPA ViT-H/14
           at 300 epochs and 77.2% for MAE's ViT-H/14 at 1600 epochs; MAE at this config's
           300 epochs is expected lower. The sklearn probe here is a quick subset check,
           not the paper's protocol.

Data: TFDS `imagenet2012`, RandomResizedCrop (0.3–1.0) at 224 px, ImageNet normalisation;
evaluation centre crop 0.875. Encoder: ViT-H/14 (1280 wide, 32 deep, 16 heads) → 16×16
grid. I-JEPA: predictor 384 wide / 12 deep (the reference's), 4 target blocks of scale
0.15–0.2, context 0.85–1.0, EMA 0.996 → 1.0. MAE: decoder 512 wide / 8 deep (MAE's
default), mask ratio 0.75. AdamW: LR 2e-4 → 1e-3 (40 warm-up epochs) → 1e-6, weight decay
0.04 → 0.4.
"""

from keras_jepa.configs._shared import imagenet_config


def get_config(smoke=False):
    # Smoke: synthetic images, patch 14 kept; 56 px gives a 4×4 grid, the smallest that
    # still fits multi-block masks; a 64-wide 1-deep ViT, 3 steps.
    return imagenet_config(
        "imagenet_vit_h14", "huge", 14,
        predictor={"hidden_dim": 384, "depth": 12},
        decoder={"hidden_dim": 512, "depth": 8},
        ijepa_masks={"num_targets": 4, "target_scale": (0.15, 0.2),
                     "target_aspect_ratio": (0.75, 1.5), "context_scale": (0.85, 1.0)},
        smoke=smoke, smoke_image_size=56,
    )
