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
- dtype policies: under "mixed_bfloat16" the output is bfloat16 and the weights stay
  float32 (skipped for layers whose output is not floating).
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
    out = layer(*inputs)
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
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
