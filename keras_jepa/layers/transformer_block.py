"""The pre-norm ViT transformer block (multi-head self-attention + GELU MLP)."""

import keras
from keras import ops

from keras_jepa.checks import check_number


@keras.saving.register_keras_serializable(package="keras_jepa")
class TransformerBlock(keras.layers.Layer):
    """Pre-norm transformer block: `x + Attn(LN(x))`, then `x + MLP(LN(x))`.

    Attention uses one fused query-key-value projection and
    `keras.ops.dot_product_attention`, which maps to each backend's fused kernel
    (`benchmarks/attention_choice.py` measures it against `keras.layers.MultiHeadAttention`).
    Bidirectional, no mask: I-JEPA's encoders and predictor attend over all their tokens.

    Args:
        hidden_dim: token width.
        num_heads: attention heads; must divide `hidden_dim`.
        mlp_ratio: MLP hidden width as a multiple of `hidden_dim`.
        qkv_bias: whether the query-key-value projection has a bias.
        layer_norm_epsilon: epsilon of both LayerNorms.
        kernel_initializer: initializer of every kernel.
        output_kernel_initializer: initializer of the two kernels that write into the
            residual stream (attention output, second MLP layer); defaults to
            `kernel_initializer`. The reference scales their std by `1/sqrt(2·depth)`.

    Example:
    block = keras_jepa.layers.TransformerBlock(hidden_dim=192, num_heads=3)
    y = block(keras.ops.zeros((2, 64, 192)))
    """

    def __init__(
        self,
        hidden_dim,
        num_heads,
        mlp_ratio=4.0,
        qkv_bias=True,
        layer_norm_epsilon=1e-6,
        kernel_initializer="glorot_uniform",
        output_kernel_initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if hidden_dim % num_heads:
            raise ValueError(
                f"`hidden_dim` ({hidden_dim}) must be divisible by `num_heads` "
                f"({num_heads})."
            )
        for name, value in (("mlp_ratio", mlp_ratio), ("layer_norm_epsilon", layer_norm_epsilon)):
            check_number(value, name, low=0, low_open=True)
        if int(round(hidden_dim * mlp_ratio)) < 1:
            raise ValueError(
                f"`mlp_ratio` ({mlp_ratio!r}) times `hidden_dim` ({hidden_dim}) must give an "
                "MLP of at least 1 unit.")
        self.hidden_dim = int(hidden_dim)
        self.num_heads = int(num_heads)
        self.mlp_ratio = float(mlp_ratio)
        self.qkv_bias = bool(qkv_bias)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.output_kernel_initializer = keras.initializers.get(
            output_kernel_initializer or kernel_initializer
        )
        self.head_dim = self.hidden_dim // self.num_heads
        self.mlp_dim = int(round(self.hidden_dim * self.mlp_ratio))

        def dense(units, name, use_bias=True, initializer=None):
            return keras.layers.Dense(
                units,
                use_bias=use_bias,
                kernel_initializer=initializer or self.kernel_initializer,
                dtype=self.dtype_policy,
                name=name,
            )

        def norm(name):
            return keras.layers.LayerNormalization(
                epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name=name
            )

        self.attention_norm = norm("attention_norm")
        self.qkv = dense(3 * self.hidden_dim, "qkv", use_bias=self.qkv_bias)
        self.attention_output = dense(
            self.hidden_dim, "attention_output", initializer=self.output_kernel_initializer
        )
        self.mlp_norm = norm("mlp_norm")
        self.mlp_hidden = dense(self.mlp_dim, "mlp_hidden")
        self.mlp_output = dense(
            self.hidden_dim, "mlp_output", initializer=self.output_kernel_initializer
        )

    def build(self, input_shape):
        if input_shape[-1] != self.hidden_dim:
            raise ValueError(
                f"TransformerBlock expects tokens of width hidden_dim={self.hidden_dim}, "
                f"got shape {tuple(input_shape)}."
            )
        token_shape = (None, None, self.hidden_dim)
        self.attention_norm.build(token_shape)
        self.qkv.build(token_shape)
        self.attention_output.build(token_shape)
        self.mlp_norm.build(token_shape)
        self.mlp_hidden.build(token_shape)
        self.mlp_output.build((None, None, self.mlp_dim))
        self.built = True

    def call(self, x):
        num_tokens = ops.shape(x)[1]
        qkv = self.qkv(self.attention_norm(x))
        qkv = ops.reshape(qkv, (-1, num_tokens, 3, self.num_heads, self.head_dim))
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        attended = ops.dot_product_attention(q, k, v)
        attended = ops.reshape(attended, (-1, num_tokens, self.hidden_dim))
        x = x + self.attention_output(attended)
        h = ops.gelu(self.mlp_hidden(self.mlp_norm(x)), approximate=False)
        return x + self.mlp_output(h)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "num_heads": self.num_heads,
                "mlp_ratio": self.mlp_ratio,
                "qkv_bias": self.qkv_bias,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "output_kernel_initializer": keras.initializers.serialize(
                    self.output_kernel_initializer
                ),
            }
        )
        return config
