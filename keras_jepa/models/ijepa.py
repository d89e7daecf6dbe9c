"""`IJEPA`: the image joint-embedding predictive architecture, trained with `fit`."""

import contextlib
import inspect

import keras
from keras import ops

from keras_jepa.checks import check_bool
from keras_jepa.checks import check_non_negative_number
from keras_jepa.checks import check_number
from keras_jepa.checks import check_positive_int
from keras_jepa.layers import gather_tokens
from keras_jepa.models import feature_regularizers
from keras_jepa.models.encoder_contract import check_encoder
from keras_jepa.models.encoder_contract import copy_architecture
from keras_jepa.models.feature_extraction import pooled_features
from keras_jepa.models.image_classifier import ImageClassifier
from keras_jepa.models.image_classifier import copy_encoder
from keras_jepa.models.initialization import check_init
from keras_jepa.models.initialization import reference_initialization
from keras_jepa.training import LinearSchedule
from keras_jepa.training import SelfSupervisedModel
from keras_jepa.training import copy_weights
from keras_jepa.training import ema_update
from keras_jepa.training import no_gradient
from keras_jepa.training import pair_variables
from keras_jepa.training.base_model import check_not_empty
from keras_jepa.training.base_model import deserialize_layers
from keras_jepa.training.distribution import replica_mean
from keras_jepa.training.monitors import batch_std
from keras_jepa.training.monitors import content_blind_loss_tensor
from keras_jepa.training.monitors import effective_rank_tensor
from keras_jepa.training.monitors import feature_spread_tensor
from keras_jepa.training.monitors import feature_std_tensor
from keras_jepa.training.monitors import position_share_tensor
from keras_jepa.training.monitors import relative_distance
from keras_jepa.training.monitors import relative_tolerance
from keras_jepa.training.step_checks import BATCH_ERRORS
from keras_jepa.training.step_checks import any_outside
from keras_jepa.training.step_checks import batch_error_code
from keras_jepa.training.step_checks import check_finite_images
from keras_jepa.training.step_checks import check_weight_values
from keras_jepa.training.step_checks import clamp_indices
from keras_jepa.training.step_checks import finite_or_zero
from keras_jepa.training.step_checks import nan_if
from keras_jepa.training.step_checks import non_finite
from keras_jepa.training.tensor_checks import check_token_indices
from keras_jepa.training.tensor_checks import trusted_token_indices

MASK_KEYS = ("context_indices", "target_indices", "target_weights")
LOSSES = ("smooth_l1", "l2")
TARGET_MODES = ("ema", "no_stop_gradient", "context_stop_gradient")


def unpack_batch(data):
    """The batch dict of a `fit`/`evaluate` step (a dict, or a 1-tuple holding one)."""
    if isinstance(data, (tuple, list)) and len(data) >= 1 and isinstance(data[0], dict):
        data = data[0]
    if not isinstance(data, dict):
        raise ValueError(
            "I-JEPA batches must be dicts with keys 'images', 'context_indices', "
            f"'target_indices' and 'target_weights'; got {_describe(data)}."
        )
    missing = [k for k in ("images",) + MASK_KEYS if k not in data]
    if missing:
        raise ValueError(
            f"The batch is missing {missing}; expected keys 'images', "
            "'context_indices', 'target_indices', 'target_weights'."
        )
    return data


def _describe(data):
    shape = getattr(data, "shape", None)
    if shape is not None:
        return f"a tensor of shape {tuple(shape)}"
    return type(data).__name__


def normalize_features(x, epsilon=1e-5):
    """LayerNorm without scale or offset over the last axis (the I-JEPA target)."""
    x = ops.cast(x, "float32")
    mean = ops.mean(x, axis=-1, keepdims=True)
    variance = ops.mean(ops.square(x - mean), axis=-1, keepdims=True)
    return (x - mean) * ops.rsqrt(variance + epsilon)


def regression_loss(predictions, targets, loss):
    """Per-element smooth-L1 (Huber, β = 1) or squared error."""
    diff = ops.cast(predictions, "float32") - targets
    if loss == "l2":
        return ops.square(diff)
    abs_diff = ops.abs(diff)
    return ops.where(abs_diff < 1.0, 0.5 * ops.square(diff), abs_diff - 0.5)


