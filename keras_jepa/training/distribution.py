"""Multi-device training with Keras's own machinery, per backend.

- **JAX** (GPUs, TPUs): `keras.distribution`. `data_parallel()` replicates the weights and
  splits each batch over a 1-D device mesh; `model_parallel(model_axis_size)` also shards
  the ViT weights (attention, MLP and patch-embedding kernels, see `vit_layout_map`) over a
  `model` mesh axis, for ViT-L/H/g. The distribution must be set (`set_distribution`)
  *before* any Keras object (model, optimizer, metric) is created.
- **TensorFlow** (GPUs): `tf.distribute.MirroredStrategy` (`mirrored_strategy()`); build
  and compile the model inside `strategy.scope()` and feed batches of the *global* size.
  `keras.distribution` is not used on TensorFlow: Keras 3.15's TensorFlow implementation of
  it is an unfinished prototype.
- **torch**: one device only; Keras 3.15's `fit` has no multi-device torch path, and the
  helpers here raise a `ValueError` on torch.

The context encoder, the EMA target encoder (a copy with the same variable paths, so the
same layouts apply to it) and the predictor are all covered by the same layout map.

Example:
import keras_jepa.training.distribution as kdist
kdist.set_distribution({"type": "model_parallel", "model_axis_size": 4})  # first!
model = keras_jepa.models.IJEPA(encoder, predictor)   # built sharded
"""

import keras

DISTRIBUTION_TYPES = ("data_parallel", "model_parallel")
BATCH_AXIS = "batch"
MODEL_AXIS = "model"

# `(regex on variable.path, axes)`: Megatron-style sharding of each transformer block
# (column-parallel qkv and MLP-in, row-parallel attention output and MLP-out) and of the
# patch embedding's output width. Everything else (norms, row-parallel biases, the
# predictor's projections and mask token) is replicated.
_VIT_LAYOUTS = (
    (r".*patch_embedding/projection/kernel", (None, "{model}")),
    (r".*patch_embedding/projection/bias", ("{model}",)),
    (r".*/qkv/kernel", (None, "{model}")),
    (r".*/qkv/bias", ("{model}",)),
    (r".*/attention_output/kernel", ("{model}", None)),
    (r".*/mlp_hidden/kernel", (None, "{model}")),
    (r".*/mlp_hidden/bias", ("{model}",)),
    (r".*/mlp_output/kernel", ("{model}", None)),
)


def _require_jax(what):
    backend = keras.backend.backend()
    if backend == "jax":
        return
    if backend == "tensorflow":
        advice = ("on tensorflow use `mirrored_strategy()` and build and compile the model "
                  "inside `strategy.scope()`")
    else:
        advice = ("Keras 3.15's `fit` trains torch models on one device only; run without "
                  "a distribution, or use KERAS_BACKEND=jax for multi-device training")
    raise ValueError(
        f"`{what}` needs KERAS_BACKEND=jax (keras.distribution), got backend "
        f"{backend!r}: {advice}."
    )


def _devices(devices):
    if devices is None:
        return keras.distribution.list_devices()
    devices = list(devices)
    if not devices:
        raise ValueError("`devices` must be None or a non-empty list of devices, got [].")
    return devices


def data_parallel(devices=None, auto_shard_dataset=True):
    """Data parallelism on JAX: replicated weights, batches split over a 1-D mesh.

    Args:
        devices: device names such as "gpu:0" (default: every device JAX sees, on every
            host after `keras.distribution.initialize()`).
        auto_shard_dataset: let Keras split a tf.data pipeline between hosts (multi-host).

    Returns:
        A `keras.distribution.DataParallel` over a mesh with the one axis "batch".

    Raises:
        ValueError: on a backend other than jax, or for an empty `devices`.

    Example:
    keras.distribution.set_distribution(keras_jepa.training.distribution.data_parallel())
    """
    _require_jax("data_parallel")
    devices = _devices(devices)
    mesh = keras.distribution.DeviceMesh((len(devices),), (BATCH_AXIS,), devices)
    return keras.distribution.DataParallel(device_mesh=mesh,
                                           auto_shard_dataset=auto_shard_dataset)


