"""Pretrained weights from other implementations: the I-JEPA reference and Hugging Face.

Converts name → array mappings (PyTorch state dicts) into keras_jepa models:

- the reference I-JEPA code's checkpoints (facebookresearch/ijepa: a dict with
  `encoder`, `target_encoder` and `predictor` state dicts, with or without the
  `module.` prefix of DistributedDataParallel) → `IJEPA` / `ViTEncoder`;
- Hugging Face `transformers` `IJepaModel` weights → `ViTEncoder`.

Loading is strict: every key of a state dict is used, every weight of the model is set,
every shape is checked, and the fixed sin-cos position tables stored in the checkpoints
are compared with the ones keras_jepa computes. Anything missing, unexpected or
different raises a ValueError listing it, before any weight is written: there is no
partial load. Reading files (`.pth`, safetensors) goes through
`keras_jepa.training.external_checkpoints`, which imports torch only when called.
"""

import json
import math
import os
import re

import keras
import numpy as np

from keras_jepa.layers.position_embedding import sincos_position_embedding_2d
from keras_jepa.models.ijepa import IJEPA
from keras_jepa.models.jepa_predictor import JEPAPredictor
from keras_jepa.models.vit_encoder import ViTEncoder
from keras_jepa.models.vit_presets import VIT_PRESETS
from keras_jepa.training.external_checkpoints import load_safetensors
from keras_jepa.training.external_checkpoints import load_torch_checkpoint
from keras_jepa.training.external_checkpoints import to_numpy_state_dict

REFERENCE_CHECKPOINT_KEYS = ("encoder", "predictor", "target_encoder")
_LISTED = 20  # keys listed per error message


def _listing(keys):
    keys = sorted(keys)
    shown = ", ".join(keys[:_LISTED])
    return shown + (f", … ({len(keys) - _LISTED} more)" if len(keys) > _LISTED else "")


class _WeightPlan:
    """Collects (variable, value) pairs from a state dict, then writes them all or none."""

    def __init__(self, state_dict, source, position_tolerance):
        self.state = state_dict
        self.source = source
        self.position_tolerance = float(position_tolerance)
        self.used = set()
        self.missing = []
        self.errors = []
        self.assignments = {}

    def take(self, key):
        if key not in self.state:
            self.missing.append(key)
            return None
        self.used.add(key)
        return np.asarray(self.state[key])

    def set(self, variable, value, key):
        if value is None:
            return
        expected = tuple(variable.shape)
        if tuple(value.shape) != expected:
            self.errors.append(
                f"{key}: shape {tuple(value.shape)} does not fit `{variable.path}` "
                f"{expected}"
            )
            return
        self.assignments[id(variable)] = (variable, value)

    def linear(self, prefix, dense):
        """torch Linear `[out, in]` → Keras Dense kernel `[in, out]`."""
        weight = self.take(prefix + "weight")
        self.set(dense.kernel, None if weight is None else weight.T, prefix + "weight")
        if dense.use_bias:
            self.set(dense.bias, self.take(prefix + "bias"), prefix + "bias")

    def layer_norm(self, prefix, norm):
        self.set(norm.gamma, self.take(prefix + "weight"), prefix + "weight")
        self.set(norm.beta, self.take(prefix + "bias"), prefix + "bias")

    def patch_conv(self, prefix, patch_embedding):
        """Conv kernel `[D, C, p, p]` → Dense kernel `[p·p·C, D]`, rows (row, col, channel)."""
        weight = self.take(prefix + "weight")
        if weight is not None:
            if weight.ndim != 4:
                self.errors.append(f"{prefix}weight: expected a 4-D conv kernel, got "
                                   f"shape {weight.shape}")
                weight = None
            else:
                weight = weight.transpose(2, 3, 1, 0).reshape(-1, weight.shape[0])
        projection = patch_embedding.projection
        self.set(projection.kernel, weight, prefix + "weight")
        self.set(projection.bias, self.take(prefix + "bias"), prefix + "bias")

    def fixed_positions(self, key, grid_size, dim):
        """Checks a stored position table against keras_jepa's fixed sin-cos table."""
        value = self.take(key)
        if value is None:
            return
        table = sincos_position_embedding_2d(grid_size, dim)
        value = value.reshape(value.shape[-2:]) if value.ndim == 3 else value
        if value.shape != table.shape:
            self.errors.append(
                f"{key}: shape {value.shape} does not match the {grid_size} grid of width "
                f"{dim} {table.shape}"
            )
            return
        gap = float(np.max(np.abs(value - table))) if table.size else 0.0
        if not gap <= self.position_tolerance:
            self.errors.append(
                f"{key}: differs from the fixed 2-D sin-cos positions keras_jepa uses by up "
                f"to {gap:.3g} (> position_tolerance={self.position_tolerance:g}); "
                "learned or fine-tuned position embeddings cannot be loaded"
            )

    def finish(self, model):
        unset = [v.path for v in model.weights if id(v) not in self.assignments]
        unexpected = set(self.state) - self.used
        problems = []
        if self.missing:
            problems.append(f"missing keys: {_listing(self.missing)}")
        if unexpected:
            problems.append(f"unexpected keys: {_listing(unexpected)}")
        if self.errors:
            problems.append("mismatches: " + "; ".join(self.errors[:_LISTED]))
        if unset and not problems:
            problems.append(f"model weights left unset: {_listing(unset)}")
        if problems:
            raise ValueError(
                f"Cannot load the {self.source} into {type(model).__name__} "
                f"{model.name!r} (nothing was loaded): " + " | ".join(problems)
            )
        for variable, value in self.assignments.values():
            variable.assign(value.astype(keras.backend.standardize_dtype(variable.dtype)))


