"""Is my run healthy? Collapse monitors, their rules of thumb, and `CollapseMonitor`.

`IJEPA` and `MAE` (with `monitors=True`, the default) log these in every train step,
computed in keras.ops under stop-gradient (`keras_jepa.training.monitors`); the values
reach the progress bar and `history.history` (the last step's value of each epoch).

Rules of thumb: what a collapsing run looks like (D = encoder width).

- `rankme` — RankMe (Garrido et al., 2023) of the batch's mean-pooled features, centred:
  the number of directions the features really use, between 1 and min(B, D). Healthy:
  a sizable part of D, rising or stable during training (a random-init micro ViT,
  D = 64, reads ≈ 3-4 on the 16-px digits). Collapse: it falls to a few percent of D,
  towards 1 (every image on one line or one point). `CollapseMonitor` flags
  `rankme < 1 + rank_fraction · D` (default `rank_fraction = 0.01`). The batch bounds it
  (at most B), so compare runs at the same batch size. Small encoders on small images
  use few directions: the digits micro config (D = 64, B = 64) reads 2.3-2.8 through
  its first 8 epochs of healthy I-JEPA training (loss 0.37 → 0.07).
- `feature_std` — mean over dimensions of the per-dimension std of the centred,
  L2-normalised features (the SimSiam indicator). Healthy: ≈ 1/sqrt(D) (features spread
  over many directions; 0.11 on the digits micro run, 1/sqrt(64) = 0.125). Collapse:
  ≪ 1/sqrt(D), → 0 when all images map to one point. `CollapseMonitor` flags
  `feature_std < std_fraction / sqrt(D)` (default `std_fraction = 0.1`).
- `feature_spread` — between-image std of the pooled features over their RMS size.
  `rankme` and `feature_std` see the shape of the variation, not its scale; this one
  falls when every image moves towards one point while the shared component (the pooled
  positions) stays — the collapse of I-JEPA without stop-gradient. Its level depends on
  the architecture, so it is read against its first-epoch value: on a tiny ViT on the
  digits it stayed at 0.0036 → 0.0037 with EMA + stop-gradient and fell to 0.00065
  without stop-gradient (loss → 0.001) while `rankme` and `feature_std` still looked
  acceptable. `CollapseMonitor` flags a fall below `spread_drop` (default 0.3) of the
  first-epoch value.
- `pred_std` (I-JEPA) — std of the predictor outputs across the batch. The targets are
  per-token LayerNorm-normalised (unit scale); on the digits micro run it grows from
  ≈ 0.03 in the first epochs to ≈ 0.18 by epoch 8. → 0 after it had grown means the
  predictor outputs the same embedding for every image (it has given up on the
  context).
- `encoder_distance` (I-JEPA) — `‖θ_c − θ_t‖ / ‖θ_t‖` between the context and target
  encoder weights after the EMA step. It starts at 0 (the target is a copy) and stays
  small: the target trails the context by about `1 / (1 − m)` steps (0.04 → 0.13 over
  the 8 epochs of the digits micro run). With the momentum
  near 1 (I-JEPA's schedule ends at exactly 1) a small, slowly changing value is
  expected, not a sign of collapse. Suspicious: it goes to 0 while the loss goes to 0
  *and* `rankme`/`feature_std` fall — context and target agree because both output a
  constant.
- `position_share` (I-JEPA) — the share of the variance of the normalised target
  tokens (the whole grid) that their position explains, in [0, 1]. On small images
  with small patches the fixed sin-cos positions dwarf the patch content: the digits
  micro config (16 px, patch 2) reads 0.999 at init and still 0.999 after 20 and 60
  epochs. Then the most predictable part of every target is its position, and the
  predictor can lower the loss a hundredfold without looking at the content.
- `blind_loss` (I-JEPA) — the loss, computed like the training loss on the same batch,
  of the content-blind predictor that outputs each position's batch-mean target: the
  best any predictor that ignores the image can do (exactly so for the squared error).
  A loss below it proves the predictor uses the content. A loss still at or above it,
  many epochs in, while `position_share` stays near 1 is *position-only collapse*:
  the loss fell by predicting position (and the targets' shared part), and mean-pooled
  features, which average the positions away, carry little. On the digits micro run
  the loss fell 0.40 → 0.0016 in 20 epochs but stayed 30× above `blind_loss`
  (1.3e-4 → 5e-5; 10× after 60 epochs), and the trained predictor's output moved by
  1e-4 when given another image's context. `CollapseMonitor` flags
  `position_share ≥ position_share_max` (default 0.95) once the loss has fallen below
  `loss_drop` (default 0.5) of its first-epoch value but not below `blind_loss`;
  `keras_jepa.evaluation.token_probe` shows what content the unpooled tokens hold.
- `loss` — falling to ≈ 0 within the first few hundred steps, much faster than usual,
  is the classic symptom of the trivial solution (predict a constant that the target
  also outputs); check `rankme` and `feature_std` when you see it.

Why centred: mean-pooled ViT features carry a large component shared by every image
(the pooled position embeddings). Measured on a random-init micro ViT (D = 64) on the
16-px digits, the uncentred RankMe is ≈ 1.03 and the uncentred feature_std ≈ 0.0003
(vs 1/sqrt(64) = 0.125) although the encoder is healthy; centred, they read ≈ 3-4
and 0.10. Variation
below 1e-5 of the features' own RMS norm counts as none, so a collapsed encoder's
float32 round-off does not read as spread.

Example:
model = keras_jepa.models.IJEPA(encoder, predictor)          # monitors=True
model.compile(optimizer=keras_jepa.training.ijepa_optimizer(total_steps=500))
monitor = keras_jepa.evaluation.CollapseMonitor(stop=True)
history = model.fit(dataset, epochs=10, callbacks=[monitor])
history.history["rankme"], monitor.collapsed, monitor.collapsed_epoch
"""

