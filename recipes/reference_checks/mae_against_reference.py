"""Our MAE against the official facebookresearch/mae code: same weights, images, masks.

Command:   MAE_SRC=/path/to/facebookresearch/mae KERAS_BACKEND=torch \
               python recipes/reference_checks/mae_against_reference.py
           (KERAS_BACKEND=jax or tensorflow work too: the official side always runs in
           torch, ours on the chosen backend.)
Needs:     torch (CPU is enough) and timm (`pip install timm --no-deps`); torchvision
           is not needed (see `_import_official`).
Skipped:   without `MAE_SRC`, or without torch/timm, it prints why and exits 0.
Runtime:   a few seconds on one CPU core.
Result:    printed, and stored under the backend's key in `--output` (default
           recipes/reference_checks/mae_against_reference.json); the numbers and the
           list of intended differences are in mae_against_reference.md.

What it checks, on a tiny MAE (16-pixel RGB images, 4-pixel patches, encoder 32 wide,
2 deep, 4 heads; decoder 16 wide, 1 deep, 2 heads; mask ratio 0.75):

1. the fixed 2-D sin-cos position tables (ours against the official
   `get_2d_sincos_pos_embed`, class-token row dropped);
2. forward pass: the encoder's output tokens at the visible patches and the decoder's
   predictions for every patch, from the same weights (ours, randomised, biases and
   LayerNorms included, copied into the official model), the same images and the same
   masks (the official `random_masking` runs unchanged; only the `torch.rand` noise it
   draws is replaced by noise whose argsort is our [visible, masked] order);
3. the loss with `norm_pix_loss` True and False (the official `forward_loss`);
4. the gradient of the loss with respect to every weight, both settings;
5. initialisation: per-tensor mean and std of `MAE(init="reference")` against a freshly
   constructed official model of the same shapes (and of our default init, for context);
   the mask token's std pooled over 32 re-draws of each; constant tensors (biases,
   LayerNorms) that are not the same constant on both sides are listed and reported
   (not counted as failures): the official patch-projection bias is one, see
   mae_against_reference.md.

Each comparison is a relative difference `max|ours − official| / max|official|` per
tensor; the reported number is the largest over tensors (with the tensor's name).

The official model has a class token; ours (I-JEPA's encoder) has none. The official
class is therefore subclassed here with `forward_encoder` / `forward_decoder` that skip
the class token (its positional row is skipped too); everything else — PatchEmbed,
Blocks, norms, `random_masking`, the unshuffle by `ids_restore`, `patchify` and
`forward_loss` — is the official code, imported from `MAE_SRC` and run as is. Old
compatibility points are patched at run time only: the official code passes
`qk_scale=None` to timm's `Block` (gone from recent timm) and uses `np.float` (gone from
NumPy 2). Nothing of the official code is copied into this file.
"""

import argparse
import importlib.abc
import importlib.machinery
import json
import math
import os
import sys
import types

import numpy as np

TOLERANCES = {"forward": 1e-4, "loss": 1e-5, "gradients": 1e-3}
CONFIG = dict(image_size=16, patch_size=4, num_channels=3, hidden_dim=32, depth=2,
              num_heads=4, decoder_dim=16, decoder_depth=1, decoder_heads=2)
# Wider tensors, so that the per-tensor std of the initialisations is estimated well.
INIT_CONFIG = dict(image_size=32, patch_size=4, num_channels=3, hidden_dim=192, depth=2,
                   num_heads=3, decoder_dim=96, decoder_depth=1, decoder_heads=3)
MASK_RATIO = 0.75
BATCH = 4


def _skip(reason):
    print(f"SKIPPED: {reason}")
    sys.exit(0)


# === Importing the official code ===

