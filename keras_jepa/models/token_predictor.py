"""`TokenPredictor`: the base of the JEPA predictor and the MAE decoder.

Both take an encoder's tokens at some grid positions and fill in the others: project the
tokens to a narrow width and add fixed 2-D sin-cos positions at their grid indices, add
one shared learnable mask token plus its position for every position to fill in, run
pre-norm transformer blocks, apply a final LayerNorm and a linear head. A subclass only
arranges its tokens (`call`) and names its head; this base owns the layers, the weights
and the shared part of the config.
"""

import math

import keras
from keras import ops

from keras_jepa.checks import check_positive_int
from keras_jepa.checks import is_whole_number
from keras_jepa.layers import SinCosPositionEmbedding
from keras_jepa.models.transformer_stack import check_block_args
from keras_jepa.models.transformer_stack import initialized_dense
from keras_jepa.models.transformer_stack import transformer_blocks
from keras_jepa.models.transformer_stack import truncated_normal


def resolve_grid_size(num_patches, grid_size):
    """`(rows, cols)` from an explicit `grid_size`, or from a square `num_patches`."""
    if grid_size is None:
        if not is_whole_number(num_patches) or num_patches < 1:
            raise ValueError(
                f"`num_patches` must be a positive integer, got {num_patches!r}.")
        side = math.isqrt(int(num_patches))
        if side * side != num_patches:
            raise ValueError(
                "`num_patches` must be a perfect square (or pass `grid_size` for a "
                f"rectangular grid), got {num_patches!r}."
            )
        return (side, side)
    if not isinstance(grid_size, (tuple, list)) or len(grid_size) != 2:
        raise ValueError(f"`grid_size` must be a (rows, cols) pair, got {grid_size!r}.")
    return tuple(check_positive_int(g, "grid_size", whole_floats=True) for g in grid_size)


