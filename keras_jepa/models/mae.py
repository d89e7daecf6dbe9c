"""`MAE`: the masked-autoencoder baseline, trained through I-JEPA's machinery.

Same `ViTEncoder` (no class token, positions added before the visible tokens are
gathered), same `SelfSupervisedModel` train step, optimizer and schedules, same data
pipelines and the same `encode` path as `IJEPA`, so that the two objectives are compared
on equal terms.
"""


import keras
import numpy as np
from keras import ops

from keras_jepa.checks import check_bool
from keras_jepa.checks import check_non_negative_int
from keras_jepa.checks import check_positive_number
from keras_jepa.layers import gather_tokens
from keras_jepa.masking import RandomMaskGenerator
from keras_jepa.models.encoder_contract import MAE_ENCODER_ATTRIBUTES
from keras_jepa.models.encoder_contract import check_encoder
from keras_jepa.models.feature_extraction import pooled_features
from keras_jepa.models.image_classifier import ImageClassifier
from keras_jepa.models.image_classifier import copy_encoder
from keras_jepa.models.initialization import check_init
from keras_jepa.models.initialization import reference_initialization
from keras_jepa.models.mae_decoder import MAEDecoder
from keras_jepa.models.mae_decoder import check_mask_partition
from keras_jepa.models.mae_decoder import patchify
from keras_jepa.models.mae_decoder import unpatchify
from keras_jepa.training import SelfSupervisedModel
from keras_jepa.training.base_model import deserialize_layers
from keras_jepa.training.monitors import effective_rank_tensor
from keras_jepa.training.monitors import feature_spread_tensor
from keras_jepa.training.monitors import feature_std_tensor
from keras_jepa.training.monitors import relative_tolerance
from keras_jepa.training.step_checks import BATCH_ERRORS
from keras_jepa.training.step_checks import any_outside
from keras_jepa.training.step_checks import batch_error_code
from keras_jepa.training.step_checks import check_finite_images
from keras_jepa.training.step_checks import clamp_indices
from keras_jepa.training.step_checks import finite_or_zero
from keras_jepa.training.step_checks import nan_if
from keras_jepa.training.step_checks import non_finite
from keras_jepa.training.tensor_checks import check_token_indices
from keras_jepa.training.tensor_checks import trusted_token_indices

MASK_KEYS = ("visible_indices", "masked_indices")


def unpack_images_batch(data):
    """`(images, masks or None)` from what `fit`/`evaluate`/`predict` hand a step.

    Accepts an image tensor, a dict with `images` (and optionally both mask keys;
    other keys such as `labels` are ignored) or a tuple whose first element is one of
    those (`(x,)`, `(x, y)`: labels are ignored).
    """
    if isinstance(data, (tuple, list)):
        if not data:
            raise ValueError("MAE batches must hold images; got an empty tuple.")
        data = data[0]
    if isinstance(data, dict):
        if "images" not in data:
            raise ValueError(
                "MAE batches that are dicts must have an 'images' key (and optionally "
                f"'visible_indices' and 'masked_indices'); got keys {sorted(data)}."
            )
        present = [key for key in MASK_KEYS if key in data]
        if len(present) == 1:
            missing = [key for key in MASK_KEYS if key not in data]
            raise ValueError(
                f"The batch has {present} but not {missing}: pass both mask keys or "
                "neither (the model then draws its own masks)."
            )
        masks = {key: data[key] for key in MASK_KEYS} if present else None
        return data["images"], masks
    return data, None


def _patch_statistics(patches):
    """Per-patch mean and unbiased variance over the pixels, as the MAE reference."""
    size = patches.shape[-1]
    mean = ops.mean(patches, axis=-1, keepdims=True)
    variance = ops.sum(ops.square(patches - mean), axis=-1, keepdims=True) / (size - 1)
    return mean, variance


