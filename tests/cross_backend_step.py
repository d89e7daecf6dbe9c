"""One I-JEPA loss evaluation and one SGD fit step from numpy-seeded weights.

Run as a script (`python tests/cross_backend_step.py OUT.npz` with KERAS_BACKEND set) or
imported; used by test_cross_backend.py to compare the backends with each other.
"""

import os
import sys

import numpy as np


def run_step():
    import keras
    from helpers import random_batch
    from helpers import set_seeded_weights
    from helpers import tiny_ijepa

    keras.utils.set_random_seed(0)
    model = tiny_ijepa(momentum=0.8, total_steps=10)
    set_seeded_weights(model, seed=11)
    batch = random_batch(np.random.default_rng(7))
    loss = float(keras.ops.convert_to_numpy(model.compute_ssl_loss(batch, training=False)[0]))
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1))
    history = model.fit(batch, batch_size=len(batch["images"]), epochs=1, verbose=0)
    result = {"loss": np.float64(loss), "fit_loss": np.float64(history.history["loss"][0])}
    for prefix, network in (("target", model.target_encoder), ("context", model.context_encoder),
                            ("predictor", model.predictor)):
        for i, w in enumerate(network.weights):
            result[f"{prefix}/{i}"] = keras.ops.convert_to_numpy(w)
    result["recipe_losses"] = recipe_loss_curve(batch)
    return result


def recipe_loss_curve(batch, steps=6):
    """The main job's I-JEPA + SIGReg recipe (reference optimizer and schedules, EMA) for
    a few fit steps: the loss curve the MNIST study measured on one backend."""
    import keras
    from helpers import set_seeded_weights
    from helpers import tiny_ijepa

    from keras_jepa.training import ijepa_optimizer

    keras.utils.set_random_seed(0)
    model = tiny_ijepa(regularizer="sigreg", regularizer_weight=0.05, total_steps=steps,
                       monitors=False)
    set_seeded_weights(model, seed=12, scale=0.1)
    model.compile(optimizer=ijepa_optimizer(total_steps=steps, warmup_steps=2,
                                            peak_learning_rate=1e-2))
    history = model.fit(batch, batch_size=len(batch["images"]), epochs=steps, verbose=0)
    return np.asarray(history.history["loss"], np.float64)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    np.savez(sys.argv[1], **run_step())
