"""Building a run: I-JEPA's mask generator, the model, the optimizer, the distribution."""

import keras

from keras_jepa import masking
from keras_jepa import models
from keras_jepa import training
from keras_jepa.runner.config import ExperimentError
from keras_jepa.runner.config import check_method

# I-JEPA's mask generators by config name (`masks.ijepa.generator`): multi-block and the
# I-JEPA paper's masking ablations.
IJEPA_MASK_GENERATORS = {
    "multi_block": masking.MultiBlockMaskGenerator,
    "rasterized": masking.RasterizedMaskGenerator,
    "block": masking.BlockMaskGenerator,
    "random": masking.RandomTargetMaskGenerator,
}


def grid_size(config):
    """Patches per side of the config's encoder."""
    return config["data"]["image_size"] // config["encoder"]["patch_size"]


def make_mask_generator(config):
    """I-JEPA's mask generator for the config: `masks.ijepa.generator` names it
    (one of `IJEPA_MASK_GENERATORS`, default "multi_block"); the other keys of
    `masks.ijepa` are its arguments.

    Example:
    generator = keras_jepa.experiment.make_mask_generator(config)
    """
    options = dict(config["masks"]["ijepa"])
    name = options.pop("generator", "multi_block")
    if name not in IJEPA_MASK_GENERATORS:
        raise ExperimentError(
            f"config `masks.ijepa.generator` must be one of {sorted(IJEPA_MASK_GENERATORS)}, "
            f"got {name!r}.")
    return IJEPA_MASK_GENERATORS[name](grid_size=grid_size(config), seed=config["seed"],
                                       **options)


def build_model(config, method, total_steps):
    """An uncompiled I-JEPA or MAE on the config's encoder (same encoder for both)."""
    check_method(method)
    encoder_config = dict(config["encoder"])
    preset = encoder_config.pop("preset")
    encoder = models.ViTEncoder.from_preset(
        preset, image_size=config["data"]["image_size"],
        num_channels=config["data"].get("num_channels", 3), **encoder_config)
    if method == "ijepa":
        predictor = models.JEPAPredictor.for_encoder(encoder, **config["predictor"])
        return models.IJEPA(encoder, predictor, total_steps=total_steps,
                            **config.get("ijepa", {}))
    decoder = models.MAEDecoder.for_encoder(encoder, **config["decoder"])
    return models.MAE(encoder, decoder, seed=config["seed"], **config["masks"]["mae"])


def build_optimizer(config, total_steps):
    options = dict(config["optimizer"])
    if isinstance(options.get("weight_decay"), list):
        options["weight_decay"] = tuple(options["weight_decay"])
    warmup_epochs = options.pop("warmup_epochs", None)
    if warmup_epochs is not None:
        # Warm-up in epochs, as the reference states it (40 of 300), not as a share of the
        # run: a shortened run (--epochs) keeps the same warm-up length.
        options["warmup_steps"] = int(round(total_steps * warmup_epochs / config["epochs"]))
        if options["warmup_steps"] > total_steps:
            raise ExperimentError(
                f"config `optimizer.warmup_epochs` ({warmup_epochs}) exceeds the run's "
                f"{config['epochs']} epochs; lower it or raise `epochs`.")
    return training.ijepa_optimizer(total_steps=total_steps, **options)


def _set_distribution(config):
    """Sets the multi-device training the config's `distribution` asks for (JAX).

    None: one device. "data_parallel" or `{"type": "data_parallel"}`: batches split over
    every device (`keras.distribution.DataParallel`). `{"type": "model_parallel",
    "model_axis_size": k}`: also the ViT weights sharded over groups of k devices (see
    `keras_jepa.training.distribution`). On tensorflow and torch, and for data
    parallelism on a single JAX device, the run uses one device and says so. Called
    before any Keras object is created.

    Raises:
        ExperimentError: for a bad value, naming the `distribution` key.
    """
    from keras_jepa.training import distribution as distribution_lib

    try:
        spec = distribution_lib.parse_distribution_config(config.get("distribution"))
        if spec is None:
            return None
        backend = keras.backend.backend()
        devices = keras.distribution.list_devices() if backend == "jax" else []
        if backend != "jax" or (spec["type"] == "data_parallel" and len(devices) < 2):
            print(f"distribution: {spec['type']} asked; running on one device (backend "
                  f"{backend}, keras.distribution needs jax and several devices).")
            return None
        distribution = distribution_lib.set_distribution(spec, devices)
    except ValueError as error:
        raise ExperimentError(str(error)) from None
    print(f"distribution: {spec['type']} over {len(devices)} devices, mesh "
          f"{dict(zip(distribution.device_mesh.axis_names, distribution.device_mesh.shape))}")
    return distribution