import math
import warnings

import keras
from keras import ops

from keras_jepa.checks import check_number
from keras_jepa.checks import check_positive_int
from keras_jepa.models.ijepa import LOSSES as _LOSSES
from keras_jepa.models.ijepa import regression_loss as _regression_loss
from keras_jepa.training import monitors as _step_monitors

MONITOR_KEYS = ("rankme", "feature_std", "feature_spread", "pred_std", "encoder_distance",
                "position_share", "blind_loss")


def _to_float(value):
    return float(ops.convert_to_numpy(value))


def effective_rank(features, center=True, dtype="float32"):
    """RankMe (Garrido et al., 2023) of a feature matrix, as a Python float.

    `exp(−Σ_k p_k log p_k)` with `p_k = σ_k / Σ_j σ_j + 1e-7`, σ the singular values of
    the features (centred by default; `center=False` is the paper's exact definition).
    An `[N, D]` matrix of rank `k` with equal singular values gives `k`; a constant
    matrix gives ≈ 1; collapse shows as a value far below `D`. The same function the
    train step logs as `rankme` (`keras_jepa.training.monitors.effective_rank_tensor`).

    Args:
        features: `[N, D]` numpy array or tensor.
        center: whether to subtract the mean over the N samples first.
        dtype: the compute dtype of the encoder that made the features. For an encoder
            run under `mixed_bfloat16` pass "bfloat16" (`encoder.compute_dtype`), as the
            train step does: variation below bfloat16's rounding then does not count
            as rank (`keras_jepa.training.monitors.relative_tolerance`).

    Returns:
        A float in `[≈1, min(N, D)]`.

    Example:
    rank = keras_jepa.evaluation.effective_rank(
        model.encode(images), dtype=model.target_encoder.compute_dtype)
    """
    tolerance = _step_monitors.relative_tolerance(dtype)
    return _to_float(_step_monitors.effective_rank_tensor(features, center=center,
                                                          tolerance=tolerance))


def feature_std(features):
    """Mean per-dimension std of centred, L2-normalised features, as a Python float.

    ≈ `1/sqrt(D)` for features spread over `D` dimensions, → 0 at collapse. The same
    function the train step logs as `feature_std`.

    Args:
        features: `[N, D]` numpy array or tensor.

    Returns:
        A float in `[0, 1/sqrt(D)]`.

    Example:
    std = keras_jepa.evaluation.feature_std(model.encode(images))
    """
    return _to_float(_step_monitors.feature_std_tensor(features))


def feature_spread(features):
    """Between-sample std of the features over their RMS size, as a Python float.

    Falls when every sample moves towards one point, whatever the shape of the rest of
    the variation; read it relative to its value at the start of training. The same
    function the train step logs as `feature_spread`.

    Args:
        features: `[N, D]` numpy array or tensor.

    Returns:
        A float ≥ 0.

    Example:
    spread = keras_jepa.evaluation.feature_spread(model.encode(images))
    """
    return _to_float(_step_monitors.feature_spread_tensor(features))