def vit_layout_map(device_mesh, model_axis=MODEL_AXIS):
    """Shards the ViT weights of keras_jepa models over one mesh axis.

    Matches the variable paths of `ViTEncoder` (context and EMA target encoder alike),
    `JEPAPredictor` and `MAEDecoder` blocks: `qkv` and `mlp_hidden` kernels (and biases)
    are split by output columns, `attention_output` and `mlp_output` kernels by input rows,
    the patch embedding by its output width. Other variables are replicated. Every sharded
    width (3·D, the MLP width, D) must be divisible by the axis size.

    Args:
        device_mesh: a `keras.distribution.DeviceMesh` holding `model_axis`.
        model_axis: name of the mesh axis the weights are split over.

    Returns:
        A `keras.distribution.LayoutMap` (regexes matched in full against `variable.path`).

    Example:
    mesh = keras.distribution.DeviceMesh((2, 4), ("batch", "model"))
    layout_map = keras_jepa.training.distribution.vit_layout_map(mesh)
    distribution = keras.distribution.ModelParallel(layout_map=layout_map,
                                                    batch_dim_name="batch")
    """
    if not isinstance(device_mesh, keras.distribution.DeviceMesh):
        raise ValueError(
            f"`device_mesh` must be a keras.distribution.DeviceMesh, got "
            f"{type(device_mesh).__name__}."
        )
    if model_axis not in device_mesh.axis_names:
        raise ValueError(
            f"`model_axis` {model_axis!r} is not an axis of the mesh "
            f"{tuple(device_mesh.axis_names)}."
        )
    layout_map = keras.distribution.LayoutMap(device_mesh)
    for pattern, axes in _VIT_LAYOUTS:
        layout_map[pattern] = tuple(None if a is None else model_axis for a in axes)
    return layout_map