def _strip_prefix(state_dict, prefix="module."):
    """Drops DistributedDataParallel's `module.` prefix when every key carries it."""
    if state_dict and all(key.startswith(prefix) for key in state_dict):
        return {key[len(prefix):]: value for key, value in state_dict.items()}
    return dict(state_dict)


def _numpy_state(state_dict, name):
    if not hasattr(state_dict, "items"):
        raise ValueError(
            f"`{name}` must be a state dict (a mapping of names to tensors), got "
            f"{type(state_dict).__name__}."
        )
    return _strip_prefix(to_numpy_state_dict(state_dict))


def _count_blocks(state_dict, prefix, name):
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    indices = {int(m.group(1)) for key in state_dict if (m := pattern.match(key))}
    if not indices:
        raise ValueError(f"The {name} has no `{prefix}N.` keys: not a reference ViT.")
    if indices != set(range(max(indices) + 1)):
        missing = sorted(set(range(max(indices) + 1)) - indices)
        raise ValueError(f"The {name} lacks blocks {missing} (`{prefix}N.` keys).")
    return max(indices) + 1


def _require(state_dict, key, name):
    if key not in state_dict:
        raise ValueError(
            f"The {name} has no {key!r}; keys start with: {_listing(list(state_dict))}."
        )
    return np.asarray(state_dict[key])


def _square_grid(num_patches, name):
    side = math.isqrt(num_patches)
    if side * side != num_patches:
        raise ValueError(
            f"The {name} holds {num_patches} positions, not a square grid; pass "
            "`image_size`."
        )
    return side


def _resolve_heads(num_heads, preset, hidden_dim, depth):
    if preset is not None:
        if preset not in VIT_PRESETS:
            raise ValueError(
                f"Unknown `preset` {preset!r}; expected one of {sorted(VIT_PRESETS)}."
            )
        config = VIT_PRESETS[preset]
        if (config["hidden_dim"], config["depth"]) != (hidden_dim, depth):
            raise ValueError(
                f"`preset` {preset!r} is {config['hidden_dim']} wide and {config['depth']} "
                f"deep but the checkpoint is {hidden_dim} wide and {depth} deep."
            )
        if num_heads is None:
            num_heads = config["num_heads"]
    if num_heads is None:
        raise ValueError(
            "`num_heads` cannot be read from the weights' shapes: pass `num_heads` or a "
            f"`preset` (one of {sorted(VIT_PRESETS)})."
        )
    return num_heads


def _load_reference_blocks(plan, prefix, blocks):
    for i, block in enumerate(blocks):
        p = f"{prefix}{i}."
        plan.layer_norm(p + "norm1.", block.attention_norm)
        plan.linear(p + "attn.qkv.", block.qkv)
        plan.linear(p + "attn.proj.", block.attention_output)
        plan.layer_norm(p + "norm2.", block.mlp_norm)
        plan.linear(p + "mlp.fc1.", block.mlp_hidden)
        plan.linear(p + "mlp.fc2.", block.mlp_output)