@keras.saving.register_keras_serializable(package="keras_jepa")
class IJEPA(SelfSupervisedModel):
    """I-JEPA: predict the target encoder's embeddings of masked blocks from the context.

    One training step: the target encoder (an EMA copy of the context encoder, never
    trained by gradients) encodes the full image; its tokens, normalised by a LayerNorm
    without scale/offset and gathered at the target blocks, are the stop-gradient
    targets. The context encoder encodes only the context tokens; the predictor predicts
    each target block from them. The loss (smooth-L1 by default, as the reference code;
    L2 as the paper's text) is averaged over real target tokens (`target_weights`). After
    the optimizer step the target moves: `θ_t ← m θ_t + (1 − m) θ_c`, with `m` rising
    linearly from `momentum` to `final_momentum` over the run.

    Batches are dicts: `images` `[B, H, W, C]`, `context_indices` `int32 [B, Kc]`,
    `target_indices` `int32 [B, M, Kt]`, `target_weights` `float32 [B, M, Kt]`, as made by
    `keras_jepa.masking.MultiBlockMaskGenerator`. Every batch is checked: indices in
    `[0, num_patches)`, `target_weights` in `[0, 1]` with a positive weight in each
    `[batch, block]` row, finite `images` — arrays before the first step
    (`check_batch`), `tf.data` batches inside the step, where a bad batch makes `fit`
    raise an `InvalidBatchError` naming the epoch, the batch and the problem (see
    `keras_jepa.training.step_checks`); a non-finite loss raises a `NonFiniteLossError`.

    Args:
        encoder: the context encoder, e.g. a `ViTEncoder`, or any Keras layer that
            keeps the contract of `keras_jepa.models.encoder_contract` (called as
            `encoder(images, token_indices=None)` → `[B, N or K, hidden_dim]`; attributes
            `num_patches`, `hidden_dim`, `image_shape`; a complete `get_config()`),
            checked by `check_encoder` here with one error listing what is missing. The
            target encoder is `type(encoder).from_config(encoder.get_config())` with
            the encoder's weights.
        predictor: a `JEPAPredictor` matching the encoder's grid and width.
        loss: "smooth_l1" (default) or "l2".
        momentum: EMA momentum at step 0 (reference 0.996).
        final_momentum: EMA momentum at the end of the run (reference 1.0).
        total_steps: length of the momentum ramp in optimizer steps. When None, the
            first `fit` sets it to that run's `epochs × steps per epoch` (and it is
            saved with the model, so a resumed run keeps the same ramp).
        target_norm_epsilon: epsilon of the target LayerNorm (reference 1e-5).
        monitors: whether each train step logs the run-health monitors (default True):
            `rankme` (effective rank of the batch's mean-pooled target-encoder
            features, centred), `feature_std` (mean per-dimension std of those
            features, centred and L2-normalised), `feature_spread` (between-image std
            of those features over their RMS size), `pred_std` (std of the predictions
            across the batch), `position_share` (share of the normalised targets'
            variance explained by patch position), `blind_loss` (the loss of predicting
            each position's batch-mean target) and `encoder_distance` (`‖θ_c − θ_t‖ / ‖θ_t‖` after the
            EMA step; only with `target_mode="ema"`, the others have no EMA). They are
            computed under stop-gradient from tensors the step already has, at the
            cost of one SVD of a `[B, D]` matrix; see `keras_jepa.evaluation.monitors`
            for what collapse looks like.
        target_mode: where the regression targets come from. "ema" (default, I-JEPA):
            the EMA target encoder behind a stop-gradient. The other two are ablations
            for studying collapse, not training recipes; in both the target encoder *is*
            the context encoder (`target_encoder is context_encoder`, so `encode` reads
            it) and there is no EMA update. "no_stop_gradient": the targets are the
            context encoder's own normalised tokens and the gradient flows through
            them too (the trivial solution, every token the same, then minimises the
            loss). "context_stop_gradient": the same targets behind a stop-gradient,
            without EMA (SimSiam-like).
        regularizer: None (default, I-JEPA's objective), "vicreg" or "sigreg": an
            anti-collapse term on the batch's mean-pooled context-encoder tokens added
            to the loss (see `keras_jepa.models.feature_regularizers`). The step then
            also logs `prediction_loss` and `regularizer_loss`.
        regularizer_weight: weight of that term.
        prediction_weight: weight of the prediction loss (1.0). 0 with a regularizer
            trains the regulariser alone: the control that shows what the prediction
            loss adds.
        init: "default" keeps the encoder's and predictor's own initialisation (the
            reference models' constructors: truncated normal, std 0.02, the kernels
            writing into the residual stream of block i scaled by 1/sqrt(2(i+1))).
            "reference" re-draws them as the reference's *training* starts
            (`init_model`): every Dense kernel, the patch projection and the mask token
            N(0, 0.02²) with no depth scaling (its ±2 truncation is absolute, so
            effectively none), biases 0, LayerNorm scale 1 and offset 0.

    Example:
    encoder = keras_jepa.models.ViTEncoder.from_preset("micro", image_size=16,
                                                       patch_size=2, num_channels=1)
    predictor = keras_jepa.models.JEPAPredictor.for_encoder(encoder, hidden_dim=32,
                                                           depth=2)
    model = keras_jepa.models.IJEPA(encoder, predictor)
    model.compile(optimizer=keras_jepa.training.ijepa_optimizer(total_steps=500))
    model.fit(dataset, epochs=10)   # dataset of dict batches with masks
    features = model.encode(images)  # [B, 64]
    """

    def __init__(
        self,
        encoder,
        predictor,
        loss="smooth_l1",
        momentum=0.996,
        final_momentum=1.0,
        total_steps=None,
        target_norm_epsilon=1e-5,
        monitors=True,
        target_mode="ema",
        regularizer=None,
        regularizer_weight=1.0,
        prediction_weight=1.0,
        init="default",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if loss not in LOSSES:
            raise ValueError(f"`loss` must be one of {LOSSES}, got {loss!r}.")
        if target_mode not in TARGET_MODES:
            raise ValueError(
                f"`target_mode` must be one of {TARGET_MODES}, got {target_mode!r}."
            )
        for name, value in (("momentum", momentum), ("final_momentum", final_momentum)):
            check_number(value, name, low=0, high=1)
        if total_steps is not None:
            check_positive_int(total_steps, "total_steps", whole_floats=True)
        check_number(target_norm_epsilon, "target_norm_epsilon", low=0, low_open=True)
        check_bool(monitors, "monitors")
        if regularizer is not None and regularizer not in feature_regularizers.REGULARIZERS:
            raise ValueError(
                f"`regularizer` must be None or one of {feature_regularizers.REGULARIZERS}, "
                f"got {regularizer!r}."
            )
        for name, value in (("regularizer_weight", regularizer_weight),
                            ("prediction_weight", prediction_weight)):
            check_non_negative_number(value, name)
        check_init(init)
        if prediction_weight == 0 and regularizer is None:
            raise ValueError("`prediction_weight=0` leaves no objective without a `regularizer`.")
        check_encoder(encoder)
        num_patches = encoder.num_patches
        if getattr(predictor, "num_patches", num_patches) != num_patches:
            raise ValueError(
                f"`predictor` is built for {predictor.num_patches} patches but the encoder "
                f"has {num_patches}."
            )
        width = encoder.hidden_dim
        if getattr(predictor, "input_dim", width) != width:
            raise ValueError(
                f"`predictor.input_dim` ({predictor.input_dim}) must equal the encoder "
                f"width ({width})."
            )
        self.context_encoder = encoder
        self.predictor = predictor
        self.loss_name = loss
        self.momentum = float(momentum)
        self.final_momentum = float(final_momentum)
        self.total_steps = None if total_steps is None else int(total_steps)
        self.target_norm_epsilon = float(target_norm_epsilon)
        self.monitors = bool(monitors)
        self.num_patches = int(num_patches)
        self.regularizer = regularizer
        self.regularizer_weight = float(regularizer_weight)
        self.prediction_weight = float(prediction_weight)
        self._sigreg_directions = (
            feature_regularizers.sigreg_directions(int(width))
            if regularizer == "sigreg" else None
        )

        self.init = init
        if init == "reference":
            reference_initialization(encoder, "ijepa")
            reference_initialization(predictor, "ijepa")
        self.target_mode = target_mode
        if target_mode == "ema":
            self.target_encoder = copy_architecture(encoder)
            self.target_encoder.trainable = False
            copy_weights(self._ema_pairs)
        else:
            # The ablations have no separate target: the context encoder is its own.
            self.target_encoder = encoder
        self.built = True

    @property
    def _ema_pairs(self):
        # Recomputed rather than stored: a stored list of variables would be tracked
        # by Keras as weights of this model.
        return pair_variables(self.target_encoder, self.context_encoder)

    # === The objective ===

    def _check_masks(self, batch):
        context, targets, weights = (batch[k] for k in MASK_KEYS)
        check_token_indices(context, self.num_patches, "context_indices", rank=2)
        check_token_indices(targets, self.num_patches, "target_indices", rank=3)
        if tuple(weights.shape) != tuple(targets.shape):
            raise ValueError(
                f"`target_weights` shape {tuple(weights.shape)} must equal "
                f"`target_indices` shape {tuple(targets.shape)}."
            )

    def check_batch(self, batch):
        """Raises a `ValueError` unless `batch` is an I-JEPA batch dict for this model.

        `fit`, `evaluate` and `predict` call it before the first compiled step: shapes
        and dtypes always, and for arrays (not a dataset's specs) their values too:
        indices in `[0, num_patches)`, `target_weights` in `[0, 1]` with a positive
        weight in every `[batch, block]` row, finite `images`. A `tf.data` batch is
        checked inside the step (see `batch_error_messages`).
        """
        batch = unpack_batch(batch)
        self._check_masks(batch)
        check_weight_values(batch["target_weights"])
        check_finite_images(batch["images"])
        image_shape = getattr(self.context_encoder, "image_shape", None)
        shape = tuple(batch["images"].shape)
        if image_shape is not None and (len(shape) != 4 or shape[1:] != tuple(image_shape)):
            raise ValueError(
                f"`images` must have shape (batch, {', '.join(map(str, image_shape))}) for "
                f"this model's encoder, got {shape}."
            )

    def check_mask_generator(self, generator):
        """Refuses a mask generator made for another grid than the encoder's.

        `fit` calls it with the generator whose masks `keras_jepa.data.attach_masks`
        put on the dataset: a generator for a 7×7 or 10×10 grid feeding a model with
        an 8×8 grid would train on scrambled blocks (or indices out of range).
        """
        expected = getattr(self.context_encoder, "grid_size", None)
        expected = tuple(expected) if expected is not None else None
        grid = getattr(generator, "grid_size", None)
        grid = tuple(grid) if grid is not None else None
        patches = getattr(generator, "num_patches", None)
        if (grid is not None and expected is not None and grid != expected) or (
                patches is not None and patches != self.num_patches):
            def shown(value, count):
                return f"{value[0]}×{value[1]} grid" if value else f"grid of {count} patches"

            raise ValueError(
                f"The dataset's masks come from a {type(generator).__name__} for a "
                f"{shown(grid, patches)} but this model's encoder has a "
                f"{shown(expected, self.num_patches)}: build the `mask_generator` with "
                f"grid_size={expected or self.num_patches}.")

    def batch_error_messages(self):
        """What bit `i` of the step's `batch_errors` code means (see `training.step_checks`)."""
        n = self.num_patches
        return [
            f"`context_indices` hold values outside [0, {n}) (this model's grid has {n} "
            "patches; masks from a generator for another grid?)",
            f"`target_indices` hold values outside [0, {n}) (this model's grid has {n} "
            "patches; masks from a generator for another grid?)",
            "`target_weights` hold values outside [0, 1] (or NaN); expected 1 for a real "
            "target token and 0 for padding",
            "`target_weights` have a target block (a [batch, block] row) whose weights are "
            "all 0; every block needs at least one real token (weight > 0)",
            "`images` hold NaN or infinite values",
        ]

    def _guarded_batch(self, batch):
        """`(batch, code)`: the batch made safe to compute on, and its error code.

        The code has bit `i` set for problem `i` of `batch_error_messages`. Indices are
        clamped into the grid, weights into [0, 1] and non-finite pixels set to 0, so
        that the step neither fails inside a gather nor lets a NaN reach the gradient;
        the loss of a batch with a non-zero code is then made NaN and the `StepGuard`
        of `fit` raises.
        """
        n = self.num_patches
        weights = ops.cast(batch["target_weights"], "float32")
        in_range = ops.logical_and(weights >= 0.0, weights <= 1.0)  # False for NaN
        code = batch_error_code([
            any_outside(batch["context_indices"], n),
            any_outside(batch["target_indices"], n),
            ops.logical_not(ops.all(in_range)),
            ops.any(ops.max(ops.where(in_range, weights, 0.0), axis=-1) <= 0.0),
            non_finite(batch["images"]),
        ])
        safe = {
            **batch,
            "images": finite_or_zero(batch["images"]),
            "context_indices": clamp_indices(batch["context_indices"], n),
            "target_indices": clamp_indices(batch["target_indices"], n),
            "target_weights": ops.where(in_range, weights, 0.0),
        }
        return safe, code

    def call(self, inputs, training=False):
        """Predicted target embeddings `[B, M, Kt, D]` for a batch dict.

        A batch that breaks the contract inside a compiled call (a `tf.data` batch of
        `predict` with indices outside the grid or NaN images) gives NaN predictions,
        never a wrapped or clamped gather's result; `predict` then raises
        `InvalidBatchError` naming the batch.
        """
        batch = unpack_batch(inputs)
        self._check_masks(batch)  # concrete values: a clear error before any clamping
        batch, code = self._guarded_batch(batch)
        return nan_if(code, self._context_and_predictions(batch, training)[1])

    def _context_and_predictions(self, batch, training):
        """Context tokens and predictions of a batch whose masks the caller has checked.

        The masks are checked once, by `call` or `compute_ssl_loss` (`_check_masks`); the
        context encoder and the predictor trust them here.
        """
        with trusted_token_indices():
            context = self.context_encoder(
                batch["images"], token_indices=batch["context_indices"], training=training
            )
            predictions = self.predictor(
                context, batch["context_indices"], batch["target_indices"], training=training
            )
        return context, predictions

    def regularization_loss(self, context_tokens):
        """The `regularizer` term of mean-pooled context tokens `[B, Kc, D]` (0 if none)."""
        if self.regularizer is None:
            return ops.zeros((), "float32")
        pooled = ops.mean(ops.cast(context_tokens, "float32"), axis=1)
        if self.regularizer == "vicreg":
            return feature_regularizers.vicreg_variance_covariance(pooled)
        return feature_regularizers.sigreg(pooled, self._sigreg_directions)

    def compute_targets(self, images, target_indices, return_features=False):
        """Stop-gradient targets `[B, M, Kt, D]`: normalised target-encoder tokens.

        With `return_features`, returns `(targets, features, tokens)`, `features` being
        the target encoder's mean-pooled tokens `[B, D]` (before the normalisation, as
        `encode` returns them) and `tokens` the normalised tokens of the whole grid
        `[B, N, D]`, which the monitors read (both stop-gradient). With
        `target_mode="no_stop_gradient"` the targets keep their gradient.
        """
        keep_gradient = self.target_mode == "no_stop_gradient"
        with contextlib.nullcontext() if keep_gradient else no_gradient():
            tokens = self.target_encoder(images, training=False)
            # Pooled in float32: under mixed precision the tokens are bfloat16.
            features = ops.mean(ops.cast(tokens, "float32"), axis=1) if return_features \
                else None
            tokens = normalize_features(tokens, self.target_norm_epsilon)
            num_blocks, num_target = target_indices.shape[1], target_indices.shape[2]
            flat = ops.reshape(target_indices, (-1, num_blocks * num_target))
            targets = gather_tokens(tokens, flat)
            targets = ops.reshape(targets, (-1, num_blocks, num_target, tokens.shape[-1]))
        if not keep_gradient:
            targets = ops.stop_gradient(targets)
        if return_features:
            return targets, ops.stop_gradient(features), ops.stop_gradient(tokens)
        return targets

    def compute_ssl_loss(self, data, training=True):
        batch, code = self._guarded_batch(unpack_batch(data))
        targets = self.compute_targets(
            batch["images"], batch["target_indices"], return_features=self.monitors
        )
        if self.monitors:
            targets, features, tokens = targets
        self._check_masks(batch)  # static in a compiled step; the guard has clamped the values
        context, predictions = self._context_and_predictions(batch, training)
        per_token = ops.mean(regression_loss(predictions, targets, self.loss_name), axis=-1)
        weights = batch["target_weights"]
        # Normalised by the real target tokens of the whole batch: under tf.distribute
        # by the replicas' mean count, so that the replicas' mean loss (what Keras
        # logs, and whose gradient the optimizer sums) equals the one-device loss.
        count = replica_mean(ops.sum(weights))
        loss = ops.sum(per_token * weights) / ops.maximum(count, 1e-12)
        logs = {BATCH_ERRORS: code}
        if self.regularizer is not None:
            regularization = self.regularization_loss(context)
            logs.update({"prediction_loss": loss, "regularizer_loss": regularization})
            loss = self.prediction_weight * loss + self.regularizer_weight * regularization
        loss = nan_if(code, loss)
        if not self.monitors:
            return loss, logs
        return loss, {**logs,
            "rankme": effective_rank_tensor(
                features, tolerance=relative_tolerance(self.target_encoder.compute_dtype)),
            "feature_std": feature_std_tensor(features),
            "feature_spread": feature_spread_tensor(features),
            "pred_std": batch_std(predictions),
            "position_share": position_share_tensor(tokens),
            "blind_loss": content_blind_loss_tensor(
                tokens, batch["target_indices"], weights,
                lambda p, t: regression_loss(p, t, self.loss_name), targets=targets),
        }

    # === The target ===

    def momentum_at(self, step):
        """EMA momentum used after optimizer step `step` (0-based)."""
        if self.total_steps is None:
            raise ValueError(
                "The momentum schedule needs `total_steps`: pass it to IJEPA or train "
                "with `fit`, which sets it from epochs × steps per epoch."
            )
        return LinearSchedule(self.momentum, self.final_momentum, self.total_steps)(step)

    def update_target(self, step):
        if self.target_mode != "ema":
            return {}
        momentum = self.momentum_at(step)
        pairs = self._ema_pairs
        ema_update(pairs, momentum)
        logs = {"momentum": momentum}
        if self.monitors:
            logs["encoder_distance"] = relative_distance(pairs)
        return logs

    # === Training entry point ===

    def fit(self, *args, **kwargs):
        """`keras.Model.fit`; also sets the momentum ramp's length when not given.

        A run must not outlast its schedules: when this `fit` would train past the end
        of the EMA momentum ramp (`total_steps`) or of the optimizer's learning-rate
        schedule, it raises a `ValueError` naming the argument to change, instead of
        training on with a frozen target (momentum 1) and the final learning rate.
        """
        bound = inspect.signature(keras.Model.fit).bind(self, *args, **kwargs)
        bound.apply_defaults()
        check_not_empty(bound.arguments["x"])
        if self.total_steps is None:
            steps = _steps_per_epoch(bound.arguments)
            # `epochs` is the index of the last epoch, whatever `initial_epoch` is: a
            # run resumed with `initial_epoch=k` keeps the whole run's ramp.
            self.total_steps = max(1, steps * bound.arguments["epochs"])
            self.train_function = None  # the ramp length is a constant of the step
        self._check_schedules_cover(bound.arguments)
        return super().fit(*args, **kwargs)

    def _check_schedules_cover(self, arguments):
        try:
            steps = _steps_per_epoch(arguments)
        except (ValueError, TypeError):
            return  # unknowable here; the ramp then simply ends at `total_steps`
        optimizer = getattr(self, "optimizer", None)
        callbacks = arguments.get("callbacks") or []
        if any(isinstance(c, keras.callbacks.BackupAndRestore) for c in callbacks):
            # The restore resets the epoch and the optimizer's step: the run ends at
            # `epochs` × steps whatever the model has done before this call.
            end = steps * arguments["epochs"]
        else:
            done = int(ops.convert_to_numpy(optimizer.iterations)) if optimizer is not None \
                and optimizer.built else 0
            end = done + steps * (arguments["epochs"] - arguments["initial_epoch"])
        ramps = self.target_mode == "ema" and self.momentum != self.final_momentum
        if ramps and end > self.total_steps:
            raise ValueError(
                f"This fit trains to optimizer step {end} but the EMA momentum ramp "
                f"(`total_steps`={self.total_steps}) ends earlier: the target would stay "
                f"at `final_momentum`={self.final_momentum} for the rest of the run. Set "
                f"`model.total_steps` (or IJEPA(total_steps=...)) to at least {end}."
            )
        schedule_end = getattr(getattr(optimizer, "_learning_rate", None), "total_steps", None)
        if schedule_end is not None and end > schedule_end:
            raise ValueError(
                f"This fit trains to optimizer step {end} but the optimizer's learning-rate "
                f"schedule (`total_steps`={schedule_end}) ends earlier, at its final "
                "value. Build the optimizer for the whole run, e.g. "
                f"`ijepa_optimizer(total_steps={end})`, and recompile."
            )

    # === Features ===

    def encode(self, images, encoder="target", pool="mean", batch_size=256):
        """Features for downstream use: pooled encoder tokens.

        Args:
            images: `[N, H, W, C]` array or tensor.
            encoder: "target" (default, as the reference evaluates) or "context".
            pool: "mean" (average over tokens, `[N, D]`) or "none" (`[N, tokens, D]`).
            batch_size: images per forward pass.

        Returns:
            A float32 numpy array of features (also under mixed precision).
        """
        if encoder not in ("target", "context"):
            raise ValueError(f"`encoder` must be 'target' or 'context', got {encoder!r}.")
        network = self.target_encoder if encoder == "target" else self.context_encoder
        return pooled_features(network, images, pool=pool, batch_size=batch_size)

    def image_classifier(self, num_classes, encoder="target", **kwargs):
        """An `ImageClassifier` on a copy of one of this model's encoders.

        The copy has the pretrained weights and is trainable unless
        `freeze_encoder=True`; fine-tuning it leaves this model unchanged.

        Args:
            num_classes: number of classes.
            encoder: "target" (default, the encoder `encode` reads) or "context".
            **kwargs: `pooling`, `freeze_encoder`, `dropout`, `activation`, `name` of
                `keras_jepa.models.ImageClassifier`.

        Example:
        probe = model.image_classifier(num_classes=10, freeze_encoder=True)
        probe.compile()
        probe.fit(images, labels, epochs=5)
        """
        if encoder not in ("target", "context"):
            raise ValueError(f"`encoder` must be 'target' or 'context', got {encoder!r}.")
        network = self.target_encoder if encoder == "target" else self.context_encoder
        return ImageClassifier(copy_encoder(network), num_classes, **kwargs)

    # === Config ===

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "encoder": keras.saving.serialize_keras_object(self.context_encoder),
                "predictor": keras.saving.serialize_keras_object(self.predictor),
                "loss": self.loss_name,
                "momentum": self.momentum,
                "final_momentum": self.final_momentum,
                "total_steps": self.total_steps,
                "target_norm_epsilon": self.target_norm_epsilon,
                "target_mode": self.target_mode,
                "monitors": self.monitors,
                "regularizer": self.regularizer,
                "regularizer_weight": self.regularizer_weight,
                "prediction_weight": self.prediction_weight,
                "init": self.init,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_layers(config, ("encoder", "predictor")))


