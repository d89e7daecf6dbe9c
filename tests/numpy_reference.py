"""An independent float64 numpy implementation of the I-JEPA forward pass and loss.

Written from the I-JEPA description, not from keras_jepa's code paths, so that a
backend's loss can be checked against it: if jax, tensorflow and torch each agree
with this reference, they agree with each other.
"""

import numpy as np
from keras import ops
from scipy.special import erf


def _w(variable):
    return np.asarray(ops.convert_to_numpy(variable), dtype=np.float64)


def layer_norm(x, gamma=None, beta=None, eps=1e-6):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    y = (x - mean) / np.sqrt(var + eps)
    if gamma is not None:
        y = y * _w(gamma) + _w(beta)
    return y


def dense(x, layer):
    y = x @ _w(layer.kernel)
    return y + _w(layer.bias) if layer.use_bias else y


def positions(grid, dim):
    rows, cols = grid
    quarter = dim // 4
    omega = 1.0 / 10000 ** (np.arange(quarter) / quarter)
    table = np.zeros((rows * cols, dim))
    for r in range(rows):
        for c in range(cols):
            i = r * cols + c
            table[i, :quarter] = np.sin(c * omega)
            table[i, quarter : 2 * quarter] = np.cos(c * omega)
            table[i, 2 * quarter : 3 * quarter] = np.sin(r * omega)
            table[i, 3 * quarter :] = np.cos(r * omega)
    return table


def block(x, blk):
    b, n, d = x.shape
    h = blk.num_heads
    y = layer_norm(x, blk.attention_norm.gamma, blk.attention_norm.beta, blk.layer_norm_epsilon)
    qkv = dense(y, blk.qkv).reshape(b, n, 3, h, d // h)
    q, k, v = (qkv[:, :, i].transpose(0, 2, 1, 3) for i in range(3))
    logits = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d // h)
    logits -= logits.max(-1, keepdims=True)
    attn = np.exp(logits)
    attn /= attn.sum(-1, keepdims=True)
    out = (attn @ v).transpose(0, 2, 1, 3).reshape(b, n, d)
    x = x + dense(out, blk.attention_output)
    y = layer_norm(x, blk.mlp_norm.gamma, blk.mlp_norm.beta, blk.layer_norm_epsilon)
    y = dense(y, blk.mlp_hidden)
    y = 0.5 * y * (1.0 + erf(y / np.sqrt(2.0)))
    return x + dense(y, blk.mlp_output)


def encoder_forward(encoder, images, token_indices=None):
    p = encoder.patch_size
    b, hh, ww, c = images.shape
    x = images.reshape(b, hh // p, p, ww // p, p, c).transpose(0, 1, 3, 2, 4, 5)
    x = dense(x.reshape(b, -1, p * p * c).astype(np.float64), encoder.patch_embedding.projection)
    x = x + positions(encoder.grid_size, encoder.hidden_dim)[None]
    if token_indices is not None:
        x = np.take_along_axis(x, token_indices[..., None].astype(np.int64), axis=1)
    for blk in encoder.blocks:
        x = block(x, blk)
    return layer_norm(x, encoder.norm.gamma, encoder.norm.beta, encoder.layer_norm_epsilon)


def predictor_forward(predictor, context, context_indices, target_indices):
    b, m, kt = target_indices.shape
    table = positions(predictor.grid_size, predictor.hidden_dim)
    mask_token = _w(predictor.mask_token).reshape(-1)
    outputs = np.zeros((b, m, kt, predictor.input_dim))
    for i in range(b):
        ctx = dense(context[i], predictor.input_projection) + table[context_indices[i]]
        for j in range(m):
            queries = mask_token[None] + table[target_indices[i, j]]
            x = np.concatenate([ctx, queries], 0)[None]
            for blk in predictor.blocks:
                x = block(x, blk)
            x = layer_norm(x, predictor.norm.gamma, predictor.norm.beta,
                           predictor.layer_norm_epsilon)
            outputs[i, j] = dense(x[0, ctx.shape[0]:], predictor.output_projection)
    return outputs


def ijepa_loss(model, batch, loss="smooth_l1"):
    images = np.asarray(batch["images"], np.float64)
    ctx, tgt = batch["context_indices"], batch["target_indices"]
    weights = np.asarray(batch["target_weights"], np.float64)
    full = layer_norm(encoder_forward(model.target_encoder, images), eps=model.target_norm_epsilon)
    targets = np.stack([full[i][tgt[i]] for i in range(len(images))])
    context = encoder_forward(model.context_encoder, images, ctx)
    predictions = predictor_forward(model.predictor, context, ctx, tgt)
    diff = predictions - targets
    if loss == "l2":
        per_element = diff**2
    else:
        per_element = np.where(np.abs(diff) < 1, 0.5 * diff**2, np.abs(diff) - 0.5)
    per_token = per_element.mean(-1)
    return float((per_token * weights).sum() / weights.sum())