class _StubModule(types.ModuleType):
    """A module whose every attribute is a placeholder class (for import-time names)."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _StubMeta(name, (), {})


class _StubMeta(type):
    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _StubMeta(name, (), {})


class _TorchvisionStub(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers `import torchvision...` with placeholders when torchvision is absent.

    timm imports torchvision at module level (transforms, FrozenBatchNorm2d) but the
    PatchEmbed, Block, Attention and Mlp that MAE uses do not touch it.
    """

    def find_spec(self, fullname, path, target=None):
        if fullname == "torchvision" or fullname.startswith("torchvision."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = _StubModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


def _import_official(mae_src):
    """`models_mae` and `util.pos_embed` from `mae_src`, with run-time shims."""
    try:
        import torch  # noqa: F401
    except ImportError:
        _skip("torch is not installed (pip install torch).")
    try:
        import torchvision  # noqa: F401
    except Exception:  # absent, or a build that does not match torch
        for name in [n for n in sys.modules if n.split(".")[0] == "torchvision"]:
            del sys.modules[name]
        sys.meta_path.insert(0, _TorchvisionStub())
    try:
        import timm.models.vision_transformer as timm_vit
    except ImportError as error:
        _skip(f"timm is not importable ({error}); pip install timm --no-deps.")
    if not hasattr(np, "float"):  # util/pos_embed.py uses the alias NumPy 2 removed
        np.float = float

    official_block = timm_vit.Block

    class Block(official_block):
        """timm's Block, accepting the `qk_scale=None` the official code passes."""

        def __init__(self, *args, qk_scale=None, **kwargs):
            if qk_scale is not None:
                raise ValueError("only qk_scale=None (the default scale) is supported")
            super().__init__(*args, **kwargs)
            if hasattr(self.attn, "fused_attn"):
                self.attn.fused_attn = False  # explicit softmax, as timm 0.3.2 (MAE's pin)

    timm_vit.Block = Block
    if not os.path.isfile(os.path.join(mae_src, "models_mae.py")):
        _skip(f"MAE_SRC={mae_src!r} has no models_mae.py.")
    sys.path.insert(0, mae_src)
    try:
        import models_mae
        from util import pos_embed
    finally:
        sys.path.remove(mae_src)
        timm_vit.Block = official_block
    return models_mae, pos_embed


def _official_classes(models_mae):
    import torch

    class NoClassTokenMAE(models_mae.MaskedAutoencoderViT):
        """The official MAE without its class token (ours has none).

        `forward_encoder` / `forward_decoder` do what the official ones do, minus the
        class token and its positional row; `random_masking` is the official one with
        its `torch.rand` noise replaced by `self.noise` when set.
        """

        noise = None

        def random_masking(self, x, mask_ratio):
            if self.noise is None:
                return super().random_masking(x, mask_ratio)
            draw = torch.rand
            torch.rand = lambda *args, **kwargs: self.noise.to(x.device)
            try:
                return super().random_masking(x, mask_ratio)
            finally:
                torch.rand = draw

        def forward_encoder(self, x, mask_ratio):
            x = self.patch_embed(x) + self.pos_embed[:, 1:, :]
            x, mask, ids_restore = self.random_masking(x, mask_ratio)
            for block in self.blocks:
                x = block(x)
            return self.norm(x), mask, ids_restore

        def forward_decoder(self, x, ids_restore):
            x = self.decoder_embed(x)
            batch, width = x.shape[0], x.shape[2]
            fill = self.mask_token.expand(batch, ids_restore.shape[1] - x.shape[1], width)
            x = torch.cat([x, fill], dim=1)
            x = torch.gather(x, 1, ids_restore.unsqueeze(-1).expand(-1, -1, width))
            x = x + self.decoder_pos_embed[:, 1:, :]
            for block in self.decoder_blocks:
                x = block(x)
            return self.decoder_pred(self.decoder_norm(x))

    return NoClassTokenMAE


def _official_kwargs(config):
    from functools import partial

    import torch

    return dict(
        img_size=config["image_size"], patch_size=config["patch_size"],
        in_chans=config["num_channels"], embed_dim=config["hidden_dim"],
        depth=config["depth"], num_heads=config["num_heads"],
        decoder_embed_dim=config["decoder_dim"], decoder_depth=config["decoder_depth"],
        decoder_num_heads=config["decoder_heads"], mlp_ratio=4.0,
        # eps 1e-6 as the official mae_vit_* constructors (the class default is 1e-5).
        norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
    )


# === Ours ===

def _our_model(config, init):
    from keras_jepa.models import MAE
    from keras_jepa.models import MAEDecoder
    from keras_jepa.models import ViTEncoder

    encoder = ViTEncoder(
        image_size=config["image_size"], patch_size=config["patch_size"],
        num_channels=config["num_channels"], hidden_dim=config["hidden_dim"],
        depth=config["depth"], num_heads=config["num_heads"],
    )
    decoder = MAEDecoder.for_encoder(
        encoder, hidden_dim=config["decoder_dim"], depth=config["decoder_depth"],
        num_heads=config["decoder_heads"],
    )
    return MAE(encoder, decoder, mask_ratio=MASK_RATIO, norm_pix_loss=True, seed=0,
               monitors=False, init=init)


def _linear(ours, official):
    return [(ours.kernel, f"{official}.weight", "linear"), (ours.bias, f"{official}.bias", "")]


def _norm(ours, official):
    return [(ours.gamma, f"{official}.weight", ""), (ours.beta, f"{official}.bias", "")]


def _blocks(blocks, prefix):
    pairs = []
    for i, block in enumerate(blocks):
        name = f"{prefix}.{i}"
        pairs += _norm(block.attention_norm, f"{name}.norm1")
        # Our fused qkv kernel [D, 3D] reshapes its output to (3, heads, head_dim) as
        # timm's qkv Linear does: the weight is the kernel transposed.
        pairs += _linear(block.qkv, f"{name}.attn.qkv")
        pairs += _linear(block.attention_output, f"{name}.attn.proj")
        pairs += _norm(block.mlp_norm, f"{name}.norm2")
        pairs += _linear(block.mlp_hidden, f"{name}.mlp.fc1")
        pairs += _linear(block.mlp_output, f"{name}.mlp.fc2")
    return pairs


def weight_map(model):
    """`(our variable, official parameter name, layout)` for every trainable weight."""
    encoder, decoder = model.encoder, model.decoder
    projection = encoder.patch_embedding.projection
    pairs = [(projection.kernel, "patch_embed.proj.weight", "patch"),
             (projection.bias, "patch_embed.proj.bias", "")]
    pairs += _blocks(encoder.blocks, "blocks") + _norm(encoder.norm, "norm")
    pairs += [(decoder.mask_token, "mask_token", "")]
    pairs += _linear(decoder.input_projection, "decoder_embed")
    pairs += _blocks(decoder.blocks, "decoder_blocks") + _norm(decoder.norm, "decoder_norm")
    pairs += _linear(decoder.head, "decoder_pred")
    mapped = {id(variable) for variable, _, _ in pairs}
    missing = [v.path for v in model.trainable_variables if id(v) not in mapped]
    if missing or len(pairs) != len(model.trainable_variables):
        raise RuntimeError(f"unmapped weights: {missing}")
    return pairs


def to_official(value, layout, patch_size, channels):
    """Our layout → the official one."""
    if layout == "linear":  # [in, out] → [out, in]
        return value.T
    if layout == "patch":  # [p·p·C (row, col, channel), D] → Conv2d [D, C, p, p]
        p = patch_size
        return value.reshape(p, p, channels, -1).transpose(3, 2, 0, 1)
    return value


def to_ours(value, layout, patch_size, channels):
    """The official layout → ours (the inverse of `to_official`)."""
    if layout == "linear":
        return value.T
    if layout == "patch":
        return value.transpose(2, 3, 1, 0).reshape(patch_size * patch_size * channels, -1)
    return value


def relative_difference(ours, official):
    ours, official = np.asarray(ours, np.float64), np.asarray(official, np.float64)
    if ours.shape != official.shape:
        raise ValueError(f"shape mismatch {ours.shape} vs {official.shape}")
    scale = np.max(np.abs(official))
    return float(np.max(np.abs(ours - official)) / scale) if scale > 0 else \
        float(np.max(np.abs(ours)))


def worst(differences):
    name = max(differences, key=differences.get)
    return {"max": differences[name], "tensor": name}


# === Our loss and gradients, on any backend ===

def our_loss_and_gradients(model, images, visible, masked):
    import keras

    variables = model.trainable_variables

    def loss_of():
        predicted = model.predict_patches(images, visible, masked, training=True)
        return model.reconstruction_loss(images, predicted, masked)

    backend = keras.backend.backend()
    if backend == "torch":
        for variable in variables:
            variable.value.grad = None
        loss = loss_of()
        loss.backward()
        gradients = [variable.value.grad for variable in variables]
    elif backend == "jax":
        import jax

        def stateless_loss(values):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return loss_of()

        loss, gradients = jax.value_and_grad(stateless_loss)([v.value for v in variables])
    elif backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_of()
        gradients = tape.gradient(loss, [v.value for v in variables])
    else:
        raise ValueError(f"unsupported backend {backend}")
    to_numpy = keras.ops.convert_to_numpy
    return float(to_numpy(loss)), {id(v): to_numpy(g) for v, g in zip(variables, gradients)}


# === The checks ===

def randomise(model, rng):
    """Random weights everywhere: kernels from the reference init, the rest drawn, so
    that biases, LayerNorm scales and offsets and the mask token all matter."""
    for variable in model.trainable_variables:
        name = variable.path.rsplit("/", 1)[-1]
        shape = tuple(variable.shape)
        if name == "gamma":
            variable.assign(1.0 + 0.2 * rng.standard_normal(shape).astype("float32"))
        elif name in ("beta", "bias"):
            variable.assign(0.1 * rng.standard_normal(shape).astype("float32"))
        elif name == "mask_token":
            variable.assign(0.5 * rng.standard_normal(shape).astype("float32"))


def sample_masks(model, rng):
    """Our masks, each row's visible and masked indices shuffled (any order must work)."""
    masks = model.mask_generator.sample(BATCH, seed=0)
    visible = np.stack([rng.permutation(row) for row in masks["visible_indices"]])
    masked = np.stack([rng.permutation(row) for row in masks["masked_indices"]])
    return visible.astype("int32"), masked.astype("int32")


def noise_for(visible, masked):
    """Noise whose per-row argsort is [visible, masked]: the official masking then keeps
    exactly our visible patches, in our order."""
    order = np.concatenate([visible, masked], axis=1)
    noise = np.empty(order.shape, np.float32)
    rows = np.arange(order.shape[0])[:, None]
    noise[rows, order] = (np.arange(order.shape[1]) + 0.5) / order.shape[1]
    return noise


def check_equivalence(models_mae, pos_embed):
    import keras
    import torch

    from keras_jepa.layers.position_embedding import sincos_position_embedding_2d

    config = CONFIG
    p, channels = config["patch_size"], config["num_channels"]
    keras.utils.set_random_seed(0)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    ours = _our_model(config, init="reference")
    randomise(ours, rng)
    official = _official_classes(models_mae)(**_official_kwargs(config))
    official.eval()
    parameters = dict(official.named_parameters())
    pairs = weight_map(ours)
    with torch.no_grad():
        for variable, name, layout in pairs:
            value = to_official(keras.ops.convert_to_numpy(variable), layout, p, channels)
            if tuple(parameters[name].shape) != value.shape:
                raise RuntimeError(f"{name}: {tuple(parameters[name].shape)} vs {value.shape}")
            parameters[name].copy_(torch.from_numpy(np.ascontiguousarray(value)))
    unused = sorted(set(parameters) - {name for _, name, _ in pairs})

    results = {"config": config, "mask_ratio": MASK_RATIO, "batch": BATCH,
               "official_parameters_not_used": unused}

    grid = ours.encoder.grid_size
    results["position_tables"] = {
        "encoder": relative_difference(
            sincos_position_embedding_2d(grid, config["hidden_dim"]),
            pos_embed.get_2d_sincos_pos_embed(config["hidden_dim"], grid[0], cls_token=True)[1:]),
        "decoder": relative_difference(
            sincos_position_embedding_2d(grid, config["decoder_dim"]),
            pos_embed.get_2d_sincos_pos_embed(config["decoder_dim"], grid[0], cls_token=True)[1:]),
    }

    images = rng.uniform(0.0, 1.0, (BATCH, config["image_size"], config["image_size"],
                                    channels)).astype("float32")
    visible, masked = sample_masks(ours, rng)
    official.noise = torch.from_numpy(noise_for(visible, masked))
    torch_images = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))

    # Forward: encoder tokens at the visible patches, decoder predictions.
    with torch.no_grad():
        latent, mask, ids_restore = official.forward_encoder(torch_images, MASK_RATIO)
        prediction = official.forward_decoder(latent, ids_restore)
    expected_mask = np.ones((BATCH, ours.num_patches), np.float32)
    np.put_along_axis(expected_mask, visible, 0.0, axis=1)
    if not np.array_equal(mask.numpy(), expected_mask):
        raise RuntimeError("the official masking did not take our masks")
    our_tokens = keras.ops.convert_to_numpy(ours.encoder(images, token_indices=visible))
    our_prediction = keras.ops.convert_to_numpy(ours.predict_patches(images, visible, masked))
    results["forward"] = {
        "encoder_tokens_visible": relative_difference(our_tokens, latent.numpy()),
        "decoder_predictions": relative_difference(our_prediction, prediction.numpy()),
        "decoder_predictions_masked_only": relative_difference(
            np.take_along_axis(our_prediction, masked[..., None], axis=1),
            np.take_along_axis(prediction.numpy(), masked[..., None], axis=1)),
    }

    # Loss and gradients, norm_pix_loss True and False.
    for norm_pix in (True, False):
        ours.norm_pix_loss = norm_pix
        official.norm_pix_loss = norm_pix
        official.zero_grad(set_to_none=True)
        official_loss, _, _ = official(torch_images, mask_ratio=MASK_RATIO)
        official_loss.backward()
        official_value = float(official_loss.detach())
        our_loss, our_gradients = our_loss_and_gradients(ours, images, visible, masked)
        differences = {}
        for variable, name, layout in pairs:
            grad = parameters[name].grad
            if grad is None:
                raise RuntimeError(f"the official model has no gradient for {name}")
            differences[name] = relative_difference(
                our_gradients[id(variable)], to_ours(grad.numpy(), layout, p, channels))
        key = f"norm_pix_loss_{norm_pix}"
        results[key] = {
            "loss_ours": our_loss,
            "loss_official": official_value,
            "loss": abs(our_loss - official_value) / abs(official_value),
            "gradients": worst(differences),
            "gradients_encoder": worst({k: v for k, v in differences.items()
                                        if not k.startswith(("decoder", "mask_token"))}),
            "gradients_decoder": worst({k: v for k, v in differences.items()
                                        if k.startswith(("decoder", "mask_token"))}),
            "gradients_per_tensor": differences,
        }
    return results


