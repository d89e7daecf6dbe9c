"""Pretrained-weight conversion: reference I-JEPA state dicts and Hugging Face IJepaModel.

The reference format is checked against an independent float64 numpy forward pass that
reads the torch-layout state dict directly (conv kernel [D, C, p, p], Linear [out, in],
fused qkv, channels-first images); the Hugging Face format against `transformers`'
own `IJepaModel` built offline from a small config with random weights.
"""

import os

import numpy as np
import pytest
from keras import ops
from scipy.special import erf

from keras_jepa.models import ViTEncoder
from keras_jepa.models.pretrained import ijepa_from_reference_checkpoint
from keras_jepa.models.pretrained import load_reference_encoder_weights
from keras_jepa.models.pretrained import vit_encoder_from_hf_ijepa
from keras_jepa.models.pretrained import vit_encoder_from_reference_state_dict
from tests.numpy_reference import positions

PATCH, CHANNELS, WIDTH, HEADS, MLP, GRID = 2, 3, 16, 2, 32, (4, 4)
PRED_WIDTH, PRED_HEADS = 8, 2


# === An independent numpy forward of the reference ViT, on its state-dict layout ===

def _layer_norm(x, sd, prefix, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * sd[prefix + "weight"] + sd[prefix + "bias"]


def _linear(x, sd, prefix):
    return x @ sd[prefix + "weight"].T + sd[prefix + "bias"]


def _block(x, sd, prefix, heads, eps=1e-6):
    b, n, d = x.shape
    qkv = _linear(_layer_norm(x, sd, prefix + "norm1.", eps), sd, prefix + "attn.qkv.")
    qkv = qkv.reshape(b, n, 3, heads, d // heads).transpose(2, 0, 3, 1, 4)
    logits = qkv[0] @ qkv[1].transpose(0, 1, 3, 2) / np.sqrt(d // heads)
    attn = np.exp(logits - logits.max(-1, keepdims=True))
    attn /= attn.sum(-1, keepdims=True)
    out = (attn @ qkv[2]).transpose(0, 2, 1, 3).reshape(b, n, d)
    x = x + _linear(out, sd, prefix + "attn.proj.")
    h = _linear(_layer_norm(x, sd, prefix + "norm2.", eps), sd, prefix + "mlp.fc1.")
    h = 0.5 * h * (1.0 + erf(h / np.sqrt(2.0)))
    return x + _linear(h, sd, prefix + "mlp.fc2.")


def reference_vit_forward(sd, images_nchw, heads, depth):
    """Strided convolution written as an explicit sum over each patch's pixels."""
    w = sd["patch_embed.proj.weight"]  # [D, C, p, p]
    b, c, hh, ww = images_nchw.shape
    p = w.shape[-1]
    tokens = []
    for r in range(hh // p):
        for col in range(ww // p):
            patch = images_nchw[:, :, r * p:(r + 1) * p, col * p:(col + 1) * p]
            tokens.append(np.einsum("bcij,dcij->bd", patch, w) + sd["patch_embed.proj.bias"])
    x = np.stack(tokens, axis=1) + sd["pos_embed"]
    for i in range(depth):
        x = _block(x, sd, f"blocks.{i}.", heads)
    return _layer_norm(x, sd, "norm.", 1e-6)


def reference_predictor_forward(sd, context, context_indices, target_indices, heads, depth):
    """One sample, one target block: `context` [Kc, D] → predictions [Kt, D]."""
    pos = sd["predictor_pos_embed"][0]
    x = _linear(context, sd, "predictor_embed.") + pos[context_indices]
    queries = sd["mask_token"][0] + pos[target_indices]
    x = np.concatenate([x, queries], 0)[None]
    for i in range(depth):
        x = _block(x, sd, f"predictor_blocks.{i}.", heads)
    x = _layer_norm(x, sd, "predictor_norm.", 1e-6)[0, len(context_indices):]
    return _linear(x, sd, "predictor_proj.")


# === Random reference-format state dicts ===

def _random_block(rng, sd, prefix, dim, mlp):
    for norm in ("norm1", "norm2"):
        sd[f"{prefix}{norm}.weight"] = 1.0 + 0.2 * rng.normal(size=dim)
        sd[f"{prefix}{norm}.bias"] = 0.2 * rng.normal(size=dim)
    for name, (out, inp) in {"attn.qkv": (3 * dim, dim), "attn.proj": (dim, dim),
                             "mlp.fc1": (mlp, dim), "mlp.fc2": (dim, mlp)}.items():
        sd[f"{prefix}{name}.weight"] = rng.normal(size=(out, inp)) / np.sqrt(inp)
        sd[f"{prefix}{name}.bias"] = 0.2 * rng.normal(size=out)


def random_reference_encoder(seed, depth=2):
    rng = np.random.default_rng(seed)
    sd = {
        "patch_embed.proj.weight": rng.normal(size=(WIDTH, CHANNELS, PATCH, PATCH)) / 3,
        "patch_embed.proj.bias": 0.2 * rng.normal(size=WIDTH),
        "pos_embed": positions(GRID, WIDTH)[None],
        "norm.weight": 1.0 + 0.2 * rng.normal(size=WIDTH),
        "norm.bias": 0.2 * rng.normal(size=WIDTH),
    }
    for i in range(depth):
        _random_block(rng, sd, f"blocks.{i}.", WIDTH, MLP)
    return {k: np.asarray(v, np.float32) for k, v in sd.items()}


def random_reference_predictor(seed, depth=1):
    rng = np.random.default_rng(seed)
    sd = {
        "predictor_embed.weight": rng.normal(size=(PRED_WIDTH, WIDTH)) / 4,
        "predictor_embed.bias": 0.2 * rng.normal(size=PRED_WIDTH),
        "mask_token": rng.normal(size=(1, 1, PRED_WIDTH)),
        "predictor_pos_embed": positions(GRID, PRED_WIDTH)[None],
        "predictor_norm.weight": 1.0 + 0.2 * rng.normal(size=PRED_WIDTH),
        "predictor_norm.bias": 0.2 * rng.normal(size=PRED_WIDTH),
        "predictor_proj.weight": rng.normal(size=(WIDTH, PRED_WIDTH)) / 3,
        "predictor_proj.bias": 0.2 * rng.normal(size=WIDTH),
    }
    for i in range(depth):
        _random_block(rng, sd, f"predictor_blocks.{i}.", PRED_WIDTH, 2 * PRED_WIDTH)
    return {k: np.asarray(v, np.float32) for k, v in sd.items()}


def _images(seed=1):
    return np.random.default_rng(seed).normal(size=(2, 8, 8, CHANNELS)).astype("float32")


def _tokens(encoder, images):
    return ops.convert_to_numpy(encoder(images))


# === Reference format ===

def test_reference_encoder_matches_numpy_forward_of_the_state_dict():
    sd = random_reference_encoder(0)
    encoder = vit_encoder_from_reference_state_dict(
        {"module." + k: v for k, v in sd.items()}, num_heads=HEADS)
    assert (encoder.image_size, encoder.patch_size, encoder.hidden_dim, encoder.depth,
            encoder.num_channels, encoder.mlp_ratio) == (8, PATCH, WIDTH, 2, CHANNELS, 2.0)
    images = _images()
    expected = reference_vit_forward(
        {k: v.astype(np.float64) for k, v in sd.items()},
        images.transpose(0, 3, 1, 2).astype(np.float64), HEADS, 2)
    np.testing.assert_allclose(_tokens(encoder, images), expected, atol=1e-4, rtol=1e-4)


def test_ijepa_from_reference_checkpoint_loads_all_three_models():
    encoder_sd, target_sd = random_reference_encoder(0), random_reference_encoder(1)
    predictor_sd = random_reference_predictor(2)
    checkpoint = {"encoder": encoder_sd, "target_encoder": target_sd,
                  "predictor": {"module." + k: v for k, v in predictor_sd.items()},
                  "opt": {"state": {}}, "epoch": 3, "lr": 1e-3}
    model = ijepa_from_reference_checkpoint(checkpoint, num_heads=HEADS, loss="l2")
    assert model.loss_name == "l2" and model.predictor.num_heads == HEADS
    images = _images(3)
    nchw = images.transpose(0, 3, 1, 2).astype(np.float64)
    f64 = lambda sd: {k: v.astype(np.float64) for k, v in sd.items()}  # noqa: E731
    for encoder, sd in ((model.context_encoder, encoder_sd), (model.target_encoder, target_sd)):
        np.testing.assert_allclose(_tokens(encoder, images),
                                   reference_vit_forward(f64(sd), nchw, HEADS, 2),
                                   atol=1e-4, rtol=1e-4)
    context = np.random.default_rng(4).normal(size=(1, 5, WIDTH)).astype("float32")
    context_indices = np.array([[0, 3, 6, 9, 15]], "int32")
    target_indices = np.array([[[2, 5, 7]]], "int32")
    predicted = model.predictor(context, context_indices, target_indices)
    expected = reference_predictor_forward(f64(predictor_sd), context[0].astype(np.float64),
                                           context_indices[0], target_indices[0, 0],
                                           PRED_HEADS, 1)
    np.testing.assert_allclose(ops.convert_to_numpy(predicted)[0, 0], expected,
                               atol=1e-4, rtol=1e-4)


def _weights(model):
    return [ops.convert_to_numpy(w).copy() for w in model.weights]


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda sd: sd.pop("blocks.1.mlp.fc2.bias"), "missing keys: blocks.1.mlp.fc2.bias"),
        (lambda sd: sd.update({"head.weight": np.zeros((3, 16))}),
         "unexpected keys: head.weight"),
        (lambda sd: sd.update({"norm.bias": np.zeros(15, "float32")}), "norm.bias: shape"),
        (lambda sd: sd.update({"pos_embed": sd["pos_embed"] + 0.01}),
         "pos_embed: differs from the fixed 2-D sin-cos positions"),
    ],
)
def test_strict_reference_loading_names_the_problem_and_loads_nothing(edit, message):
    encoder = ViTEncoder(image_size=8, patch_size=PATCH, hidden_dim=WIDTH, depth=2,
                         num_heads=HEADS, mlp_ratio=2.0, num_channels=CHANNELS)
    before = _weights(encoder)
    sd = random_reference_encoder(0)
    edit(sd)
    with pytest.raises(ValueError, match="nothing was loaded") as info:
        load_reference_encoder_weights(encoder, sd)
    assert message in str(info.value)
    for old, new in zip(before, _weights(encoder)):
        np.testing.assert_array_equal(old, new)


def test_reference_architecture_errors():
    sd = random_reference_encoder(0)
    with pytest.raises(ValueError, match="`num_heads` cannot be read"):
        vit_encoder_from_reference_state_dict(sd)
    with pytest.raises(ValueError, match="`preset` 'tiny' is 192 wide and 12 deep"):
        vit_encoder_from_reference_state_dict(sd, preset="tiny")
    with pytest.raises(ValueError, match="lacks \\['predictor'\\]"):
        ijepa_from_reference_checkpoint({"encoder": sd, "target_encoder": sd}, num_heads=2)


def test_reference_checkpoint_file_round_trip(tmp_path):
    torch = pytest.importorskip("torch", reason="reading .pth files needs torch")
    checkpoint = {
        "encoder": {k: torch.from_numpy(v) for k, v in random_reference_encoder(0).items()},
        "target_encoder": {k: torch.from_numpy(v)
                           for k, v in random_reference_encoder(1).items()},
        "predictor": {k: torch.from_numpy(v).to(torch.bfloat16)
                      for k, v in random_reference_predictor(2).items()},
        "epoch": 7,
    }
    path = tmp_path / "ijepa-ep7.pth.tar"
    torch.save(checkpoint, path)
    model = ijepa_from_reference_checkpoint(str(path), num_heads=HEADS,
                                            position_tolerance=1e-2)
    np.testing.assert_array_equal(
        ops.convert_to_numpy(model.target_encoder.norm.gamma),
        checkpoint["target_encoder"]["norm.weight"].numpy())
    np.testing.assert_array_equal(
        ops.convert_to_numpy(model.predictor.mask_token),
        checkpoint["predictor"]["mask_token"].float().numpy())


# === Hugging Face transformers ===

@pytest.fixture(scope="module")
def transformers_ijepa():
    pytest.importorskip("torch", reason="the Hugging Face reference model needs torch")
    previous = os.environ.get("USE_TF")
    os.environ["USE_TF"] = "0"  # keep transformers from loading its TensorFlow models
    try:
        transformers = pytest.importorskip(
            "transformers", reason="the Hugging Face comparison needs transformers")
    finally:
        if previous is None:
            os.environ.pop("USE_TF")
        else:
            os.environ["USE_TF"] = previous
    return transformers


def _hf_model(transformers, **config):
    import torch

    torch.manual_seed(0)
    config = transformers.IJepaConfig(
        image_size=8, patch_size=PATCH, num_channels=CHANNELS, hidden_size=WIDTH,
        num_hidden_layers=2, num_attention_heads=HEADS, intermediate_size=MLP, **config)
    model = transformers.IJepaModel(config).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "layernorm" in name:  # away from the identity so a mix-up shows
                parameter.add_(0.2 * torch.randn_like(parameter))
        model.embeddings.position_embeddings.copy_(
            torch.from_numpy(positions(GRID, WIDTH)[None]).float())
    return model


def test_hf_ijepa_gives_the_same_last_hidden_state(transformers_ijepa):
    import torch

    hf_model = _hf_model(transformers_ijepa)
    encoder = vit_encoder_from_hf_ijepa(hf_model)
    assert encoder.layer_norm_epsilon == hf_model.config.layer_norm_eps
    images = _images(5)
    with torch.no_grad():
        expected = hf_model(torch.from_numpy(images.transpose(0, 3, 1, 2))).last_hidden_state
    np.testing.assert_allclose(_tokens(encoder, images), expected.numpy(), atol=1e-4,
                               rtol=1e-4)


def test_hf_ijepa_from_safetensors_file_and_config(transformers_ijepa, tmp_path):
    from safetensors.torch import save_file

    hf_model = _hf_model(transformers_ijepa, qkv_bias=False, layer_norm_eps=1e-6)
    path = tmp_path / "model.safetensors"
    save_file(hf_model.state_dict(), str(path))
    hf_model.config.to_json_file(str(tmp_path / "config.json"))
    encoder = vit_encoder_from_hf_ijepa(path, config=tmp_path / "config.json")
    assert not encoder.qkv_bias and encoder.layer_norm_epsilon == 1e-6
    reference = vit_encoder_from_hf_ijepa(hf_model)
    images = _images(6)
    np.testing.assert_allclose(_tokens(encoder, images), _tokens(reference, images),
                               atol=1e-6)


def test_hf_ijepa_refuses_what_it_cannot_load(transformers_ijepa):
    import torch

    hf_model = _hf_model(transformers_ijepa)
    state = hf_model.state_dict()
    with pytest.raises(ValueError, match="`config` is required"):
        vit_encoder_from_hf_ijepa(state)
    with torch.no_grad():
        hf_model.embeddings.position_embeddings.normal_()
    with pytest.raises(ValueError, match="learned or fine-tuned position embeddings"):
        vit_encoder_from_hf_ijepa(hf_model)
    state = dict(_hf_model(transformers_ijepa).state_dict())
    state["pooler.dense.weight"] = torch.zeros(WIDTH, WIDTH)
    del state["encoder.layer.1.attention.attention.key.bias"]
    with pytest.raises(ValueError, match="unexpected keys: pooler.dense.weight") as info:
        vit_encoder_from_hf_ijepa(state, config=hf_model.config)
    assert "missing keys: encoder.layer.1.attention.attention.key.bias" in str(info.value)
    config = hf_model.config.to_dict()
    config["hidden_act"] = "gelu_new"
    with pytest.raises(ValueError, match="`config.hidden_act` must be 'gelu'"):
        vit_encoder_from_hf_ijepa(state, config=config)
