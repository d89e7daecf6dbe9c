"""Under `mixed_bfloat16`, features for evaluation and monitors are float32 and honest."""

import keras
import ml_dtypes
import numpy as np
from helpers import random_batch
from helpers import set_seeded_weights
from helpers import tiny_encoder
from helpers import tiny_ijepa

from keras_jepa.evaluation import ProbeCallback
from keras_jepa.evaluation import knn_accuracy
from keras_jepa.evaluation import linear_probe
from keras_jepa.models import MAE
from keras_jepa.training import monitors


def _with_policy(policy, make):
    previous = keras.config.dtype_policy()
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        return make()
    finally:
        keras.mixed_precision.set_dtype_policy(previous)


def _labelled_images(rng, n=24, classes=3):
    labels = np.arange(n) % classes
    # Each class has its own bright quadrant, so the probes have something to find.
    images = rng.normal(scale=0.1, size=(n, 8, 8, 1)).astype("float32")
    for i, label in enumerate(labels):
        images[i, 4 * (label % 2):4 * (label % 2) + 4, 4 * (label // 2):4 * (label // 2) + 4] += 1
    return images, labels


def test_encode_is_float32_and_close_to_the_float32_model(mixed_bfloat16, rng):
    images, _ = _labelled_images(rng)
    model = tiny_ijepa(total_steps=4)
    assert model.target_encoder.compute_dtype == "bfloat16"
    set_seeded_weights(model, seed=1)
    reference = _with_policy("float32", lambda: tiny_ijepa(total_steps=4))
    set_seeded_weights(reference, seed=1)
    for encoder in ("target", "context"):
        features = model.encode(images, encoder=encoder)
        assert features.dtype == np.float32
        # bf16 compute: close to float32 on the same weights, to bf16 rounding.
        np.testing.assert_allclose(features, reference.encode(images, encoder=encoder),
                                   rtol=0.05, atol=0.05)
    assert model.encode(images, pool="none").dtype == np.float32
    mae = MAE(tiny_encoder(depth=1), mask_ratio=0.5, seed=0)
    assert mae.encoder.compute_dtype == "bfloat16"
    assert mae.encode(images).dtype == np.float32


def test_probes_work_on_mixed_precision_features(mixed_bfloat16, rng):
    images, labels = _labelled_images(rng)
    model = tiny_ijepa(total_steps=4)
    train, test = model.encode(images[:18]), model.encode(images[18:])
    knn = knn_accuracy(train, labels[:18], test, labels[18:], k=3)
    result = linear_probe(train, labels[:18], test, labels[18:], epochs=3, batch_size=8)
    # The probe computes in float32 whatever the global policy, so it gives what it
    # gives under float32.
    assert {layer.compute_dtype for layer in result.model.layers[1:]} == {"float32"}
    float32_result = _with_policy("float32", lambda: linear_probe(
        train, labels[:18], test, labels[18:], epochs=3, batch_size=8))
    assert result.accuracy == float32_result.accuracy
    np.testing.assert_allclose(result.history["loss"], float32_result.history["loss"],
                               rtol=1e-5)
    assert knn == knn_accuracy(train, labels[:18], test, labels[18:], k=3)


def test_probes_accept_bfloat16_arrays(rng):
    train = rng.normal(size=(12, 4)).astype("float32")
    test = rng.normal(size=(6, 4)).astype("float32")
    labels = np.arange(18) % 2
    as_bf16 = lambda x: x.astype(ml_dtypes.bfloat16)  # noqa: E731
    rounded = lambda x: as_bf16(x).astype("float32")  # noqa: E731
    assert knn_accuracy(as_bf16(train), labels[:12], as_bf16(test), labels[12:], k=3) == \
        knn_accuracy(rounded(train), labels[:12], rounded(test), labels[12:], k=3)


def test_probe_callback_under_mixed_precision(mixed_bfloat16, rng):
    images, labels = _labelled_images(rng)
    model = tiny_ijepa(total_steps=4, monitors=False)
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    callback = ProbeCallback(images[:18], labels[:18], images[18:], labels[18:],
                             method="knn", k=3)
    history = model.fit(random_batch(rng), batch_size=3, epochs=1, verbose=0,
                        callbacks=[callback]).history
    assert 0.0 <= history["probe_acc"][0] <= 1.0


def _low_variation_batch(rng, batch_size=16, scale=0.01):
    """Images that differ from one another only slightly, along two directions."""
    batch = random_batch(rng, batch_size=batch_size)
    base, directions = rng.normal(size=(1, 8, 8, 1)), rng.normal(size=(2, 8, 8, 1))
    coefficients = rng.normal(size=(batch_size, 2, 1, 1, 1))
    batch["images"] = (base + scale * (coefficients * directions).sum(1)).astype("float32")
    return batch


def test_rankme_monitor_does_not_read_bf16_rounding_as_rank(rng):
    batch = _low_variation_batch(rng)
    ranks = {}
    for policy in ("float32", "mixed_bfloat16"):
        model = _with_policy(policy, lambda: tiny_ijepa(total_steps=4))
        set_seeded_weights(model, seed=5, scale=0.1)
        logs = model.compute_ssl_loss(batch, training=False)[1]
        ranks[policy] = float(keras.ops.convert_to_numpy(logs["rankme"]))
    # The images vary along two directions: float32 features have a rank of a few. With
    # bfloat16 rounding counted as rank the monitor read several times more.
    assert ranks["float32"] < 4.0
    assert ranks["mixed_bfloat16"] <= ranks["float32"] + 0.25, ranks


def test_relative_tolerance_follows_the_compute_dtype(rng):
    assert monitors.relative_tolerance("float32") == monitors.RELATIVE_TOLERANCE
    assert monitors.relative_tolerance("bfloat16") == 2.0**-9
    assert monitors.relative_tolerance("float16") == 2.0**-12
    # Rank-2 features plus bf16-sized noise: the float32 floor counts the noise as rank,
    # the bfloat16 one does not.
    signal = 0.05 * rng.normal(size=(32, 2)) @ rng.normal(size=(2, 16))
    features = 10.0 + signal + 0.02 * rng.uniform(-1, 1, size=(32, 16))
    noisy = float(monitors.effective_rank_tensor(features.astype("float32")))
    floored = float(monitors.effective_rank_tensor(
        features.astype("float32"), tolerance=monitors.relative_tolerance("bfloat16")))
    clean = float(monitors.effective_rank_tensor(signal + 10.0))
    assert noisy > clean + 2.5
    assert abs(floored - clean) < 0.2