class TokenPredictor(keras.Model):
    """Mask tokens + fixed positions + a transformer stack, with a linear head.

    Layers, created in this order (their names are the weight paths' segments):
    `input_projection` (`input_dim` → `hidden_dim`), `position_embedding` (fixed 2-D
    sin-cos over `grid_size`), `block_0` … `block_{depth-1}`, `norm`, and the head, a
    Dense named and stored as `head_name` with `head_units()` outputs. The weight
    `mask_token` (`[1, 1, hidden_dim]`) comes first in `weights`.

    Subclasses set `head_name`, implement `head_units()` and `call`, and pass any further
    integer arguments as `head_args` (checked as positive integers with the others, kept
    as int attributes and written into the config after `num_heads`). This class is
    not instantiated itself; see `JEPAPredictor` and `MAEDecoder`.

    Args:
        num_patches: patches in the (square) grid, or pass `grid_size`.
        input_dim: width of the tokens given to `call`.
        hidden_dim: width of the blocks (a multiple of 4 for the 2-D positions).
        depth: number of transformer blocks.
        num_heads: attention heads.
        mlp_ratio: MLP width as a multiple of `hidden_dim`.
        grid_size: `(rows, cols)` for a non-square grid; overrides `num_patches`.
        qkv_bias, layer_norm_epsilon, init_std: as in `ViTEncoder`.
        head_args: dict of the subclass's further positive-integer arguments.

    Example:
    predictor = keras_jepa.models.JEPAPredictor(
        num_patches=64, input_dim=192, hidden_dim=96, depth=3, num_heads=3)
    isinstance(predictor, keras_jepa.models.token_predictor.TokenPredictor)  # True
    predictor.head_name, predictor.head_units()  # ('output_projection', 192)
    """

    head_name = None

    def __init__(
        self,
        num_patches,
        input_dim,
        hidden_dim,
        depth,
        num_heads,
        mlp_ratio,
        grid_size,
        qkv_bias,
        layer_norm_epsilon,
        init_std,
        head_args=None,
        **kwargs,
    ):
        trainable = kwargs.pop("trainable", True)
        super().__init__(**kwargs)
        head_args = dict(head_args or {})
        grid_size = resolve_grid_size(num_patches, grid_size)
        for name, value in dict(input_dim=input_dim, hidden_dim=hidden_dim, depth=depth,
                                num_heads=num_heads, **head_args).items():
            check_positive_int(value, name, whole_floats=True)
        check_block_args(mlp_ratio, hidden_dim, layer_norm_epsilon, init_std, qkv_bias)
        self.grid_size = grid_size
        self.num_patches = grid_size[0] * grid_size[1]
        self.input_dim = int(input_dim)
        self.hidden_dim = int(hidden_dim)
        self.depth = int(depth)
        self.num_heads = int(num_heads)
        self._head_arg_names = tuple(head_args)
        for name, value in head_args.items():
            setattr(self, name, int(value))
        self.mlp_ratio = float(mlp_ratio)
        self.qkv_bias = bool(qkv_bias)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.init_std = float(init_std)

        # === Layers === (this order fixes the weights' order and initial values)
        self.input_projection = initialized_dense(
            self.hidden_dim, self.init_std, self.dtype_policy, "input_projection"
        )
        self.position_embedding = SinCosPositionEmbedding(
            self.grid_size, self.hidden_dim, dtype=self.dtype_policy,
            name="position_embedding",
        )
        self.blocks = transformer_blocks(
            self.hidden_dim, self.depth, self.num_heads, self.mlp_ratio, self.qkv_bias,
            self.layer_norm_epsilon, self.init_std, self.dtype_policy,
        )
        self.norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="norm"
        )
        setattr(self, self.head_name, initialized_dense(
            self.head_units(), self.init_std, self.dtype_policy, self.head_name
        ))
        self.build()
        # Set after the sublayers exist so that it reaches them: a `trainable=False`
        # given to the base class (e.g. by `from_config`) would leave them trainable.
        self.trainable = trainable

    def head_units(self):
        """The head's output width per token."""
        raise NotImplementedError(f"{type(self).__name__} must define `head_units()`.")

    def build(self, input_shape=None):
        self.mask_token = self.add_weight(
            shape=(1, 1, self.hidden_dim),
            initializer=truncated_normal(self.init_std),
            name="mask_token",
        )
        self.input_projection.build((None, None, self.input_dim))
        for block in self.blocks:
            block.build((None, None, self.hidden_dim))
        self.norm.build((None, None, self.hidden_dim))
        getattr(self, self.head_name).build((None, None, self.hidden_dim))
        self.built = True

    def embed_tokens(self, tokens, indices):
        """`[B, K, input_dim]` tokens at grid `indices` → `[B, K, hidden_dim]` with positions."""
        return self.position_embedding(self.input_projection(tokens), indices)

    def mask_tokens(self, batch, indices, dtype):
        """The mask token plus the position of each of `indices` (`[batch, K]`)."""
        tokens = ops.broadcast_to(
            ops.cast(self.mask_token, dtype), (batch, indices.shape[1], self.hidden_dim)
        )
        return self.position_embedding(tokens, indices)

    def run_blocks(self, x):
        """The transformer blocks over `[B, K, hidden_dim]` tokens (no final norm)."""
        for block in self.blocks:
            x = block(x)
        return x

    def apply_head(self, x):
        """Final norm and head: `[B, K, hidden_dim]` → `[B, K, head_units()]`."""
        return getattr(self, self.head_name)(self.norm(x))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_patches": self.num_patches,
                "input_dim": self.input_dim,
                "hidden_dim": self.hidden_dim,
                "depth": self.depth,
                "num_heads": self.num_heads,
            }
        )
        config.update({name: getattr(self, name) for name in self._head_arg_names})
        config.update(
            {
                "mlp_ratio": self.mlp_ratio,
                "grid_size": self.grid_size,
                "qkv_bias": self.qkv_bias,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "init_std": self.init_std,
            }
        )
        return config
