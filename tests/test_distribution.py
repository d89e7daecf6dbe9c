"""Multi-device training: keras.distribution on JAX, MirroredStrategy on TensorFlow.

The multi-device runs happen in a subprocess (`distributed_step.py`): this process has
already started its backend with one device. There, a tiny I-JEPA trains three steps on
one device and distributed, and its loss and every weight (context, EMA target,
predictor) must agree.
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from helpers import tiny_ijepa

from keras_jepa import experiment
from keras_jepa.training import distribution

HERE = os.path.dirname(os.path.abspath(__file__))
BACKEND = keras.backend.backend()
# Measured: 3e-8 on the weights, 1e-7 on the loss (float32 reductions in another order).
ATOL = 1e-5

only_jax = pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution is JAX-only here")
only_tensorflow = pytest.mark.skipif(BACKEND != "tensorflow",
                                     reason="tf.distribute needs the tensorflow backend")


def run_distributed(tmp_path, **env):
    path = tmp_path / "distributed.npz"
    environment = dict(os.environ, KERAS_BACKEND=BACKEND, TF_CPP_MIN_LOG_LEVEL="3", **env)
    done = subprocess.run([sys.executable, os.path.join(HERE, "distributed_step.py"),
                           str(path)], env=environment, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(np.load(path))


def assert_matches_single_device(result, prefix, reference="single"):
    assert int(result[f"{prefix}:steps"]) == 3
    assert result[f"{prefix}:loss"] == pytest.approx(result[f"{reference}:loss"], abs=ATOL)
    keys = [k for k in result if k.startswith(f"{prefix}:") and k.count(":") == 2]
    assert len(keys) == len(
        [k for k in result if k.startswith(f"{reference}:") and k.count(":") == 2])
    assert any(":target:" in k for k in keys)
    for key in keys:
        np.testing.assert_allclose(result[key], result[reference + key[len(prefix):]],
                                   atol=ATOL, err_msg=key)
    # The EMA ran: the target trails the context encoder instead of equalling it.
    target = [k for k in keys if ":target:" in k]
    assert max(np.abs(result[k] - result[k.replace(":target:", ":context:")]).max()
               for k in target) > 1e-3


# === Config values (every backend) ===


@pytest.mark.parametrize("value, message", [
    ("pipeline", "distribution.type"),
    ({"type": "model_parallel"}, "distribution.model_axis_size"),
    ({"type": "model_parallel", "model_axis_size": 0}, "distribution.model_axis_size"),
    ({"type": "data_parallel", "model_axis_size": 2}, "unknown keys"),
    (4, "config `distribution`"),
])
def test_bad_distribution_config_names_the_key(value, message):
    with pytest.raises(ValueError, match=message):
        distribution.parse_distribution_config(value)
    config = experiment.digits_micro_config(smoke=True)
    config["distribution"] = value
    with pytest.raises(ValueError, match="distribution"):
        experiment._set_distribution(config)


def test_distribution_config_forms():
    assert distribution.parse_distribution_config(None) is None
    assert distribution.parse_distribution_config("data_parallel") == {"type": "data_parallel"}
    spec = {"type": "model_parallel", "model_axis_size": 4}
    assert distribution.parse_distribution_config(spec) == spec


@pytest.mark.skipif(BACKEND == "jax", reason="jax supports keras.distribution")
def test_keras_distribution_helpers_refuse_other_backends():
    with pytest.raises(ValueError, match="KERAS_BACKEND=jax"):
        distribution.data_parallel()
    with pytest.raises(ValueError, match="KERAS_BACKEND=jax"):
        distribution.model_parallel(2)
    # The runner trains on one device instead of failing.
    config = experiment.digits_micro_config(smoke=True)
    config["distribution"] = {"type": "data_parallel"}
    assert experiment._set_distribution(config) is None


@pytest.mark.skipif(BACKEND != "torch", reason="torch only")
def test_torch_has_no_mirrored_strategy():
    with pytest.raises(ValueError, match="KERAS_BACKEND=tensorflow"):
        distribution.mirrored_strategy()


# === JAX ===


def expected_axes(path):
    """Megatron-style sharding of ViT blocks, stated per layer name."""
    layer, kind = path.split("/")[-2:]
    if path.split("/")[-3:-1] == ["patch_embedding", "projection"] or layer in ("qkv",
                                                                               "mlp_hidden"):
        return (None, "model") if kind == "kernel" else ("model",)
    if layer in ("attention_output", "mlp_output") and kind == "kernel":
        return ("model", None)
    return None


@only_jax
def test_vit_layout_map_shards_context_target_and_predictor_alike():
    devices = keras.distribution.list_devices()[:1]
    mesh = keras.distribution.DeviceMesh((1, 1), ("batch", "model"), devices)
    layout_map = distribution.vit_layout_map(mesh)
    model = tiny_ijepa(total_steps=4)
    sharded = 0
    for network in (model.context_encoder, model.target_encoder, model.predictor):
        for variable in network.weights:
            layout = layout_map[variable.path]
            expected = expected_axes(variable.path)
            assert (None if layout is None else tuple(layout.axes)) == expected, variable.path
            sharded += expected is not None
    # 6 per block (qkv, mlp_hidden kernel and bias; two row-parallel kernels) + 2 patch.
    assert sharded == 2 * (2 + 6 * 2) + 6
    context_paths = [v.path for v in model.context_encoder.weights]
    assert context_paths == [v.path for v in model.target_encoder.weights]


@only_jax
def test_jax_helpers_check_their_arguments():
    with pytest.raises(ValueError, match="device_mesh"):
        distribution.vit_layout_map("mesh")
    mesh = keras.distribution.DeviceMesh((1,), ("batch",), keras.distribution.list_devices()[:1])
    with pytest.raises(ValueError, match="model_axis"):
        distribution.vit_layout_map(mesh)
    with pytest.raises(ValueError, match="model_axis_size"):
        distribution.model_parallel(3)
    with pytest.raises(ValueError, match="devices"):
        distribution.data_parallel(devices=[])
    with pytest.raises(ValueError, match="KERAS_BACKEND=tensorflow"):
        distribution.mirrored_strategy()
    if len(keras.distribution.list_devices()) == 1:
        config = experiment.digits_micro_config(smoke=True)
        config["distribution"] = {"type": "model_parallel", "model_axis_size": 2}
        with pytest.raises(ValueError, match="distribution.model_axis_size"):
            experiment._set_distribution(config)
        assert keras.distribution.distribution() is None


@only_jax
def test_jax_data_and_model_parallel_fit_matches_one_device(tmp_path):
    result = run_distributed(tmp_path, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    assert int(result["devices"]) == 4
    assert_matches_single_device(result, "data_parallel")
    assert_matches_single_device(result, "model_parallel")
    specs = {k[len("spec|"):]: str(v) for k, v in result.items() if k.startswith("spec|")}
    for key, spec in specs.items():
        assert int(result[f"devices|{key}"]) == 4, key
        if key.startswith("data_parallel:"):
            assert "model" not in spec, key
    # The EMA target is sharded exactly like the context encoder, kernels split.
    target = {k: v for k, v in specs.items() if k.startswith("model_parallel:target:")}
    for key, spec in target.items():
        assert spec == specs[key.replace(":target:", ":context:")], key
    assert sum("'model'" in spec for spec in target.values()) == 2 + 6  # patch + 1 block
    assert target["model_parallel:target:0"] == "(None, 'model')"  # patch embedding


# === TensorFlow ===


@only_tensorflow
def test_mirrored_strategy_fit_matches_one_device(tmp_path):
    """With padded target slots spread unevenly over the replicas (issue 15)."""
    result = run_distributed(tmp_path)
    assert int(result["devices"]) == 2
    assert str(result["mirrored_target_type"]) == "MirroredVariable"
    assert_matches_single_device(result, "mirrored")
    # Then two batches of keras_jepa's pipeline (crops, multi-block masks) train on.
    assert int(result["pipeline:steps"]) == 3 + 2
    assert np.isfinite(result["pipeline:loss"])
    # A bad index seen by the second replica only still stops the run (issue 15).
    assert str(result["bad_batch:error"]).startswith(
        "InvalidBatchError: Training stopped at epoch 1, batch 1: the batch is invalid: "
        "`target_indices` hold values outside [0, 16)"), str(result["bad_batch:error"])
    assert int(result["bad_batch:changed"]) == 0  # nothing moved on the bad batch
    # The regularisers are statistics of the global batch: mirrored equals one device.
    for regularizer in ("sigreg", "vicreg"):
        single = float(result[f"single_{regularizer}:loss"])
        assert abs(single - float(result["single:loss"])) > 1e-3  # the term is there
        assert_matches_single_device(result, f"mirrored_{regularizer}", f"single_{regularizer}")


# === Remote run folders (recipes/cloud_tpu.md) ===


def test_keras_saving_writes_and_reads_remote_paths_through_gfile():
    # "ram://" is TensorFlow's in-memory file system: Keras treats any "scheme://" path
    # as remote and writes it through tf.io.gfile, the code path a gs:// bucket takes.
    import tensorflow as tf

    from keras_jepa.training import checkpoints

    model = tiny_ijepa(total_steps=4)
    folder = f"ram://keras_jepa_test_{BACKEND}/run"
    model.save(f"{folder}/model.keras")
    checkpoints.save_atomically(model, f"{folder}/atomic.keras")
    assert sorted(tf.io.gfile.listdir(folder)) == ["atomic.keras", "model.keras"]
    for name in ("model.keras", "atomic.keras"):
        loaded = keras.saving.load_model(f"{folder}/{name}")
        assert loaded.total_steps == 4
        for a, b in zip(model.weights, loaded.weights):
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(a),
                                          keras.ops.convert_to_numpy(b))
        tf.io.gfile.remove(f"{folder}/{name}")