def position_share(tokens):
    """Share of the tokens' variance explained by their position, as a Python float.

    `Σ_n B·‖μ_n − μ‖² / Σ_{b,n} ‖t_{b,n} − μ‖²` (μ_n: batch mean at position n, μ: mean
    over batch and positions). 1: the tokens depend on position only; ≈ 0: position
    does not matter. The same function the I-JEPA train step logs as `position_share`
    on its normalised target tokens.

    Args:
        tokens: `[B, N, D]` numpy array or tensor (every position of each image).

    Returns:
        A float in [0, 1].

    Example:
    tokens = model.encode(images, pool="none")  # [N, tokens, D], before the target norm
    share = keras_jepa.evaluation.position_share(tokens)
    """
    return _to_float(_step_monitors.position_share_tensor(tokens))


def content_blind_loss(tokens, target_indices, target_weights, loss="smooth_l1"):
    """The loss of the content-blind predictor (each position's batch mean), as a float.

    Predicts every target token by the batch mean of the tokens at its position and
    scores it like `IJEPA.compute_ssl_loss`: per-element `loss` averaged over the
    embedding, then the `target_weights`-weighted mean over target tokens. The same
    function the I-JEPA train step logs as `blind_loss`.

    Args:
        tokens: `[B, N, D]` regression targets of every position (I-JEPA: normalised
            target-encoder tokens).
        target_indices: int `[B, M, Kt]` target positions.
        target_weights: `[B, M, Kt]`, 1 for a real target token, 0 for padding.
        loss: "smooth_l1" or "l2" (as `IJEPA(loss=...)`), or a callable
            `loss(predictions, targets)` returning per-element losses.

    Returns:
        A float ≥ 0.

    Example:
    blind = keras_jepa.evaluation.content_blind_loss(tokens, batch["target_indices"],
                                                     batch["target_weights"], loss="l2")
    """
    if not callable(loss):
        if loss not in _LOSSES:
            raise ValueError(f"`loss` must be one of {_LOSSES} or a callable, got {loss!r}.")
        name = loss

        def loss(predictions, targets):
            return _regression_loss(predictions, targets, name)

    return _to_float(_step_monitors.content_blind_loss_tensor(tokens, target_indices,
                                                              target_weights, loss))


def _encoder_width(model):
    for attribute in ("target_encoder", "encoder", "context_encoder"):
        width = getattr(getattr(model, attribute, None), "hidden_dim", None)
        if width is not None:
            return int(width)
    return None