def load_reference_encoder_weights(encoder, state_dict, position_tolerance=1e-4,
                                   source="reference encoder state dict"):
    """Writes a reference ViT state dict into an existing `ViTEncoder`, strictly.

    Args:
        encoder: a `ViTEncoder` of the checkpoint's architecture.
        state_dict: the reference `VisionTransformer.state_dict()` (torch tensors or
            numpy arrays; a `module.` prefix on every key is dropped).
        position_tolerance: largest accepted gap between the stored `pos_embed` and
            keras_jepa's fixed sin-cos table.
        source: how error messages name the state dict.

    Returns:
        `encoder`, with every weight set.

    Example:
    load_reference_encoder_weights(model.target_encoder, checkpoint["target_encoder"])
    """
    state = _numpy_state(state_dict, "state_dict")
    plan = _WeightPlan(state, source, position_tolerance)
    plan.patch_conv("patch_embed.proj.", encoder.patch_embedding)
    plan.fixed_positions("pos_embed", encoder.grid_size, encoder.hidden_dim)
    _load_reference_blocks(plan, "blocks.", encoder.blocks)
    plan.layer_norm("norm.", encoder.norm)
    plan.finish(encoder)
    return encoder


def vit_encoder_from_reference_state_dict(state_dict, num_heads=None, preset=None,
                                          image_size=None, layer_norm_epsilon=1e-6,
                                          position_tolerance=1e-4, **kwargs):
    """A `ViTEncoder` holding the weights of a reference I-JEPA ViT state dict.

    Width, depth, patch size, channels, MLP width, qkv bias and the grid are read from the
    weights' shapes; the number of heads cannot be, so give `num_heads` or a `preset`.

    Args:
        state_dict: `encoder` or `target_encoder` of a reference checkpoint (torch
            tensors or numpy arrays, with or without the `module.` prefix).
        num_heads: attention heads (e.g. 16 for ViT-H/14).
        preset: a keras_jepa preset name ("tiny" … "giant") giving `num_heads`; its width
            and depth must match the weights.
        image_size: image side or `(height, width)`; by default the square grid of the
            stored `pos_embed` times the patch size (224 for ViT-H/14).
        layer_norm_epsilon: LayerNorm epsilon (the reference uses 1e-6).
        position_tolerance: largest accepted gap between the stored `pos_embed` and the
            fixed sin-cos table (the encoder's positions are computed, not stored).
        **kwargs: further `ViTEncoder` arguments (e.g. `name`, `dtype`).

    Returns:
        A `ViTEncoder` with every weight set from `state_dict`.

    Example:
    checkpoint = keras_jepa.training.external_checkpoints.load_torch_checkpoint(
        "IN1K-vit.h.14-300e.pth.tar")
    encoder = vit_encoder_from_reference_state_dict(
        checkpoint["target_encoder"], preset="huge")
    """
    name = "reference encoder state dict"
    state = _numpy_state(state_dict, "state_dict")
    conv = _require(state, "patch_embed.proj.weight", name)
    if conv.ndim != 4 or conv.shape[2] != conv.shape[3]:
        raise ValueError(
            f"`patch_embed.proj.weight` must be a [D, C, p, p] conv kernel, got {conv.shape}."
        )
    hidden_dim, channels, patch_size = (int(s) for s in conv.shape[:3])
    depth = _count_blocks(state, "blocks.", name)
    mlp_dim = _require(state, "blocks.0.mlp.fc1.weight", name).shape[0]
    if image_size is None:
        positions = _require(state, "pos_embed", name)
        image_size = _square_grid(int(positions.shape[-2]), name) * patch_size
    encoder = ViTEncoder(
        image_size=image_size,
        patch_size=patch_size,
        hidden_dim=hidden_dim,
        depth=depth,
        num_heads=_resolve_heads(num_heads, preset, hidden_dim, depth),
        mlp_ratio=mlp_dim / hidden_dim,
        num_channels=channels,
        qkv_bias="blocks.0.attn.qkv.bias" in state,
        layer_norm_epsilon=layer_norm_epsilon,
        **kwargs,
    )
    return load_reference_encoder_weights(encoder, state, position_tolerance, source=name)


def _reference_predictor(state, encoder, num_heads, layer_norm_epsilon, position_tolerance):
    name = "reference predictor state dict"
    embed = _require(state, "predictor_embed.weight", name)
    hidden_dim, input_dim = (int(s) for s in embed.shape)
    if input_dim != encoder.hidden_dim:
        raise ValueError(
            f"The predictor reads {input_dim}-wide tokens but the encoder is "
            f"{encoder.hidden_dim} wide."
        )
    mlp_dim = _require(state, "predictor_blocks.0.mlp.fc1.weight", name).shape[0]
    predictor = JEPAPredictor(
        grid_size=encoder.grid_size,
        input_dim=input_dim,
        hidden_dim=hidden_dim,
        depth=_count_blocks(state, "predictor_blocks.", name),
        num_heads=num_heads,
        mlp_ratio=mlp_dim / hidden_dim,
        qkv_bias="predictor_blocks.0.attn.qkv.bias" in state,
        layer_norm_epsilon=layer_norm_epsilon,
    )
    plan = _WeightPlan(state, name, position_tolerance)
    plan.linear("predictor_embed.", predictor.input_projection)
    mask_token = plan.take("mask_token")
    plan.set(predictor.mask_token, mask_token, "mask_token")
    plan.fixed_positions("predictor_pos_embed", predictor.grid_size, hidden_dim)
    _load_reference_blocks(plan, "predictor_blocks.", predictor.blocks)
    plan.layer_norm("predictor_norm.", predictor.norm)
    plan.linear("predictor_proj.", predictor.output_projection)
    plan.finish(predictor)
    return predictor