def _steps_per_epoch(arguments):
    """Optimizer steps per epoch of a `fit` call, or a clear error when unknowable."""
    if arguments.get("steps_per_epoch"):
        return int(arguments["steps_per_epoch"])
    x = arguments["x"]
    first = x[0] if isinstance(x, (tuple, list)) and x else x
    first = next(iter(first.values()), None) if isinstance(first, dict) else first
    if hasattr(first, "shape") and not hasattr(x, "cardinality"):
        # In-memory arrays: `fit` batches them by `batch_size` (Keras's default 32).
        batch_size = arguments.get("batch_size") or 32
        return -(-int(first.shape[0]) // batch_size)
    cardinality = getattr(x, "cardinality", None)
    if cardinality is not None:
        count = int(cardinality())
        if count > 0:
            return count
        if count == -1:  # tf.data.INFINITE_CARDINALITY
            raise ValueError(
                "`x` is an infinite dataset (e.g. `.repeat()`): pass `steps_per_epoch` to "
                "fit, so that the run's length, and with it the EMA momentum ramp, is known."
            )
    if hasattr(x, "__len__") and not hasattr(x, "cardinality") and \
            not isinstance(x, (tuple, list, dict)):
        return len(x)  # e.g. a keras.utils.PyDataset: its length counts batches
    raise ValueError(
        "Cannot infer the number of steps per epoch for the EMA momentum schedule: pass "
        "`steps_per_epoch` to fit or `total_steps` to IJEPA."
    )