def _init_kind(name):
    if name == "patch_embed.proj.bias":
        return "conv default uniform"
    if name.endswith(".bias"):
        return "zeros"
    if "norm" in name:
        return "ones"
    if name == "mask_token":
        return "normal 0.02"
    return "xavier uniform"


def check_initialisation(models_mae):
    """Per-tensor mean and std: `MAE(init="reference")`, the official model's own
    freshly initialised weights (class token included, as constructed) and, for
    context, our default init."""
    import keras
    import torch

    config = INIT_CONFIG
    p, channels = config["patch_size"], config["num_channels"]
    keras.utils.set_random_seed(1)
    torch.manual_seed(1)
    reference = _our_model(config, init="reference")
    default = _our_model(config, init="default")
    official = dict(models_mae.MaskedAutoencoderViT(**_official_kwargs(config))
                    .named_parameters())
    rows = []
    for (ref_var, name, layout), (def_var, _, _) in zip(weight_map(reference),
                                                        weight_map(default)):
        official_value = to_ours(official[name].detach().numpy(), layout, p, channels)
        ref_value = keras.ops.convert_to_numpy(ref_var)
        def_value = keras.ops.convert_to_numpy(def_var)
        kind = _init_kind(name)
        if kind == "xavier uniform":
            fan_in, fan_out = math.prod(ref_value.shape[:-1]), ref_value.shape[-1]
            expected = math.sqrt(2.0 / (fan_in + fan_out))
        elif kind == "conv default uniform":
            expected = 1.0 / math.sqrt(3.0 * p * p * channels)
        else:
            expected = 0.02 if kind == "normal 0.02" else 0.0
        rows.append({
            "tensor": name, "shape_ours": list(ref_value.shape), "kind": kind,
            "expected_std": expected,
            "reference_std": float(ref_value.std()), "official_std": float(official_value.std()),
            "reference_mean": float(ref_value.mean()),
            "official_mean": float(official_value.mean()),
            "default_std": float(def_value.std()), "default_mean": float(def_value.mean()),
            "reference_max_abs": float(np.abs(ref_value).max()),
            "official_max_abs": float(np.abs(official_value).max()),
        })
    random_rows = [r for r in rows if r["kind"] == "xavier uniform"]
    constant_rows = [r for r in rows if r["expected_std"] == 0]
    differing = [r["tensor"] for r in constant_rows if not (
        r["reference_std"] == 0 and r["official_std"] == 0 and
        r["reference_mean"] == r["official_mean"])]
    ratios = [r["reference_std"] / r["official_std"] for r in random_rows]
    bias = [r for r in rows if r["kind"] == "conv default uniform"]
    return {
        "patch_bias_std_ratio_reference_over_official": (
            bias[0]["reference_std"] / bias[0]["official_std"] if bias else None),
        "config": config,
        "xavier_std_ratio_reference_over_official": {"min": min(ratios), "max": max(ratios)},
        "mask_token_pooled": _pooled_mask_token(reference, models_mae, config),
        "constants_that_differ": differing,
        "patch_bias": _patch_bias_effect(official, config),
        "per_tensor": rows,
    }


