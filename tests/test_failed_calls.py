"""A call that raises leaves the model usable (issue 14, item 7).

On JAX, Keras detaches the variables' values while compiled steps run; an exception in
a step used to leave them detached, and every later `predict`, `encode` or `fit` failed
with "'NoneType' object is not callable". Bad data is now rejected before any step, and
an error raised inside a step gives the model its values back.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import compiled_ijepa
from helpers import compiled_mae
from helpers import random_batch

from keras_jepa.models import MAE


def _still_works(model, batch):
    """fit, predict and encode run and give finite numbers."""
    images = batch["images"]
    data = images if isinstance(model, MAE) else batch
    history = model.fit(data, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    assert np.all(np.isfinite(model.predict(data, batch_size=4, verbose=0)))
    features = model.encode(images)
    assert features.shape == (len(images), 16)
    assert np.all(np.isfinite(features))
    assert np.isfinite(model.evaluate(data, batch_size=4, verbose=0, return_dict=True)["loss"])


BAD_IJEPA_CALLS = {
    "evaluate_images_only": (
        lambda m, b: m.evaluate(b["images"], verbose=0), "must be dicts"),
    "predict_images_only": (
        lambda m, b: m.predict(b["images"], verbose=0), "must be dicts"),
    "fit_wrong_image_size": (
        lambda m, b: m.fit({**b, "images": np.zeros((4, 12, 12, 1), "float32")},
                           batch_size=4, verbose=0),
        r"must have shape \(batch, 8, 8, 1\)"),
    "dataset_wrong_image_size": (
        lambda m, b: m.evaluate(tf.data.Dataset.from_tensor_slices(
            {**b, "images": np.zeros((4, 12, 12, 1), "float32")}).batch(2), verbose=0),
        r"must have shape \(batch, 8, 8, 1\)"),
    "indices_out_of_range": (
        lambda m, b: m.evaluate({**b, "context_indices": b["context_indices"] + 100},
                                verbose=0),
        r"must lie in \[0, 16\)"),
}


def test_ijepa_rejects_bad_data_then_still_works(rng):
    model = compiled_ijepa()
    batch = random_batch(rng, batch_size=4)
    model.fit(batch, batch_size=4, epochs=1, verbose=0)
    for name, (bad_call, message) in BAD_IJEPA_CALLS.items():
        with pytest.raises(ValueError, match=message) as info:
            bad_call(model, batch)
        assert "Tracer" not in str(info.value), name
        assert np.all(np.isfinite(model.encode(batch["images"]))), name
    _still_works(model, batch)


def test_mae_rejects_wrong_image_shape_then_still_works(rng):
    model = compiled_mae()
    batch = random_batch(rng, batch_size=4)
    bad = np.zeros((4, 12, 12, 1), "float32")
    for method in ("evaluate", "predict", "fit"):
        with pytest.raises(ValueError, match=r"must have shape \(batch, 8, 8, 1\)"):
            getattr(model, method)(bad, batch_size=4, verbose=0)
        assert np.all(np.isfinite(model.encode(batch["images"]))), method
    with pytest.raises(ValueError, match=r"must have shape \(batch, 8, 8, 1\)"):
        model.predict(np.zeros((4, 8, 8), "float32"), verbose=0)  # rank 3
    _still_works(model, batch)


def test_error_inside_a_compiled_step_leaves_the_model_usable(rng):
    # A generator is not looked at before the step: the error comes from inside it.
    model = compiled_mae()
    batch = random_batch(rng, batch_size=4)
    model.fit(batch["images"], batch_size=4, epochs=1, verbose=0)
    before = model.encode(batch["images"])

    def bad_images():
        while True:
            yield (np.zeros((4, 12, 12, 1), "float32"),)

    with pytest.raises(ValueError, match="must have shape"):
        model.evaluate(bad_images(), steps=1, verbose=0)
    np.testing.assert_allclose(model.encode(batch["images"]), before, rtol=1e-5, atol=1e-6)
    _still_works(model, batch)


class _Interrupt(Exception):
    pass


def test_error_in_a_callback_mid_fit_keeps_the_trained_weights(rng):
    class RaiseAtBatch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                raise _Interrupt()

    model = compiled_ijepa()
    batch = random_batch(rng, batch_size=4)
    before = model.encode(batch["images"], encoder="context")
    with pytest.raises(_Interrupt):
        model.fit(batch, batch_size=2, epochs=1, verbose=0, callbacks=[RaiseAtBatch()])
    after = model.encode(batch["images"], encoder="context")
    assert np.all(np.isfinite(after))
    assert not np.allclose(after, before)  # the two completed steps are kept
    _still_works(model, batch)