def ijepa_from_reference_checkpoint(checkpoint, num_heads=None, preset=None,
                                    predictor_num_heads=None, image_size=None,
                                    layer_norm_epsilon=1e-6, position_tolerance=1e-4,
                                    weights_only=True, **ijepa_kwargs):
    """An `IJEPA` holding a reference I-JEPA checkpoint: context, target encoder, predictor.

    The reference saves `{"encoder", "predictor", "target_encoder", "opt", "scaler",
    "epoch", ...}`; the three model state dicts are loaded strictly, the training state
    (optimizer, scaler, epoch, learning rate) is not read. Architectures are inferred
    from the shapes, except the number of heads.

    Args:
        checkpoint: path to a `.pth.tar` / `.pth` file (read with torch), or the loaded
            dict.
        num_heads: encoder attention heads, or give `preset`.
        preset: keras_jepa preset name ("tiny" … "giant") of the encoder.
        predictor_num_heads: predictor heads; defaults to the encoder's, as the
            reference builds its predictor.
        image_size: image side; by default read from the stored position table.
        layer_norm_epsilon: LayerNorm epsilon of encoder and predictor (reference 1e-6).
        position_tolerance: largest accepted gap between the stored position tables and
            the fixed sin-cos tables.
        weights_only: passed to `torch.load` when `checkpoint` is a path.
        **ijepa_kwargs: further `IJEPA` arguments (`loss`, `momentum`, `total_steps`, …).

    Returns:
        An `IJEPA` whose `context_encoder`, `target_encoder` and `predictor` hold the
        checkpoint's `encoder`, `target_encoder` and `predictor`.

    Example:
    model = ijepa_from_reference_checkpoint("IN1K-vit.h.14-300e.pth.tar", preset="huge")
    features = model.encode(images)   # [N, 1280], the target encoder, mean-pooled
    """
    if isinstance(checkpoint, (str, os.PathLike)):
        checkpoint = load_torch_checkpoint(checkpoint, weights_only=weights_only)
    if not hasattr(checkpoint, "keys"):
        raise ValueError(
            "`checkpoint` must be a path or a dict with keys "
            f"{REFERENCE_CHECKPOINT_KEYS}, got {type(checkpoint).__name__}."
        )
    absent = [key for key in REFERENCE_CHECKPOINT_KEYS if key not in checkpoint]
    if absent:
        raise ValueError(
            f"`checkpoint` lacks {absent}; a reference I-JEPA checkpoint holds "
            f"{REFERENCE_CHECKPOINT_KEYS}, got keys {_listing(list(checkpoint.keys()))}."
        )
    states = {key: _numpy_state(checkpoint[key], f"checkpoint[{key!r}]")
              for key in REFERENCE_CHECKPOINT_KEYS}
    encoder = vit_encoder_from_reference_state_dict(
        states["encoder"], num_heads=num_heads, preset=preset, image_size=image_size,
        layer_norm_epsilon=layer_norm_epsilon, position_tolerance=position_tolerance,
    )
    predictor = _reference_predictor(
        states["predictor"], encoder,
        encoder.num_heads if predictor_num_heads is None else predictor_num_heads,
        layer_norm_epsilon, position_tolerance,
    )
    model = IJEPA(encoder, predictor, **ijepa_kwargs)
    load_reference_encoder_weights(
        model.target_encoder, states["target_encoder"], position_tolerance,
        source="reference target_encoder state dict",
    )
    return model


def _hf_config(config):
    if isinstance(config, (str, os.PathLike)):
        with open(config) as handle:
            return json.load(handle)
    if hasattr(config, "to_dict"):
        return config.to_dict()
    if isinstance(config, dict):
        return dict(config)
    raise ValueError(
        "`config` must be an IJepaConfig, a dict or a path to config.json, got "
        f"{type(config).__name__}."
    )