@keras.saving.register_keras_serializable(package="keras_jepa")
class MAE(SelfSupervisedModel):
    """Masked autoencoder: reconstruct the pixels of randomly masked patches.

    One training step: each image's patches are split uniformly at random into a fixed
    number of visible and masked patches (`RandomMaskGenerator`, drawn inside the step
    from the model's seeded `keras.random.SeedGenerator` unless the batch carries
    masks); the encoder runs on the visible patches only; the decoder adds a learnable
    mask token at every masked position and predicts every patch's pixels; the loss is
    the mean squared error on the masked patches only, against each patch's pixels
    normalised by the patch's own mean and (unbiased) variance when `norm_pix_loss`.

    Batches may be image tensors `[B, H, W, C]` (e.g. `fit(images, batch_size=...)`),
    dicts with `images` (other keys are ignored), or dicts that also carry
    `visible_indices` `int32 [B, Kv]` and `masked_indices` `int32 [B, Km]`, which are
    then used as given: a pipeline can control the masks with
    `keras_jepa.data.attach_masks(dataset, model.mask_generator)`.

    Differences from the reference: the encoder has no class token (it is I-JEPA's
    encoder, so the two are compared on the same network); the decoder sees the visible
    and mask tokens in concatenated rather than unshuffled order, which attention cannot
    tell apart since every token carries its position. The state of the in-step mask
    stream (a `SeedGenerator`, which Keras itself does not save) is saved with the
    weights, so a run resumed from a checkpoint draws the masks it would have drawn.

    Args:
        encoder: a `ViTEncoder`, or any Keras layer that keeps the contract of
            `keras_jepa.models.encoder_contract` with MAE's extra attributes
            `grid_size`, `patch_size` and `num_channels` (checked by `check_encoder`).
        decoder: an `MAEDecoder` matching the encoder's grid, width, patch size and
            channels; default `MAEDecoder.for_encoder(encoder)` (half the width, a third
            of the depth).
        mask_ratio: fraction of the patches masked, in (0, 1) (reference 0.75); the
            number of visible patches is `floor(num_patches · (1 − mask_ratio))`, fixed.
        norm_pix_loss: whether targets are normalised per patch (reference: True for
            the best features).
        norm_pix_epsilon: added to the patch variance before the square root
            (reference 1e-6).
        seed: int or None; seeds the masks drawn inside the step and the numpy stream
            of `mask_generator`. The same seed gives the same masks.
        monitors: whether each train step logs the run-health monitors (default True):
            `rankme` (effective rank), `feature_std` (mean per-dimension std after
            centring and L2 normalisation) and `feature_spread` (between-image std over
            RMS size) of the batch's mean-pooled visible-token features, computed under stop-gradient at the cost of one SVD of a
            `[B, D]` matrix; see `keras_jepa.evaluation.monitors`.
        init: "default" keeps the encoder's and decoder's own initialisation (the
            I-JEPA reference's: truncated normal 0.02, depth-scaled output kernels, so
            both methods start from the same encoder in the JEPA-vs-MAE comparisons);
            "reference" re-draws them as the MAE reference's training starts:
            Xavier-uniform kernels and patch projection, mask token N(0, 0.02²)
            (`keras_jepa.models.initialization`).

    Example:
    encoder = keras_jepa.models.ViTEncoder.from_preset(
        "micro", image_size=16, patch_size=2, num_channels=1)
    model = keras_jepa.models.MAE(encoder, mask_ratio=0.75, seed=0)
    model.compile(optimizer=keras_jepa.training.ijepa_optimizer(total_steps=500))
    model.fit(images, batch_size=64, epochs=10)
    reconstructions = model.reconstruct(images[:8])
    features = model.encode(images)  # [N, 64], as IJEPA.encode

    Reference:
    - [He et al., 2022](https://arxiv.org/abs/2111.06377): Masked Autoencoders Are
      Scalable Vision Learners.
    """

    def __init__(
        self,
        encoder,
        decoder=None,
        mask_ratio=0.75,
        norm_pix_loss=True,
        norm_pix_epsilon=1e-6,
        seed=None,
        monitors=True,
        init="default",
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_init(init)
        check_encoder(encoder, MAE_ENCODER_ATTRIBUTES)
        check_non_negative_int(seed, "seed", optional=True)
        check_positive_number(norm_pix_epsilon, "norm_pix_epsilon", expected="a positive float")
        # Validates `mask_ratio` (in (0, 1), leaving a visible and a masked token).
        self.mask_generator = RandomMaskGenerator(
            encoder.num_patches, mask_ratio=mask_ratio, seed=seed
        )
        if decoder is None:
            decoder = MAEDecoder.for_encoder(encoder)
        self._check_decoder(encoder, decoder)
        patch_dim = encoder.patch_size**2 * encoder.num_channels
        if norm_pix_loss and patch_dim < 2:
            raise ValueError(
                "`norm_pix_loss=True` normalises each patch by its own variance and needs "
                f"at least 2 pixels per patch; the encoder's patches have {patch_dim}."
            )

        self.encoder = encoder
        self.decoder = decoder
        self.mask_ratio = self.mask_generator.mask_ratio
        self.norm_pix_loss = check_bool(norm_pix_loss, "norm_pix_loss")
        self.norm_pix_epsilon = float(norm_pix_epsilon)
        self.seed = None if seed is None else int(seed)
        self.monitors = check_bool(monitors, "monitors")
        self.init = init
        if init == "reference":
            reference_initialization(encoder, "mae")
            reference_initialization(decoder, "mae")
        self.num_patches = int(encoder.num_patches)
        self.grid_size = tuple(encoder.grid_size)
        self.patch_size = int(encoder.patch_size)
        self.num_channels = int(encoder.num_channels)
        self.num_visible_tokens = self.mask_generator.num_visible_tokens
        self.num_masked_tokens = self.mask_generator.num_masked_tokens
        # A model attribute, so its state is part of the model's non-trainable
        # variables: the JAX step then carries it through its state and the masks
        # change from step to step inside the compiled loop.
        self.seed_generator = keras.random.SeedGenerator(seed, name="mask_seed_generator")
        self.built = True

    @staticmethod
    def _check_decoder(encoder, decoder):
        expected = (
            ("input_dim", encoder.hidden_dim, "the encoder width (`hidden_dim`)"),
            ("grid_size", tuple(encoder.grid_size), "the encoder's `grid_size`"),
            ("patch_size", encoder.patch_size, "the encoder's `patch_size`"),
            ("num_channels", encoder.num_channels, "the encoder's `num_channels`"),
        )
        for attribute, value, meaning in expected:
            actual = getattr(decoder, attribute, None)
            if isinstance(actual, list):
                actual = tuple(actual)
            if actual != value:
                raise ValueError(
                    f"`decoder.{attribute}` ({actual!r}) must equal {meaning} ({value!r})."
                )

    # === Masks ===

    def sample_masks(self, batch_size):
        """Masks from the model's seeded in-graph stream (advances it).

        Returns:
            Dict of int32 tensors `visible_indices` `[B, Kv]`, `masked_indices` `[B, Km]`.
        """
        return self.mask_generator.sample_tensors(batch_size, seed=self.seed_generator)

    # === Saving: the mask stream's state goes with the weights ===

    def save_own_variables(self, store):
        super().save_own_variables(store)
        own = len(self._trainable_variables + self._non_trainable_variables)
        store[str(own)] = self.seed_generator.state

    def load_own_variables(self, store):
        own = len(self._trainable_variables + self._non_trainable_variables)
        # Checkpoints written before the mask stream was saved lack the extra entry.
        if str(own) in store.keys():
            self.seed_generator.state.assign(store[str(own)])
        super().load_own_variables({str(i): store[str(i)] for i in range(own)})

    def check_batch(self, batch):
        """Raises a `ValueError` unless `batch` holds images (and masks) this model takes.

        `fit`, `evaluate` and `predict` call it before the first compiled step.
        """
        images, masks = unpack_images_batch(batch)
        height, width = (g * self.patch_size for g in self.grid_size)
        expected = (height, width, self.num_channels)
        shape = tuple(getattr(images, "shape", ()))
        if len(shape) != 4 or shape[1:] != expected:
            raise ValueError(
                f"MAE `images` must have shape (batch, {height}, {width}, "
                f"{self.num_channels}) for this model's encoder, got "
                f"{shape if shape else type(images).__name__}."
            )
        for key, value in (masks or {}).items():
            check_token_indices(value, self.num_patches, key, rank=2)
        check_finite_images(images)

    def check_mask_generator(self, generator):
        """Refuses a mask generator for another number of patches than the encoder's.

        `fit` calls it with the generator whose masks `keras_jepa.data.attach_masks`
        put on the dataset.
        """
        patches = getattr(generator, "num_patches", None)
        if patches is not None and patches != self.num_patches:
            raise ValueError(
                f"The dataset's masks come from a {type(generator).__name__} for "
                f"{patches} patches but this model's encoder has {self.num_patches} "
                f"({self.grid_size[0]}×{self.grid_size[1]}): build the `mask_generator` "
                "for the model, e.g. `model.mask_generator`.")

    def batch_error_messages(self):
        """What bit `i` of the step's `batch_errors` code means (see `training.step_checks`)."""
        n = self.num_patches
        return [
            f"`visible_indices` hold values outside [0, {n}) (this model has {n} patches)",
            f"`masked_indices` hold values outside [0, {n}) (this model has {n} patches)",
            "`images` hold NaN or infinite values",
        ]

    def _guarded_inputs(self, images, visible, masked):
        """Inputs safe to compute on (indices clamped, non-finite pixels 0) and the code."""
        n = self.num_patches
        code = batch_error_code(
            [any_outside(visible, n), any_outside(masked, n), non_finite(images)])
        return (finite_or_zero(images), clamp_indices(visible, n),
                clamp_indices(masked, n), code)

    def _images_and_masks(self, data):
        images, masks = unpack_images_batch(data)
        images = ops.convert_to_tensor(images)
        if len(images.shape) != 4:
            raise ValueError(
                "MAE `images` must have rank 4 [batch, height, width, channels], got "
                f"shape {tuple(images.shape)}."
            )
        if masks is None:
            masks = self.sample_masks(ops.shape(images)[0])
        return images, masks["visible_indices"], masks["masked_indices"]

    # === The objective ===

    def predict_patches(
        self, images, visible_indices, masked_indices, training=False, return_features=False
    ):
        """Decoder output `[B, num_patches, p²·C]`, grid order, in the loss's space.

        The encoder sees only the visible patches. With `norm_pix_loss` the values are
        per-patch normalised pixels; `reconstruct` maps them back to pixels. With
        `return_features`, returns `(patches, features)`, `features` being the
        mean-pooled visible-token features `[B, D]` (stop-gradient), which the
        monitors read.
        """
        check_mask_partition(visible_indices, masked_indices, self.num_patches)
        return self._predict_patches(images, visible_indices, masked_indices, training,
                                     return_features)

    def _predict_patches(self, images, visible_indices, masked_indices, training=False,
                         return_features=False):
        """`predict_patches` of masks the caller has checked (`check_mask_partition`).

        The encoder and the decoder trust the masks here.
        """
        with trusted_token_indices():
            tokens = self.encoder(images, token_indices=visible_indices, training=training)
            patches = self.decoder(tokens, visible_indices, masked_indices, training=training)
        if return_features:
            # Pooled in float32: under mixed precision the tokens are bfloat16.
            features = ops.mean(ops.cast(tokens, "float32"), axis=1)
            return patches, ops.stop_gradient(features)
        return patches

    def _normalize_patches(self, patches):
        if not self.norm_pix_loss:
            return patches
        mean, variance = _patch_statistics(patches)
        return (patches - mean) * ops.rsqrt(variance + self.norm_pix_epsilon)

    def reconstruction_loss(self, images, predicted_patches, masked_indices):
        """Mean squared error over the masked patches only.

        Args:
            images: `[B, H, W, C]` target images.
            predicted_patches: `[B, num_patches, p²·C]`, as from `predict_patches`.
            masked_indices: `int32 [B, Km]`; no other patch enters the loss.

        Returns:
            A float32 scalar.
        """
        targets = gather_tokens(patchify(ops.cast(images, "float32"), self.patch_size),
                                masked_indices)
        predictions = gather_tokens(ops.cast(predicted_patches, "float32"), masked_indices)
        return ops.mean(ops.square(predictions - self._normalize_patches(targets)))

    def compute_ssl_loss(self, data, training=True):
        images, visible, masked, code = self._guarded_inputs(*self._images_and_masks(data))
        if not self.monitors:
            predicted = self.predict_patches(images, visible, masked, training=training)
            loss = self.reconstruction_loss(images, predicted, masked)
            return nan_if(code, loss), {BATCH_ERRORS: code}
        predicted, features = self.predict_patches(
            images, visible, masked, training=training, return_features=True
        )
        loss = nan_if(code, self.reconstruction_loss(images, predicted, masked))
        tolerance = relative_tolerance(self.encoder.compute_dtype)
        return loss, {BATCH_ERRORS: code,
                      "rankme": effective_rank_tensor(features, tolerance=tolerance),
                      "feature_std": feature_std_tensor(features),
                      "feature_spread": feature_spread_tensor(features)}

    # === Reconstructions ===

    def patches_to_images(self, images, predicted_patches, visible_indices, paste_visible=True):
        """Predicted patches → images `[B, H, W, C]` in pixel space, from what the model saw.

        With `norm_pix_loss` the model predicts each patch's *normalised* pixels (zero
        mean, unit variance per patch); it never predicts a masked patch's brightness or
        contrast. Those are taken from the visible patches only: every predicted patch
        is scaled by the RMS of the visible patches' standard deviations and shifted by
        the mean of the visible pixels (per image). The true statistics of a masked
        patch are never used, so a masked patch's pixels cannot change its
        reconstruction (scaling with them would make even an untrained model look
        good). With `paste_visible` the visible patches show the input pixels, as MAE's
        figures do.
        """
        patches = patchify(ops.cast(images, "float32"), self.patch_size)
        predicted = ops.cast(predicted_patches, "float32")
        if self.norm_pix_loss:
            visible_mean, visible_variance = _patch_statistics(
                gather_tokens(patches, ops.cast(visible_indices, "int32")))
            mean = ops.mean(visible_mean, axis=1, keepdims=True)
            variance = ops.mean(visible_variance, axis=1, keepdims=True)
            predicted = predicted * ops.sqrt(variance + self.norm_pix_epsilon) + mean
        if paste_visible:
            one_hot = ops.one_hot(ops.cast(visible_indices, "int32"), self.num_patches)
            is_visible = ops.expand_dims(ops.max(one_hot, axis=1) > 0, -1)
            predicted = ops.where(is_visible, patches, predicted)
        return unpatchify(predicted, self.patch_size, self.grid_size, self.num_channels)

    def call(self, inputs, training=False):
        """Reconstructed images `[B, H, W, C]`, visible patches pasted from the input.

        `inputs` is a batch as in `fit`; without masks they are drawn from the model's
        stream, so `predict(images)` returns reconstructions.
        """
        images, visible, masked = self._images_and_masks(inputs)
        check_mask_partition(visible, masked, self.num_patches)  # concrete: a clear error
        images, visible, masked, code = self._guarded_inputs(images, visible, masked)
        predicted = self._predict_patches(images, visible, masked, training=training)
        # A batch that breaks the contract (see `batch_error_messages`) gives NaN images;
        # `predict` raises `InvalidBatchError` naming it.
        return nan_if(code, self.patches_to_images(images, predicted, visible))

    def reconstruct(self, images, masks=None, seed=0, paste_visible=True, batch_size=256):
        """Reconstructions of `images` as a numpy array `[N, H, W, C]`.

        Masked patches show only what the model predicts from the visible ones; with
        `norm_pix_loss` their brightness and contrast come from the visible patches
        (see `patches_to_images`), not from the hidden pixels.

        Args:
            images: `[N, H, W, C]` array or tensor.
            masks: dict with `visible_indices` and `masked_indices` for all N images, or
                None to draw them with `mask_generator.sample(N, seed)` (numpy, stateless:
                the same seed gives the same masks, and training's mask stream is left
                untouched).
            seed: seed of the drawn masks.
            paste_visible: show the input pixels at visible patches.
            batch_size: images per forward pass.

        Returns:
            A float32 numpy array of the images' shape.
        """
        images = np.asarray(ops.convert_to_numpy(images))
        if masks is None:
            masks = self.mask_generator.sample(len(images), seed)
        visible = np.asarray(ops.convert_to_numpy(masks["visible_indices"]))
        masked = np.asarray(ops.convert_to_numpy(masks["masked_indices"]))
        if len(visible) != len(images) or len(masked) != len(images):
            raise ValueError(
                f"`masks` must hold one row per image ({len(images)}), got "
                f"{len(visible)} visible and {len(masked)} masked rows."
            )
        outputs = []
        for start in range(0, len(images), batch_size):
            chunk = slice(start, start + batch_size)
            predicted = self.predict_patches(images[chunk], visible[chunk], masked[chunk])
            pixels = self.patches_to_images(images[chunk], predicted, visible[chunk],
                                            paste_visible=paste_visible)
            outputs.append(ops.convert_to_numpy(pixels))
        return np.concatenate(outputs, axis=0)

    # === Features ===

    def encode(self, images, encoder="encoder", pool="mean", batch_size=256):
        """Features for downstream use: the encoder's tokens on whole images, pooled.

        The same path as `IJEPA.encode` (no masking, `training=False`), so probes on the
        two compare like with like.

        Args:
            images: `[N, H, W, C]` array or tensor.
            encoder: "encoder", the only one (MAE has no target encoder).
            pool: "mean" (average over tokens, `[N, D]`) or "none" (`[N, tokens, D]`).
            batch_size: images per forward pass.

        Returns:
            A float32 numpy array of features (also under mixed precision).
        """
        if encoder != "encoder":
            raise ValueError(
                f"MAE has a single encoder: `encoder` must be 'encoder', got {encoder!r}."
            )
        return pooled_features(self.encoder, images, pool=pool, batch_size=batch_size)

    def image_classifier(self, num_classes, **kwargs):
        """An `ImageClassifier` on a copy of the encoder (see `IJEPA.image_classifier`).

        Example:
        classifier = model.image_classifier(num_classes=10)   # fine-tunes the copy
        classifier.compile()
        classifier.fit(images, labels, epochs=5)
        """
        return ImageClassifier(copy_encoder(self.encoder), num_classes, **kwargs)

    # === Config ===

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "encoder": keras.saving.serialize_keras_object(self.encoder),
                "decoder": keras.saving.serialize_keras_object(self.decoder),
                "mask_ratio": self.mask_ratio,
                "norm_pix_loss": self.norm_pix_loss,
                "norm_pix_epsilon": self.norm_pix_epsilon,
                "seed": self.seed,
                "monitors": self.monitors,
                "init": self.init,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_layers(config, ("encoder", "decoder")))
