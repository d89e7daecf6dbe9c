"""What the named ViT configs on RGB images share, written once.

`cifar10_vit_tiny`, `imagenet_vit_b16` and `imagenet_vit_h14` differ only in their data,
network sizes, batch and probe sizes; each module passes its values to `vit_config`, and
`smoke_variant` makes the small variant of any of them. The leading underscore keeps
this module out of the named configs (`keras_jepa.experiment.available_configs`).
"""


def tfds_data(name, test_split, image_size, **options):
    """A TFDS RGB source with the reference's crop (0.3–1.0) and ImageNet normalisation.

    `options` (e.g. `crop_fraction`, `min_image_size`) go in before `normalize`.
    """
    return {
        "source": "tfds",
        "name": name,
        "splits": {"train": "train", "test": test_split},
        "data_dir": None,
        "image_size": image_size,
        "num_channels": 3,
        "crop_scale": (0.3, 1.0),
        **options,
        "normalize": True,
    }


def vit_config(name, data, encoder, predictor, decoder, ijepa, batch_size,
               probe_train_examples, ijepa_masks=None, distribution=None):
    """A full-size config: 300 epochs with the reference's AdamW schedules.

    LR 2e-4 → 1e-3 over 40 warm-up epochs, then cosine to 1e-6; weight decay
    0.04 → 0.4; MAE's mask ratio 0.75; a 10,000-image probe test set.
    """
    return {
        "name": name,
        "data": data,
        "encoder": encoder,
        "predictor": predictor,
        "decoder": decoder,
        "masks": {"ijepa": ijepa_masks or {}, "mae": {"mask_ratio": 0.75}},
        "ijepa": ijepa,
        "batch_size": batch_size,
        "epochs": 300,
        "steps_per_epoch": None,
        "optimizer": {"peak_learning_rate": 1e-3, "start_learning_rate": 2e-4,
                      "final_learning_rate": 1e-6, "weight_decay": (0.04, 0.4),
                      "warmup_epochs": 40},
        "eval": {"probe_train_examples": probe_train_examples,
                 "probe_test_examples": 10000},
        "distribution": distribution,
        "seed": 0,
    }


def smoke_variant(config, image_size, encoder=None, head_width=None):
    """Turns a `vit_config` into its small variant, in place; returns it.

    Wiring, not results: synthetic images of `image_size` px (no data needed), 1-deep
    nets, one epoch of 3 steps, the optimizer's default warm-up share, the whole probe.
    `encoder` replaces the encoder (else it is kept, 1 deep); `head_width`, when given,
    is the predictor's and decoder's width (else theirs are kept).
    """
    config["data"] = {"source": "synthetic", "image_size": image_size, "num_channels": 3,
                      "num_examples": 256, "num_test_examples": 128, "num_classes": 4,
                      "crop_scale": (0.3, 1.0), "normalize": True}
    config["encoder"] = encoder if encoder is not None else {**config["encoder"], "depth": 1}
    for part in ("predictor", "decoder"):
        if head_width is not None:
            config[part] = {"hidden_dim": head_width, "depth": 1}
        else:
            config[part] = {**config[part], "depth": 1}
    config.update(batch_size=32, epochs=1, steps_per_epoch=3)
    del config["optimizer"]["warmup_epochs"]  # ijepa_optimizer's default share
    config["eval"] = {"probe_train_examples": None, "probe_test_examples": None}
    return config


def imagenet_config(name, preset, patch_size, predictor, decoder, ijepa_masks=None,
                    smoke=False, smoke_image_size=32, smoke_patch_size=None):
    """A ViT on TFDS `imagenet2012` at 224 px, batch 2048, data-parallel, EMA 0.996 → 1.0.

    Its smoke variant is a 64-wide 1-deep ViT of the same preset (patch
    `smoke_patch_size`, default the config's) on `smoke_image_size` px, 32-wide heads.
    """
    config = vit_config(
        name,
        tfds_data("imagenet2012", "validation", 224, crop_fraction=0.875,
                  min_image_size=1),
        encoder={"preset": preset, "patch_size": patch_size},
        predictor=predictor,
        decoder=decoder,
        ijepa={"momentum": 0.996, "final_momentum": 1.0},
        batch_size=2048,
        probe_train_examples=25000,
        ijepa_masks=ijepa_masks,
        distribution="data_parallel",
    )
    if smoke:
        encoder = {"preset": preset, "patch_size": smoke_patch_size or patch_size,
                   "hidden_dim": 64, "depth": 1, "num_heads": 4}
        smoke_variant(config, smoke_image_size, encoder=encoder, head_width=32)
    return config