_HF_CONFIG_KEYS = (
    "image_size", "patch_size", "num_channels", "hidden_size", "num_hidden_layers",
    "num_attention_heads", "intermediate_size", "layer_norm_eps", "qkv_bias", "hidden_act",
)


def vit_encoder_from_hf_ijepa(model_or_state_dict, config=None, position_tolerance=1e-4,
                              **kwargs):
    """A `ViTEncoder` holding the weights of a Hugging Face `transformers` `IJepaModel`.

    `encoder(images)` then equals `IJepaModel(pixel_values).last_hidden_state` (final
    LayerNorm included) for channels-last `images` and channels-first `pixel_values`
    of the model's `image_size` (no position interpolation). HF's LayerNorm epsilon
    (`config.layer_norm_eps`) is carried over; the activation must be exact GELU.

    Args:
        model_or_state_dict: an `IJepaModel` (its `config` is used), its `state_dict()`,
            or a path to its `model.safetensors`.
        config: the `IJepaConfig`, its dict, or a path to `config.json`; required unless
            a model is given.
        position_tolerance: largest accepted gap between
            `embeddings.position_embeddings` and keras_jepa's fixed sin-cos table (the
            released I-JEPA weights store that table; learned or fine-tuned position
            embeddings are refused).
        **kwargs: further `ViTEncoder` arguments (e.g. `name`, `dtype`).

    Returns:
        A `ViTEncoder` with every weight set.

    Example:
    from transformers import IJepaModel
    hf_model = IJepaModel.from_pretrained("facebook/ijepa_vith14_1k")
    encoder = vit_encoder_from_hf_ijepa(hf_model)
    tokens = encoder(images)   # [B, 256, 1280]
    """
    source = model_or_state_dict
    if hasattr(source, "state_dict") and hasattr(source, "config"):
        config = source.config if config is None else config
        state = source.state_dict()
    elif isinstance(source, (str, os.PathLike)):
        state = load_safetensors(source)
    else:
        state = source
    if config is None:
        raise ValueError(
            "`config` is required when `model_or_state_dict` is not an IJepaModel: pass "
            "the IJepaConfig (or its dict, or the path to config.json)."
        )
    config = _hf_config(config)
    absent = [key for key in _HF_CONFIG_KEYS if key not in config]
    if absent:
        raise ValueError(f"`config` lacks {absent}; expected an IJepaConfig.")
    if config["hidden_act"] != "gelu":
        raise ValueError(
            f"`config.hidden_act` must be 'gelu' (exact GELU, as ViTEncoder computes), got "
            f"{config['hidden_act']!r}."
        )
    hidden_dim = int(config["hidden_size"])
    encoder = ViTEncoder(
        image_size=config["image_size"],
        patch_size=config["patch_size"],
        hidden_dim=hidden_dim,
        depth=int(config["num_hidden_layers"]),
        num_heads=int(config["num_attention_heads"]),
        mlp_ratio=int(config["intermediate_size"]) / hidden_dim,
        num_channels=int(config["num_channels"]),
        qkv_bias=bool(config["qkv_bias"]),
        layer_norm_epsilon=float(config["layer_norm_eps"]),
        **kwargs,
    )
    state = _numpy_state(state, "model_or_state_dict")
    plan = _WeightPlan(state, "Hugging Face IJepaModel state dict", position_tolerance)
    plan.patch_conv("embeddings.patch_embeddings.projection.", encoder.patch_embedding)
    plan.fixed_positions("embeddings.position_embeddings", encoder.grid_size, hidden_dim)
    for i, block in enumerate(encoder.blocks):
        p = f"encoder.layer.{i}."
        plan.layer_norm(p + "layernorm_before.", block.attention_norm)
        parts = [p + f"attention.attention.{n}." for n in ("query", "key", "value")]
        weights = [plan.take(part + "weight") for part in parts]
        if all(w is not None for w in weights):
            plan.set(block.qkv.kernel, np.concatenate([w.T for w in weights], axis=1),
                     p + "attention.attention.{query,key,value}.weight")
        if block.qkv_bias:
            biases = [plan.take(part + "bias") for part in parts]
            if all(b is not None for b in biases):
                plan.set(block.qkv.bias, np.concatenate(biases),
                         p + "attention.attention.{query,key,value}.bias")
        plan.linear(p + "attention.output.dense.", block.attention_output)
        plan.layer_norm(p + "layernorm_after.", block.mlp_norm)
        plan.linear(p + "intermediate.dense.", block.mlp_hidden)
        plan.linear(p + "output.dense.", block.mlp_output)
    plan.layer_norm("layernorm.", encoder.norm)
    plan.finish(encoder)
    return encoder
