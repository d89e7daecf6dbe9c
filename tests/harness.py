"""One harness for layer and network tests: what every keras_jepa layer must do.

`run_layer_test(make, inputs, expected_shape, tmp_path)` checks, for a layer or
network built by `make(**extra_kwargs)` and called as `layer(*inputs)`:

- config round trip: `from_config(get_config())` gives the same config;
- symbolic call: `compute_output_spec` on `keras.KerasTensor`s gives `expected_shape`
  (None for the batch) and the compute dtype;
- eager call: the output has `expected_shape` and finite values;
- a copy built from the config with the same weights gives the same output;
- saving: `.keras` (for a `keras.Model`) or `.weights.h5`, loaded into a fresh copy,
  gives the same output;
- one compiled training step (`fit` of a small functional model around the layer on a
  mean-square loss) changes every trainable weight;
- dtype policies: under "mixed_bfloat16" the layer computes in bfloat16 (its output is
  bfloat16, or float32 for a classifier head) and the weights stay float32.

`run_model_test(make, data, expected_shape, tmp_path)` does the same for a whole
self-supervised model (`IJEPA`, `MAE`) built by `make()`, called on `data` (a batch
dict or an image array) and trained with `fit(data)`:

- output shape (eager and symbolic) and the config round trip;
- saving and training (`run_model_saving_test`): `.keras` and `.weights.h5` give the
  same outputs, `encode` features and loss; one compiled step of `fit` moves every
  trainable weight; a model saved after it continues in step with the original
  (weights, optimizer state and step counter all restored);
- dtype policies (`run_model_precision_test`): built under the global policy
  "mixed_bfloat16", the networks compute in bfloat16 while the weights, the optimizer
  state and the loss stay float32.
"""

import keras
import numpy as np
from keras import ops


def _numpy(value):
    return np.asarray(ops.convert_to_numpy(value))


def _spec(value):
    value = np.asarray(value)
    return keras.KerasTensor((None,) + value.shape[1:], dtype=str(value.dtype))


def _same_weights(source, target):
    for a, b in zip(source.weights, target.weights):
        b.assign(a.value)


def run_config_test(layer):
    config = layer.get_config()
    copy = type(layer).from_config(config)
    assert copy.get_config() == config
    return copy


def run_symbolic_test(layer, inputs, expected_shape):
    out = layer.compute_output_spec(*[_spec(x) for x in inputs])
    assert tuple(out.shape) == (None,) + tuple(expected_shape[1:]), out.shape
    assert keras.backend.standardize_dtype(out.dtype) == layer.compute_dtype


def _functional(layer, inputs):
    symbolic = [keras.Input(shape=np.asarray(x).shape[1:], dtype=str(np.asarray(x).dtype))
                for x in inputs]
    return keras.Model(symbolic, layer(*symbolic))


def run_saving_test(layer, inputs, expected, tmp_path):
    if isinstance(layer, keras.Model):
        path = tmp_path / "layer.keras"
        layer.save(path)
        loaded = keras.saving.load_model(path)
    else:  # a layer: its weights through a functional model around it
        path = tmp_path / "layer.weights.h5"
        _functional(layer, inputs).save_weights(path)
        loaded = type(layer).from_config(layer.get_config())
        _functional(loaded, inputs).load_weights(path)
    np.testing.assert_allclose(_numpy(loaded(*inputs)), expected, rtol=1e-5, atol=1e-6)


def run_training_test(make, inputs):
    layer = make()
    model = _functional(layer, inputs)
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
    before = [_numpy(w) for w in layer.trainable_weights]
    # A random target: a constant one would give no gradient through a final LayerNorm.
    output = _numpy(layer(*inputs))
    target = np.random.default_rng(0).normal(size=output.shape).astype("float32")
    data = [np.asarray(x) for x in inputs]
    model.fit(data if len(data) > 1 else data[0], target, epochs=1,
              batch_size=len(data[0]), verbose=0)
    after = [_numpy(w) for w in layer.trainable_weights]
    unchanged = [w.path for w, a, b in zip(layer.trainable_weights, after, before)
                 if np.array_equal(a, b)]
    assert not unchanged, f"weights not trained: {unchanged}"


def run_precision_test(make, inputs):
    layer = make(dtype="mixed_bfloat16")
    assert layer.compute_dtype == "bfloat16"
    out = layer(*inputs)
    # bfloat16, or float32 for a head that returns its logits in float32 for the loss.
    assert keras.backend.standardize_dtype(out.dtype) in ("bfloat16", "float32")
    assert all(keras.backend.standardize_dtype(w.dtype) == "float32" for w in layer.weights)
    assert np.all(np.isfinite(_numpy(ops.cast(out, "float32"))))