def model_parallel(model_axis_size, devices=None, auto_shard_dataset=True):
    """Data plus model parallelism on JAX over a 2-D ("batch", "model") mesh.

    The devices form a `(len(devices) // model_axis_size, model_axis_size)` mesh; the
    ViT weights are sharded over "model" (`vit_layout_map`) and batches split over
    "batch". `model_axis_size=len(devices)` is pure model (tensor) parallelism.

    Args:
        model_axis_size: devices that share one copy of the weights; must divide the
            device count.
        devices: device names (default: every device JAX sees).
        auto_shard_dataset: let Keras split a tf.data pipeline between hosts.

    Returns:
        A `keras.distribution.ModelParallel`.

    Raises:
        ValueError: on a backend other than jax, or when `model_axis_size` does not
            divide the number of devices.

    Example:
    keras.distribution.set_distribution(
        keras_jepa.training.distribution.model_parallel(model_axis_size=4))
    """
    _require_jax("model_parallel")
    devices = _devices(devices)
    if isinstance(model_axis_size, bool) or not isinstance(model_axis_size, int) or \
            model_axis_size < 1 or len(devices) % model_axis_size:
        raise ValueError(
            f"`model_axis_size` must be a positive int dividing the {len(devices)} "
            f"devices, got {model_axis_size!r}."
        )
    mesh = keras.distribution.DeviceMesh(
        (len(devices) // model_axis_size, model_axis_size), (BATCH_AXIS, MODEL_AXIS), devices)
    return keras.distribution.ModelParallel(
        layout_map=vit_layout_map(mesh), batch_dim_name=BATCH_AXIS,
        auto_shard_dataset=auto_shard_dataset)


def parse_distribution_config(value):
    """Checks the runner's `distribution` config value and returns it as a dict.

    Accepted: None (one device), "data_parallel", "model_parallel" (then
    `model_axis_size` is required, so only the dict form works), or a dict
    `{"type": "data_parallel"}` / `{"type": "model_parallel", "model_axis_size": 4}`.

    Args:
        value: the config value.

    Returns:
        None, or a dict with `type` (and `model_axis_size` for model parallelism).

    Raises:
        ValueError: naming the `distribution` key and what was expected.

    Example:
    spec = parse_distribution_config({"type": "model_parallel", "model_axis_size": 4})
    """
    if value is None:
        return None
    if isinstance(value, str):
        value = {"type": value}
    if not isinstance(value, dict):
        raise ValueError(
            f"config `distribution` must be None, a type name or a dict with `type`, got "
            f"{value!r}."
        )
    kind = value.get("type")
    if kind not in DISTRIBUTION_TYPES:
        raise ValueError(
            f"config `distribution.type` must be one of {DISTRIBUTION_TYPES}, got {kind!r}."
        )
    allowed = {"type"} | ({"model_axis_size"} if kind == "model_parallel" else set())
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ValueError(
            f"config `distribution` has unknown keys {unknown} for type {kind!r}; "
            f"allowed: {sorted(allowed)}."
        )
    if kind == "model_parallel":
        size = value.get("model_axis_size")
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(
                "config `distribution.model_axis_size` must be a positive int (devices "
                f"per copy of the weights), got {size!r}."
            )
    return dict(value)


def distribution_from_config(value, devices=None):
    """The `keras.distribution.Distribution` a runner config asks for (JAX only).

    Args:
        value: the config's `distribution` (see `parse_distribution_config`).
        devices: devices to use (default: all).

    Returns:
        A `DataParallel` or `ModelParallel`, or None for `value=None`.

    Raises:
        ValueError: for a bad value, a backend other than jax, or a model axis that does
            not divide the device count.

    Example:
    distribution = distribution_from_config({"type": "data_parallel"})
    """
    spec = parse_distribution_config(value)
    if spec is None:
        return None
    if spec["type"] == "data_parallel":
        return data_parallel(devices)
    try:
        return model_parallel(spec["model_axis_size"], devices)
    except ValueError as error:
        raise ValueError(f"config `distribution.model_axis_size`: {error}") from None


def set_distribution(value, devices=None):
    """Builds the distribution a config value asks for and makes it Keras's global one.

    Call it before creating any Keras object (JAX fails with "Received incompatible
    devices" otherwise).

    Args:
        value: a `keras.distribution.DataParallel` or `ModelParallel`, or a config value (see
            `parse_distribution_config`).
        devices: devices to use for a config value (default: all).

    Returns:
        The distribution set (None when `value` is None, which clears it).

    Example:
    keras_jepa.training.distribution.set_distribution({"type": "data_parallel"})
    """
    if isinstance(value, (keras.distribution.DataParallel, keras.distribution.ModelParallel)):
        _require_jax("set_distribution")
        distribution = value
    else:
        distribution = distribution_from_config(value, devices)
    keras.distribution.set_distribution(distribution)
    return distribution


def mirrored_strategy(devices=None):
    """`tf.distribute.MirroredStrategy` for the TensorFlow backend (one host, many GPUs).

    Build and compile the model inside `strategy.scope()` and batch the data at the
    global batch size; `fit` splits each batch between the replicas and the optimizer
    sums their gradients (keras_jepa's train step scales each replica's loss by
    `1 / num_replicas_in_sync`, so the update equals a one-device step on the whole batch).
    I-JEPA's loss is normalised by the real target tokens of the *global* batch
    (`replica_mean`), so padded masks spread unevenly over the replicas still give the
    one-device loss, and the batch checks of the step combine every replica's.

    Args:
        devices: device names such as ["/gpu:0", "/gpu:1"] (default: every GPU, or the CPU).

    Returns:
        A `tf.distribute.MirroredStrategy`.

    Raises:
        ValueError: on a backend other than tensorflow.

    Example:
    strategy = keras_jepa.training.distribution.mirrored_strategy()
    with strategy.scope():
        model = keras_jepa.models.IJEPA(encoder_fn(), predictor_fn())
        model.compile(optimizer=keras_jepa.training.ijepa_optimizer(total_steps=1000))
    model.fit(dataset, epochs=10)
    """
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise ValueError(
            f"`mirrored_strategy` needs KERAS_BACKEND=tensorflow, got {backend!r}; on jax "
            "use `data_parallel()` / `model_parallel()`; torch trains on one device."
        )
    import tensorflow as tf

    return tf.distribute.MirroredStrategy(devices)


def _replica_context():
    """The `tf.distribute` replica context of a step run by several replicas, or None."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    return context


def replica_sum(value):
    """The sum of `value` over the replicas of a `tf.distribute` step; else `value`.

    On JAX (`keras.distribution`) a step sees the whole global batch, and torch trains
    on one device, so only TensorFlow's `MirroredStrategy` needs it: a loss
    normalised by a count (of real target tokens, say) must use the count of the
    global batch, not each replica's share, to equal the one-device loss.
    """
    context = _replica_context()
    return value if context is None else context.all_reduce("SUM", value)


def replica_mean(value):
    """The mean of `value` over the replicas of a `tf.distribute` step; else `value`."""
    context = _replica_context()
    return value if context is None else context.all_reduce("MEAN", value)
