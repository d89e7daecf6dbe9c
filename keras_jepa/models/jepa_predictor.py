"""`JEPAPredictor`: the narrow ViT that predicts target-block embeddings from the context."""

import keras
from keras import ops

from keras_jepa.models.vit_encoder import check_token_indices
from keras_jepa.models.config_checks import check_block_args
from keras_jepa.models.config_checks import check_positive_ints
from keras_jepa.models.config_checks import resolve_grid_size
from keras_jepa.models.transformer_stack import initialized_dense
from keras_jepa.models.transformer_stack import positions_blocks_and_norm
from keras_jepa.models.transformer_stack import truncated_normal


@keras.saving.register_keras_serializable(package="keras_jepa")
class JEPAPredictor(keras.Model):
    """Predicts the target encoder's embeddings of target blocks from context tokens.

    Projects the context tokens to the predictor width and adds the predictor's own
    fixed positions; appends, per target position, one shared learnable mask token plus
    that position's embedding; runs the blocks; keeps the target positions; projects
    back to the encoder width. Each of the M target blocks is predicted in its own
    sequence (the context is repeated per block), so target blocks never attend to each
    other — as in the reference.

    Args:
        num_patches: patches in the (square) grid, or pass `grid_size`.
        input_dim: encoder width (input and output width of the predictor).
        hidden_dim: predictor width (reference 384 for ViT-H; narrow).
        depth: number of transformer blocks (reference 12).
        num_heads: attention heads (the reference uses the encoder's).
        mlp_ratio: MLP width as a multiple of `hidden_dim`.
        grid_size: `(rows, cols)` for a non-square grid; overrides `num_patches`.
        qkv_bias, layer_norm_epsilon, init_std: as in `ViTEncoder`.

    Call arguments:
        context_tokens: `[B, Kc, input_dim]` context-encoder output.
        context_indices: `int32 [B, Kc]` grid positions of the context tokens.
        target_indices: `int32 [B, M, Kt]` grid positions of the target tokens.

    Returns:
        `[B, M, Kt, input_dim]` predicted target embeddings.

    Example:
    predictor = keras_jepa.models.JEPAPredictor(
        num_patches=64, input_dim=192, hidden_dim=96, depth=3, num_heads=3)
    predictions = predictor(context_tokens, context_indices, target_indices)
    """

    def __init__(
        self,
        num_patches=None,
        input_dim=768,
        hidden_dim=384,
        depth=12,
        num_heads=12,
        mlp_ratio=4.0,
        grid_size=None,
        qkv_bias=True,
        layer_norm_epsilon=1e-6,
        init_std=0.02,
        **kwargs,
    ):
        trainable = kwargs.pop("trainable", True)
        super().__init__(**kwargs)
        grid_size = resolve_grid_size(num_patches, grid_size)
        check_positive_ints(
            input_dim=input_dim, hidden_dim=hidden_dim, depth=depth, num_heads=num_heads
        )
        check_block_args(mlp_ratio, hidden_dim, layer_norm_epsilon, init_std, qkv_bias)
        self.grid_size = grid_size
        self.num_patches = grid_size[0] * grid_size[1]
        self.input_dim = int(input_dim)
        self.hidden_dim = int(hidden_dim)
        self.depth = int(depth)
        self.num_heads = int(num_heads)
        self.mlp_ratio = float(mlp_ratio)
        self.qkv_bias = bool(qkv_bias)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.init_std = float(init_std)

        self.input_projection = initialized_dense(
            self.hidden_dim, self.init_std, self.dtype_policy, "input_projection"
        )
        self.position_embedding, self.blocks, self.norm = positions_blocks_and_norm(self)
        self.output_projection = initialized_dense(
            self.input_dim, self.init_std, self.dtype_policy, "output_projection"
        )
        self.build()
        # Set after the sublayers exist so that it reaches them: a `trainable=False`
        # given to the base class (e.g. by `from_config`) would leave them trainable.
        self.trainable = trainable

    @classmethod
    def for_encoder(cls, encoder, hidden_dim=384, depth=12, num_heads=None, **kwargs):
        """A predictor matched to `encoder`'s grid and width (heads default to its).

        Works with any encoder of the `keras_jepa.models.encoder_contract`: without a
        `grid_size` the grid is the square of `num_patches`; without `num_heads` pass it.
        """
        if num_heads is None:
            num_heads = getattr(encoder, "num_heads", None)
            if num_heads is None:
                raise ValueError(
                    f"{type(encoder).__name__} has no `num_heads`: pass `num_heads` to "
                    "JEPAPredictor.for_encoder."
                )
        grid_size = getattr(encoder, "grid_size", None)
        return cls(
            num_patches=None if grid_size is not None else encoder.num_patches,
            input_dim=encoder.hidden_dim,
            hidden_dim=hidden_dim,
            depth=depth,
            num_heads=num_heads,
            grid_size=grid_size,
            **kwargs,
        )

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
        self.output_projection.build((None, None, self.hidden_dim))
        self.built = True

    def call(self, context_tokens, context_indices, target_indices):
        if len(context_tokens.shape) != 3 or context_tokens.shape[-1] != self.input_dim:
            raise ValueError(
                f"`context_tokens` must have shape (batch, tokens, {self.input_dim}), got "
                f"{tuple(context_tokens.shape)}."
            )
        check_token_indices(context_indices, self.num_patches, "context_indices", rank=2)
        check_token_indices(target_indices, self.num_patches, "target_indices", rank=3)
        num_context = context_tokens.shape[1]
        num_blocks, num_target = target_indices.shape[1], target_indices.shape[2]
        if context_indices.shape[1] != num_context:
            raise ValueError(
                f"`context_indices` has {context_indices.shape[1]} tokens per row but "
                f"`context_tokens` has {num_context}."
            )

        x = self.position_embedding(self.input_projection(context_tokens), context_indices)
        # One sequence per target block: [B, Kc, H] -> [B * M, Kc, H].
        x = ops.repeat(x, num_blocks, axis=0)
        targets = ops.reshape(target_indices, (-1, num_target))
        queries = ops.broadcast_to(
            ops.cast(self.mask_token, x.dtype), (ops.shape(targets)[0], num_target, self.hidden_dim)
        )
        queries = self.position_embedding(queries, targets)
        x = ops.concatenate([x, queries], axis=1)
        for block in self.blocks:
            x = block(x)
        x = self.output_projection(self.norm(x[:, num_context:]))
        return ops.reshape(x, (-1, num_blocks, num_target, self.input_dim))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_patches": self.num_patches,
                "input_dim": self.input_dim,
                "hidden_dim": self.hidden_dim,
                "depth": self.depth,
                "num_heads": self.num_heads,
                "mlp_ratio": self.mlp_ratio,
                "grid_size": self.grid_size,
                "qkv_bias": self.qkv_bias,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "init_std": self.init_std,
            }
        )
        return config
