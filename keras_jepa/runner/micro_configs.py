"""The micro-ViT configs on the bundled grey-scale datasets, defined once here.

`digits_micro_config` is the named config `digits_micro` (the quickstart's smallest run),
`mnist_micro_config` the named config `mnist_micro` (the main comparison); the modules in
`keras_jepa/configs/` return them.
"""


def digits_micro_config(smoke=False):
    """The quickstart's config: micro ViT on the bundled digits (16 px, patch 2).

    The named config `digits_micro` (`keras_jepa/configs/digits_micro.py`) returns it.

    Args:
        smoke: one epoch of three steps with 1-deep nets, instead of 20 epochs.

    Returns:
        A config dict.

    Example:
    config = keras_jepa.experiment.digits_micro_config(smoke=True)
    """
    return _micro_config("digits_micro", "digits", image_size=16, patch_size=2,
                         batch_size=64, epochs=20, smoke=smoke)


def _micro_config(name, source, image_size, patch_size, batch_size, epochs, smoke):
    """A micro-ViT config on a bundled grey-scale dataset (digits or MNIST)."""
    config = {
        "name": name,
        "data": {
            "source": source,
            "image_size": image_size,
            "num_channels": 1,
            "crop_scale": (0.3, 1.0),
            "normalize": False,
        },
        "encoder": {"preset": "micro", "patch_size": patch_size},
        "predictor": {"hidden_dim": 32, "depth": 2},
        "decoder": {},
        "masks": {"ijepa": {}, "mae": {"mask_ratio": 0.75}},
        "ijepa": {"momentum": 0.996},
        "batch_size": batch_size,
        "epochs": epochs,
        "steps_per_epoch": None,
        "optimizer": {"peak_learning_rate": 1e-3, "start_learning_rate": 2e-4,
                      "weight_decay": (0.04, 0.4)},
        "eval": {"probe_train_examples": None, "probe_test_examples": None},
        "distribution": None,
        "seed": 0,
    }
    if smoke:
        # Wiring, not results: one epoch of 3 steps, 1-deep nets, a smaller probe.
        config["encoder"]["depth"] = 1
        config["predictor"]["depth"] = 1
        config["epochs"] = 1
        config["steps_per_epoch"] = 3
        config["eval"] = {"probe_train_examples": 500, "probe_test_examples": 200}
    return config


# The SIGReg setting of the comparison rows (`mnist_micro_config`): LeJEPA's regulariser
# on the pooled context features, with the weight the MNIST study chose
# (recipes/mnist_study.md).
SIGREG = {"regularizer": "sigreg", "regularizer_weight": 0.05}


def mnist_micro_config(smoke=False):
    """The main job's config: micro ViT on the bundled MNIST-5k (28 px, patch 4).

    The quickstart trains every entry of `compare` on one encoder and budget: I-JEPA as
    the reference defines it, I-JEPA with the SIGReg regulariser, SIGReg alone (the
    control: the same regulariser without the prediction loss, so the table shows what
    the I-JEPA prediction itself adds) and MAE. The named config
    `mnist_micro` (`keras_jepa/configs/mnist_micro.py`) returns it.

    Args:
        smoke: one epoch of three steps with 1-deep nets and a small probe.

    Returns:
        A config dict.

    Example:
    config = keras_jepa.experiment.mnist_micro_config(smoke=True)
    """
    # 15 epochs × 31 steps: the four runs, their probe curves and the baselines fit the
    # main job's 10-minute budget on 2 CPU cores with the install.
    config = _micro_config("mnist_micro", "mnist", image_size=28, patch_size=4,
                           batch_size=128, epochs=15, smoke=smoke)
    config["compare"] = [
        {"label": "I-JEPA", "method": "ijepa"},
        {"label": "I-JEPA + SIGReg", "method": "ijepa", "ijepa": dict(SIGREG)},
        {"label": "SIGReg alone (control)", "method": "ijepa",
         "ijepa": {**SIGREG, "prediction_weight": 0.0}},
        {"label": "MAE", "method": "mae"},
    ]
    config["eval"]["curve_every"] = 1 if smoke else 3
    return config
