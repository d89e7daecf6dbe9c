"""cifar10-vit-tiny: I-JEPA and MAE pretraining of a ViT-Tiny/4 on CIFAR-10, linear probe.

Command:   KERAS_BACKEND=jax python -m keras_jepa train --method ijepa --config cifar10_vit_tiny --out runs/cifar10_ijepa
           KERAS_BACKEND=jax python -m keras_jepa train --method mae --config cifar10_vit_tiny --out runs/cifar10_mae
           python -m keras_jepa evaluate --model runs/cifar10_ijepa/model.keras
           add --smoke for the small variant (synthetic 32 px images, 1-deep nets, ~30 s on CPU)
Hardware:  1 GPU (any with >= 16 GB); needs CIFAR-10 prepared for TFDS
           (`tfds build cifar10`, or $TFDS_DATA_DIR pointing at it): nothing is downloaded.
Runtime:   not measured yet (no GPU and no CIFAR-10 on the machines this was written on);
           estimate: 195 steps/epoch × 300 epochs ≈ 58k steps, a few hours on one A100.
Result:    not measured yet. The smoke variant is what CI runs. Expectation to check, not a
           claim: both probes clearly above the untrained encoder's; the sklearn probe on
           pooled features is a quick check, not the reference's linear-probe protocol.

Data: TFDS `cifar10` (50k train / 10k test), RandomResizedCrop (0.3–1.0) at 32 px, ImageNet
normalisation. Encoder: ViT-Tiny (192 wide, 12 deep, 3 heads), patch 4 → 8×8 grid (the
digits quickstart's grid). I-JEPA: predictor 96 wide / 6 deep, reference multi-block masks;
MAE: decoder 96 wide / 4 deep, mask ratio 0.75. AdamW with the reference's schedules.
"""

from keras_jepa.configs._shared import smoke_variant
from keras_jepa.configs._shared import tfds_data
from keras_jepa.configs._shared import vit_config


def get_config(smoke=False):
    config = vit_config(
        "cifar10_vit_tiny",
        tfds_data("cifar10", "test", 32),
        encoder={"preset": "tiny", "patch_size": 4},
        predictor={"hidden_dim": 96, "depth": 6},
        decoder={"hidden_dim": 96, "depth": 4},
        ijepa={"momentum": 0.996},
        batch_size=256,
        probe_train_examples=10000,
    )
    if smoke:
        # Synthetic 32 px images, the same widths 1 deep, 3 steps.
        smoke_variant(config, image_size=32)
    return config
