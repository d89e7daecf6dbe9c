"""`JEPAPredictor`: the narrow ViT that predicts target-block embeddings from the context."""

import keras
from keras import ops

from keras_jepa.models.token_predictor import TokenPredictor
from keras_jepa.training.tensor_checks import check_token_indices
from keras_jepa.training.tensor_checks import token_indices_trusted


@keras.saving.register_keras_serializable(package="keras_jepa")
class JEPAPredictor(TokenPredictor):
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

    head_name = "output_projection"

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
        super().__init__(
            num_patches=num_patches,
            input_dim=input_dim,
            hidden_dim=hidden_dim,
            depth=depth,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            grid_size=grid_size,
            qkv_bias=qkv_bias,
            layer_norm_epsilon=layer_norm_epsilon,
            init_std=init_std,
            **kwargs,
        )

    def head_units(self):
        return self.input_dim

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

    def call(self, context_tokens, context_indices, target_indices):
        if len(context_tokens.shape) != 3 or context_tokens.shape[-1] != self.input_dim:
            raise ValueError(
                f"`context_tokens` must have shape (batch, tokens, {self.input_dim}), got "
                f"{tuple(context_tokens.shape)}."
            )
        if not token_indices_trusted():  # IJEPA's call has checked them
            check_token_indices(context_indices, self.num_patches, "context_indices", rank=2)
            check_token_indices(target_indices, self.num_patches, "target_indices", rank=3)
        num_context = context_tokens.shape[1]
        num_blocks, num_target = target_indices.shape[1], target_indices.shape[2]
        if context_indices.shape[1] != num_context:
            raise ValueError(
                f"`context_indices` has {context_indices.shape[1]} tokens per row but "
                f"`context_tokens` has {num_context}."
            )

        x = self.embed_tokens(context_tokens, context_indices)
        # One sequence per target block: [B, Kc, H] -> [B * M, Kc, H].
        x = ops.repeat(x, num_blocks, axis=0)
        targets = ops.reshape(target_indices, (-1, num_target))
        queries = self.mask_tokens(ops.shape(targets)[0], targets, x.dtype)
        x = self.run_blocks(ops.concatenate([x, queries], axis=1))
        x = self.apply_head(x[:, num_context:])
        return ops.reshape(x, (-1, num_blocks, num_target, self.input_dim))
