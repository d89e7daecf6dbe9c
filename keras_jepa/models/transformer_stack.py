"""The stack of transformer blocks shared by the encoder, the predictor and the decoder."""

import math

import keras

from keras_jepa.checks import check_bool
from keras_jepa.checks import check_number
from keras_jepa.layers import SinCosPositionEmbedding
from keras_jepa.layers import TransformerBlock
from keras_jepa.models.initialization import ReferenceTruncatedNormal


def check_block_args(mlp_ratio, hidden_dim, layer_norm_epsilon, init_std, qkv_bias):
    """Checks the block arguments shared by the ViT encoder, the predictor and the decoder.

    A ValueError names the argument, the value given and what was expected, before any
    layer is built with it.
    """
    mlp_ratio = check_number(mlp_ratio, "mlp_ratio", low=0, low_open=True)
    if int(round(hidden_dim * mlp_ratio)) < 1:
        raise ValueError(
            f"`mlp_ratio` ({mlp_ratio!r}) times `hidden_dim` ({hidden_dim}) must give an "
            "MLP of at least 1 unit (round(hidden_dim * mlp_ratio) ≥ 1).")
    check_number(layer_norm_epsilon, "layer_norm_epsilon", low=0, low_open=True)
    check_number(init_std, "init_std", low=0, low_open=True)
    check_bool(qkv_bias, "qkv_bias")


def truncated_normal(stddev):
    """The reference's `trunc_normal_(std=stddev)`: bounds ±2 absolute, not ±2 σ."""
    return ReferenceTruncatedNormal(stddev=stddev)


def initialized_dense(units, init_std, dtype, name):
    """A Dense layer with the reference's truncated-normal kernel initialisation."""
    return keras.layers.Dense(
        units, kernel_initializer=truncated_normal(init_std), dtype=dtype, name=name
    )


def positions_blocks_and_norm(layer):
    """The fixed positions, transformer blocks and final norm of a token model.

    Built from the attributes `ViTEncoder`, `JEPAPredictor` and `MAEDecoder` share
    (`grid_size`, `hidden_dim`, `depth`, `num_heads`, `mlp_ratio`, `qkv_bias`,
    `layer_norm_epsilon`, `init_std`, `dtype_policy`).

    Returns:
        `(position_embedding, blocks, norm)`.
    """
    position_embedding = SinCosPositionEmbedding(
        layer.grid_size, layer.hidden_dim, dtype=layer.dtype_policy, name="position_embedding"
    )
    blocks = transformer_blocks(
        layer.hidden_dim, layer.depth, layer.num_heads, layer.mlp_ratio, layer.qkv_bias,
        layer.layer_norm_epsilon, layer.init_std, layer.dtype_policy,
    )
    norm = keras.layers.LayerNormalization(
        epsilon=layer.layer_norm_epsilon, dtype=layer.dtype_policy, name="norm"
    )
    return position_embedding, blocks, norm


def transformer_blocks(hidden_dim, depth, num_heads, mlp_ratio, qkv_bias, layer_norm_epsilon,
                       init_std, dtype):
    """`depth` pre-norm blocks initialised as the reference does.

    Kernels are truncated normal with std `init_std`; the two kernels of block `i` that
    write into the residual stream use `init_std / sqrt(2 (i + 1))`, so the residual
    stream's variance grows slowly with depth.
    """
    return [
        TransformerBlock(
            hidden_dim,
            num_heads,
            mlp_ratio=mlp_ratio,
            qkv_bias=qkv_bias,
            layer_norm_epsilon=layer_norm_epsilon,
            kernel_initializer=truncated_normal(init_std),
            output_kernel_initializer=truncated_normal(init_std / math.sqrt(2.0 * (i + 1))),
            dtype=dtype,
            name=f"block_{i}",
        )
        for i in range(depth)
    ]