def run_layer_test(make, inputs, expected_shape, tmp_path, training=True, precision=True):
    """All the checks above for the layer `make()` called as `layer(*inputs)`."""
    keras.utils.set_random_seed(0)
    layer = make()
    out = _numpy(layer(*inputs))
    assert out.shape == tuple(expected_shape), out.shape
    assert np.all(np.isfinite(out))
    copy = run_config_test(layer)
    copy(*inputs)
    _same_weights(layer, copy)
    np.testing.assert_allclose(_numpy(copy(*inputs)), out, rtol=1e-6, atol=1e-6)
    run_symbolic_test(layer, inputs, expected_shape)
    run_saving_test(layer, inputs, out, tmp_path)
    if training:
        run_training_test(make, inputs)
    if precision:
        run_precision_test(make, inputs)


# === Whole models ===


def _encoder_features(model, images):
    return np.asarray(model.encode(images, batch_size=len(images)))


def _loss(model, data):
    batch = data if isinstance(data, dict) else {"images": data}
    return _numpy(model.compute_ssl_loss(batch, training=False)[0])


def _images(data):
    return np.asarray(data["images"] if isinstance(data, dict) else data)


def _assert_same_model(loaded, model, data, same_config=True):
    check = np.testing.assert_array_equal
    assert type(loaded) is type(model)
    if same_config:  # a fresh `make()` differs in its automatic layer names only
        assert loaded.get_config() == model.get_config()
    check(_numpy(loaded(data)), _numpy(model(data)))
    check(_encoder_features(loaded, _images(data)), _encoder_features(model, _images(data)))
    check(_loss(loaded, data), _loss(model, data))


def run_model_saving_test(make, data, tmp_path):
    """`.keras` and `.weights.h5` round trips, before and after a step of `fit` (which
    must move every trainable weight)."""
    model = make()
    path = tmp_path / "model.keras"
    model.save(path)
    _assert_same_model(keras.saving.load_model(path), model, data)
    weights = tmp_path / "model.weights.h5"
    model.save_weights(weights)
    fresh = make()
    fresh.load_weights(weights)
    _assert_same_model(fresh, model, data, same_config=False)

    # One compiled step of `fit` moves every trainable weight. Adam: its first step moves
    # every weight with a non-zero gradient by about the learning rate (an SGD step on a
    # LayerNorm scale can be lost in float32 rounding).
    model.compile(optimizer=keras.optimizers.AdamW(1e-2))
    before = [_numpy(w) for w in model.trainable_weights]
    history = model.fit(data, batch_size=len(_images(data)), epochs=1, shuffle=False,
                        verbose=0).history
    assert np.isfinite(history["loss"][0])
    unchanged = [w.path for w, b in zip(model.trainable_weights, before)
                 if np.array_equal(_numpy(w), b)]
    assert not unchanged, f"weights not trained: {unchanged}"

    # A compiled model saved after that step continues exactly as the original.
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) == 1
    for each in (model, loaded):
        each.fit(data, batch_size=len(_images(data)), epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.weights, loaded.weights):
        assert a.path == b.path
        np.testing.assert_allclose(_numpy(b), _numpy(a), rtol=1e-6, atol=1e-6, err_msg=a.path)


def run_model_precision_test(make, data):
    """Under the global "mixed_bfloat16" policy: bf16 compute, float32 state and loss."""
    previous = keras.config.dtype_policy()
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        model = make()
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
    networks = [layer for layer in model._flatten_layers(include_self=False, recursive=False)]
    assert networks and all(n.compute_dtype == "bfloat16" for n in networks), [
        (n.name, n.compute_dtype) for n in networks]
    out = model(data)
    # Predictions in the compute dtype, or cast to float32 for the user (MAE's images).
    assert keras.backend.standardize_dtype(out.dtype) in ("bfloat16", "float32")
    assert np.all(np.isfinite(_numpy(ops.cast(out, "float32"))))
    model.compile(optimizer=keras.optimizers.AdamW(1e-3))
    history = model.fit(data, batch_size=len(_images(data)), epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])
    float_state = [v for v in model.weights + model.optimizer.variables
                   if "int" not in keras.backend.standardize_dtype(v.dtype)]
    assert {keras.backend.standardize_dtype(v.dtype) for v in float_state} == {"float32"}
    features = model.encode(_images(data))
    assert features.dtype == np.float32 and np.all(np.isfinite(features))


def run_model_test(make, data, expected_shape, tmp_path, precision=True):
    """All the model checks above for the self-supervised model `make()` on `data`."""
    keras.utils.set_random_seed(0)
    model = make()
    out = _numpy(model(data))
    assert out.shape == tuple(expected_shape), out.shape
    assert np.all(np.isfinite(out))
    if isinstance(data, dict):
        spec = {key: _spec(value) for key, value in data.items()}
        symbolic = model.compute_output_spec(spec)
    else:
        symbolic = model.compute_output_spec(_spec(data))
    assert tuple(symbolic.shape) == (None,) + tuple(expected_shape[1:]), symbolic.shape
    run_config_test(model)
    run_model_saving_test(make, data, tmp_path)
    if precision:
        run_model_precision_test(make, data)