def _pooled_mask_token(model, models_mae, config, draws=32):
    """The mask token's std pooled over `draws` re-initialisations of each side (one
    draw holds only `decoder_dim` numbers)."""
    import keras

    from keras_jepa.models.initialization import reference_initialization

    ours, theirs = [], []
    official = models_mae.MaskedAutoencoderViT(**_official_kwargs(config))
    for draw in range(draws):
        reference_initialization(model.decoder, "mae", seed=draw)
        ours.append(keras.ops.convert_to_numpy(model.decoder.mask_token).ravel())
        official.initialize_weights()
        theirs.append(official.mask_token.detach().numpy().ravel())
    ours, theirs = np.concatenate(ours), np.concatenate(theirs)
    return {"samples": int(ours.size), "reference_std": float(ours.std()),
            "official_std": float(theirs.std()), "expected_std": 0.02,
            "standard_error": 0.02 / math.sqrt(2 * ours.size)}


def _patch_bias_effect(official, config):
    """The official patch-projection bias: `initialize_weights` re-draws the Conv2d
    weight only and `_init_weights` touches Linear and LayerNorm only, so the bias keeps
    PyTorch's Conv2d default U(±1/sqrt(C·p²)). Its size against the projection's output
    on standard-normal pixels (what normalised images roughly are)."""
    import torch

    fan_in = config["num_channels"] * config["patch_size"] ** 2
    bias = official["patch_embed.proj.bias"].detach().numpy()
    weight = official["patch_embed.proj.weight"].detach().reshape(
        config["hidden_dim"], -1).numpy()
    pixels = np.random.default_rng(0).standard_normal((4096, fan_in)).astype("float32")
    projected = pixels @ weight.T
    return {
        "fan_in": fan_in, "torch_default_bound": 1.0 / math.sqrt(fan_in),
        "official_bias_std": float(bias.std()),
        "official_bias_max_abs": float(np.abs(bias).max()),
        "projection_output_std_on_unit_pixels": float(projected.std()),
        "bias_rms_over_output_std": float(np.sqrt(np.mean(bias**2)) / projected.std()),
        "torch_version": torch.__version__,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "mae_against_reference.json"))
    args = parser.parse_args()
    mae_src = os.environ.get("MAE_SRC")
    if not mae_src:
        _skip("set MAE_SRC to a checkout of https://github.com/facebookresearch/mae to "
              "compare our MAE with the official code.")
    models_mae, pos_embed = _import_official(os.path.abspath(mae_src))

    import keras
    import timm
    import torch

    backend = keras.backend.backend()
    results = check_equivalence(models_mae, pos_embed)
    results["initialisation"] = check_initialisation(models_mae)
    results["versions"] = {"keras": keras.__version__, "torch": torch.__version__,
                           "timm": timm.__version__, "numpy": np.__version__}

    failures = []
    for name, value in results["forward"].items():
        print(f"forward {name:34s} {value:.2e}")
        if value > TOLERANCES["forward"]:
            failures.append(f"forward {name}")
    for name, value in results["position_tables"].items():
        print(f"position table {name:27s} {value:.2e}")
        if value > TOLERANCES["forward"]:
            failures.append(f"position table {name}")
    for norm_pix in (True, False):
        entry = results[f"norm_pix_loss_{norm_pix}"]
        print(f"norm_pix_loss={norm_pix!s:5s} loss ours {entry['loss_ours']:.7f} official "
              f"{entry['loss_official']:.7f} rel {entry['loss']:.2e}; gradients max rel "
              f"{entry['gradients']['max']:.2e} ({entry['gradients']['tensor']})")
        if entry["loss"] > TOLERANCES["loss"]:
            failures.append(f"loss norm_pix_loss={norm_pix}")
        if entry["gradients"]["max"] > TOLERANCES["gradients"]:
            failures.append(f"gradients norm_pix_loss={norm_pix}")
    init = results["initialisation"]
    ratio, pooled = init["xavier_std_ratio_reference_over_official"], init["mask_token_pooled"]
    print(f"init: Xavier kernels' std ratio ours(reference)/official "
          f"{ratio['min']:.3f}–{ratio['max']:.3f}; mask token std (pooled, "
          f"{pooled['samples']} values) ours {pooled['reference_std']:.4f} official "
          f"{pooled['official_std']:.4f}")
    print(f"init: patch bias std ratio ours(reference)/official "
          f"{init['patch_bias_std_ratio_reference_over_official']:.3f} (both PyTorch's Conv2d "
          "default)")
    for name in init["constants_that_differ"]:
        print(f"init DISCREPANCY: {name} is constant in ours, not in the official model "
              f"(see 'patch_bias': {init['patch_bias']})")
    results["tolerances"] = TOLERANCES
    results["failures"] = failures

    stored = {}
    if os.path.exists(args.output):
        with open(args.output) as handle:
            stored = json.load(handle)
    stored[backend] = results
    with open(args.output, "w") as handle:
        json.dump(stored, handle, indent=1)
    print(f"written under '{backend}' in {args.output}")
    if failures:
        print("FAILED: " + ", ".join(failures))
        sys.exit(1)
    print("PASSED")


if __name__ == "__main__":
    main()
