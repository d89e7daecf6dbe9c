"""Three fit steps of a tiny I-JEPA on one device and distributed, in one process.

Run as a script: `python tests/distributed_step.py OUT.npz` with
- KERAS_BACKEND=jax and XLA_FLAGS=--xla_force_host_platform_device_count=4: runs
  `single`, `data_parallel` (1-D mesh of 4) and `model_parallel` (2×2 mesh) and records
  the loss, the weights and the target encoder's shardings of each;
- KERAS_BACKEND=tensorflow: splits the CPU into 2 logical devices before TensorFlow
  starts and runs `single` and `mirrored` (MirroredStrategy over both), then trains the
  mirrored model on keras_jepa's tf.data pipeline (`pipeline`).
Used by test_distribution.py; the suite's own process cannot change its device count.
"""

import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
NUM_STEPS = 3
GLOBAL_BATCH = 4


def make_data():
    from helpers import random_batch

    batches = [random_batch(np.random.default_rng(seed), batch_size=GLOBAL_BATCH)
               for seed in range(NUM_STEPS)]
    data = {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}
    # Padded target slots, unevenly spread: in each global batch of 4 the first half
    # (replica 0 under a 2-replica MirroredStrategy) holds 8 of its 12 target slots as
    # real tokens and the second half 11. The loss is normalised by the global batch's count, so the
    # mirrored run equals one device; a per-replica count would not (issue 15).
    weights = np.ones_like(data["target_weights"])
    for start in range(0, len(weights), GLOBAL_BATCH):
        weights[start, 0, 1:] = 0.0
        weights[start, 1, 2:] = 0.0
        weights[start + 1, 0, 2] = 0.0
        weights[start + 3, 1, 0] = 0.0
    data["target_weights"] = weights
    return data


def train(prefix, result, scope=None, **options):
    """Builds, seeds and trains a tiny I-JEPA for NUM_STEPS steps; records into result.

    `options` go to `IJEPA` (e.g. `regularizer="sigreg"`).
    """
    import contextlib

    import keras
    from helpers import set_seeded_weights
    from helpers import tiny_encoder

    from keras_jepa.models import IJEPA
    from keras_jepa.models import JEPAPredictor

    keras.utils.set_random_seed(0)
    with scope or contextlib.nullcontext():
        encoder = tiny_encoder(depth=1)
        predictor = JEPAPredictor.for_encoder(encoder, hidden_dim=8, depth=1, num_heads=2)
        model = IJEPA(encoder, predictor, momentum=0.8, total_steps=10, **options)
        set_seeded_weights(model, seed=11)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.5))
    history = model.fit(make_data(), batch_size=GLOBAL_BATCH, epochs=1, shuffle=False,
                        verbose=0)
    result[f"{prefix}:loss"] = np.float64(history.history["loss"][0])
    result[f"{prefix}:steps"] = np.int64(
        keras.ops.convert_to_numpy(model.optimizer.iterations))
    for name, network in (("target", model.target_encoder),
                          ("context", model.context_encoder), ("predictor", model.predictor)):
        for index, variable in enumerate(network.weights):
            # The index, not the path: auto-named layers get a new suffix per model.
            key = f"{prefix}:{name}:{index}"
            result[key] = keras.ops.convert_to_numpy(variable.value)
            sharding = getattr(variable.value, "sharding", None)
            spec = getattr(sharding, "spec", None)
            if spec is not None:
                result[f"spec|{key}"] = np.asarray(str(tuple(spec)))
                result[f"devices|{key}"] = np.int64(len(sharding.device_set))
    return model


def run_jax():
    import keras

    from keras_jepa.training import distribution

    result = {"devices": np.int64(len(keras.distribution.list_devices()))}
    train("single", result)
    for prefix, spec in (("data_parallel", {"type": "data_parallel"}),
                         ("model_parallel", {"type": "model_parallel", "model_axis_size": 2})):
        distribution.set_distribution(spec)
        train(prefix, result)
    distribution.set_distribution(None)
    return result


def run_tensorflow():
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from keras_jepa.training import distribution

    strategy = distribution.mirrored_strategy(["/cpu:0", "/cpu:1"])
    result = {"devices": np.int64(strategy.num_replicas_in_sync)}
    train("single", result)
    model = train("mirrored", result, scope=strategy.scope())
    # The regularisers are statistics of the global batch, not of each replica's half.
    for regularizer in ("sigreg", "vicreg"):
        train(f"single_{regularizer}", result, regularizer=regularizer)
        train(f"mirrored_{regularizer}", result, scope=strategy.scope(),
              regularizer=regularizer)
    first = model.target_encoder.weights[0].value
    result["mirrored_target_type"] = np.asarray(type(first).__name__)

    # keras_jepa's own pipeline (crops and multi-block masks in tf.data), distributed.
    from keras_jepa import data
    from keras_jepa import masking

    images = np.random.default_rng(0).uniform(size=(8, 8, 8, 1)).astype("float32")
    dataset = data.make_pretraining_dataset(
        data.from_arrays(images), 8, GLOBAL_BATCH, masking.MultiBlockMaskGenerator(4, seed=0),
        mean=None, std=None, seed=0, include_labels=False)
    # A fresh step: a second input signature would otherwise retrace the cached one with
    # relaxed (None) mask shapes (tf.function's reduce_retracing), which IJEPA's
    # static-shape reshapes do not accept.
    model.train_function = None
    history = model.fit(dataset, epochs=1, verbose=0)
    result["pipeline:loss"] = np.float64(history.history["loss"][0])
    result["pipeline:steps"] = np.int64(model.optimizer.iterations.numpy())

    # A bad index in the second replica's half of the batch stops the mirrored fit: the
    # replicas combine their batch checks.
    bad = make_data()
    bad["target_indices"][3, 1, 0] = 99
    dataset = tf.data.Dataset.from_tensor_slices(bad).batch(GLOBAL_BATCH)
    model.train_function = None
    before = [v.numpy().copy() for v in model.variables + model.optimizer.variables]
    try:
        model.fit(dataset, epochs=1, verbose=0)
        result["bad_batch:error"] = np.asarray("")
    except ValueError as error:
        result["bad_batch:error"] = np.asarray(f"{type(error).__name__}: {error}")
    # The invalid batch's step changed no weight, no optimizer state, no target.
    after = [v.numpy() for v in model.variables + model.optimizer.variables]
    result["bad_batch:changed"] = np.int64(
        sum(not np.array_equal(a, b) for a, b in zip(after, before)))
    return result


if __name__ == "__main__":
    # helpers.py, and this checkout's keras_jepa ahead of any installed copy.
    sys.path[:0] = [HERE, os.path.dirname(HERE)]
    import keras

    runner = {"jax": run_jax, "tensorflow": run_tensorflow}[keras.backend.backend()]
    np.savez(sys.argv[1], **runner())
