"""The stack of transformer blocks shared by the encoder, the predictor and the decoder."""

import math

import keras

from keras_jepa.layers import TransformerBlock


def truncated_normal(stddev):
    return keras.initializers.TruncatedNormal(stddev=stddev)


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