class CollapseMonitor(keras.callbacks.Callback):
    """Warns (and optionally stops training) when the epoch logs show collapse.

    At each epoch end it reads `rankme`, `feature_std` and `feature_spread` from the
    logs (logged by `IJEPA` and `MAE` with `monitors=True`) and compares them with the
    rules of thumb of this module: `rankme < 1 + rank_fraction · D`,
    `feature_std < std_fraction / sqrt(D)` (D being the encoder width), or
    `feature_spread < spread_drop ·` its value at the end of the run's first epoch
    (the relative rule that catches a JEPA trained without stop-gradient, whose
    features converge towards one point while their shape still looks healthy), or
    position-only collapse: `position_share ≥ position_share_max` while
    `blind_loss ≤ loss < loss_drop ·` the loss at the end of the run's first epoch (the
    targets are almost all position, and the model has lowered its loss, but not below
    that of the content-blind predictor, which outputs each position's mean target; a
    loss below `blind_loss` shows that the predictor uses the image). I-JEPA logs both
    keys; `prediction_loss` is read instead of `loss` when the logs have it (a model
    with a regularizer). The epoch's `loss` is its mean over the epoch while
    `blind_loss` is the last step's value. When any
    holds for `patience` consecutive epochs it issues a `UserWarning` (once per run)
    naming the monitor, its value and the threshold, sets `collapsed = True` and
    `collapsed_epoch` (0-based, the first epoch of the run of bad epochs), and with
    `stop=True` ends training.

    Args:
        rank_fraction: RankMe threshold as a fraction of D, above the floor of 1.
        std_fraction: feature_std threshold as a fraction of `1/sqrt(D)`.
        spread_drop: feature_spread threshold as a fraction of its first-epoch value
            (None turns the relative rule off).
        position_share_max: position-only collapse needs `position_share` at or
            above this, in (0, 1] (None turns the rule off).
        loss_drop: ... once the loss has fallen below this fraction of its
            first-epoch value, in (0, 1): the model has learnt something, and its
            loss shows that it is not the content.
        patience: consecutive collapsed epochs before it warns (≥ 1).
        stop: whether to set `model.stop_training` when it warns.
        dim: the feature width D; by default the `hidden_dim` of the model's
            `target_encoder` / `encoder`.

    Attributes:
        collapsed: whether collapse was detected.
        collapsed_epoch: the epoch where the detected collapse began, or None.
        messages: the warnings issued.

    Example:
    monitor = keras_jepa.evaluation.CollapseMonitor(stop=True)
    model.fit(dataset, epochs=50, callbacks=[monitor])
    if monitor.collapsed:
        print("collapsed at epoch", monitor.collapsed_epoch)
    """

    def __init__(self, rank_fraction=0.01, std_fraction=0.1, patience=1, stop=False,
                 dim=None, spread_drop=0.3, position_share_max=0.95, loss_drop=0.5):
        super().__init__()
        self.position_share_max = check_number(position_share_max, "position_share_max",
                                               0, 1, low_open=True, optional=True)
        self.loss_drop = check_number(loss_drop, "loss_drop", 0, 1, low_open=True,
                                      high_open=True)
        self.initial_loss = None
        self.spread_drop = check_number(spread_drop, "spread_drop", 0, 1, low_open=True,
                                        high_open=True, optional=True)
        self.initial_spread = None
        for name, value in (("rank_fraction", rank_fraction), ("std_fraction", std_fraction)):
            check_number(value, name, 0, 1)
        patience = check_positive_int(patience, "patience", whole_floats=True)
        dim = check_positive_int(dim, "dim", whole_floats=True, optional=True)
        self.rank_fraction = float(rank_fraction)
        self.std_fraction = float(std_fraction)
        self.patience = int(patience)
        self.stop = bool(stop)
        self.dim = None if dim is None else int(dim)
        self.collapsed = False
        self.collapsed_epoch = None
        self.messages = []
        self._bad_epochs = 0

    def thresholds(self, dim):
        """`{"rankme": ..., "feature_std": ...}`: the values below which a run collapsed."""
        return {
            "rankme": 1.0 + self.rank_fraction * dim,
            "feature_std": self.std_fraction / math.sqrt(dim),
        }

    def _width(self):
        dim = self.dim if self.dim is not None else _encoder_width(self.model)
        if dim is None:
            raise ValueError(
                "CollapseMonitor cannot find the feature width: pass `dim=` (the encoder's "
                "hidden_dim) for a model without `target_encoder`/`encoder.hidden_dim`."
            )
        return dim

    def _position_only_collapse(self, logs):
        """The failing-rule message of position-only collapse, or None."""
        share, blind = logs.get("position_share"), logs.get("blind_loss")
        loss_key = "prediction_loss" if "prediction_loss" in logs else "loss"
        loss = logs.get(loss_key)
        if self.position_share_max is None or None in (share, blind, loss):
            return None
        share, blind, loss = float(share), float(blind), float(loss)
        if self.initial_loss is None:
            # The first epoch is the reference: no run beats the content-blind
            # predictor at the start.
            self.initial_loss = loss
            return None
        if (share >= self.position_share_max and blind <= loss
                and loss < self.loss_drop * self.initial_loss):
            return (f"position-only collapse: position_share = {share:.4g} ≥ "
                    f"{self.position_share_max:.4g} and {loss_key} = {loss:.4g} ≥ "
                    f"blind_loss = {blind:.4g}, though down from {self.initial_loss:.4g} "
                    "(the targets are almost all position and the model predicts them no "
                    "better than each position's mean)")
        return None

    def on_train_begin(self, logs=None):
        self._bad_epochs = 0
        self.initial_spread = None
        self.initial_loss = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        present = [key for key in ("rankme", "feature_std") if key in logs]
        if not present:
            raise ValueError(
                "CollapseMonitor needs 'rankme' or 'feature_std' in the epoch logs; got "
                f"{sorted(logs)}. Build the model with `monitors=True`."
            )
        failing = []
        thresholds = self.thresholds(self._width())
        spread = logs.get("feature_spread")
        if spread is not None and self.spread_drop is not None:
            if self.initial_spread is None:
                self.initial_spread = float(spread)
            else:
                thresholds["feature_spread"] = self.spread_drop * self.initial_spread
        for key, threshold in thresholds.items():
            value = logs.get(key)
            if value is not None and float(value) < threshold:
                failing.append(f"{key} = {float(value):.4g} < threshold {threshold:.4g}")
        position_only = self._position_only_collapse(logs)
        if position_only:
            failing.append(position_only)
        if not failing:
            self._bad_epochs = 0
            return
        self._bad_epochs += 1
        if self._bad_epochs < self.patience or self.collapsed:
            return
        self.collapsed = True
        self.collapsed_epoch = epoch - self.patience + 1
        message = (
            f"Representation collapse at epoch {self.collapsed_epoch}: "
            + "; ".join(failing)
            + " (see keras_jepa.evaluation.monitors for the rules of thumb)."
        )
        self.messages.append(message)
        warnings.warn(message, UserWarning, stacklevel=2)
        if self.stop:
            self.model.stop_training = True
