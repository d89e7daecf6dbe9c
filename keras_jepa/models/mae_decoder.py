"""`MAEDecoder`, MAE's lightweight ViT decoder, and the patchify/unpatchify helpers.

The decoder turns the encoder's visible tokens back into pixels for every patch. The
helpers convert between images and per-patch pixel vectors in the exact order
`PatchEmbedding` flattens a patch: (row, column, channel) within a patch, patches
row-major over the grid.
"""

import keras
import numpy as np
from keras import ops

from keras_jepa.layers import gather_tokens
from keras_jepa.models.token_predictor import TokenPredictor
from keras_jepa.training import is_concrete
from keras_jepa.training.tensor_checks import check_token_indices
from keras_jepa.training.tensor_checks import token_indices_trusted


def patchify(images, patch_size):
    """Images `[B, H, W, C]` → patch pixels `[B, (H/p)·(W/p), p·p·C]`.

    Patches are row-major over the grid and each is flattened in (row, column, channel)
    order, as `PatchEmbedding` flattens them before its projection.

    Example:
    patches = keras_jepa.models.patchify(images, patch_size=4)  # (B, 64, 48) for 32×32×3
    """
    _, height, width, channels = images.shape
    p = int(patch_size)
    if height is None or width is None or height % p or width % p:
        raise ValueError(
            f"`images` height and width must be static multiples of patch_size={p}, got "
            f"shape {tuple(images.shape)}."
        )
    rows, cols = height // p, width // p
    x = ops.reshape(images, (-1, rows, p, cols, p, channels))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (-1, rows * cols, p * p * channels))


def unpatchify(patches, patch_size, grid_size, num_channels):
    """Patch pixels `[B, rows·cols, p·p·C]` → images `[B, rows·p, cols·p, C]`.

    The inverse of `patchify`.

    Example:
    images = keras_jepa.models.unpatchify(patches, 4, grid_size=(8, 8), num_channels=3)
    """
    p = int(patch_size)
    rows, cols = (grid_size, grid_size) if isinstance(grid_size, int) else grid_size
    expected = (rows * cols, p * p * num_channels)
    if tuple(patches.shape[1:]) != expected:
        raise ValueError(
            f"`patches` must have shape (batch, {expected[0]}, {expected[1]}) for "
            f"patch_size={p}, grid_size={(rows, cols)}, num_channels={num_channels}; got "
            f"{tuple(patches.shape)}."
        )
    x = ops.reshape(patches, (-1, rows, cols, p, p, num_channels))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (-1, rows * p, cols * p, num_channels))


def _default_heads(width, encoder_heads):
    """The encoder's head count, or the largest smaller one that divides `width`."""
    for heads in range(min(encoder_heads, width), 0, -1):
        if width % heads == 0:
            return heads
    return 1


@keras.saving.register_keras_serializable(package="keras_jepa")
class MAEDecoder(TokenPredictor):
    """MAE's decoder: visible tokens + mask tokens → pixels of every patch.

    Projects the encoder's visible tokens to the decoder width and adds the decoder's
    fixed 2-D sin-cos positions at their grid indices; adds one shared learnable mask
    token plus its position for every masked patch; runs the pre-norm blocks over the
    visible and mask tokens together; applies a LayerNorm and a linear head to the
    `patch_size² · num_channels` pixels of each patch. Attention ignores token order and
    every token carries its own position, so the two groups are simply concatenated
    (no unshuffle before the blocks); the output is put back in grid order.

    The MAE reference also decodes a class token; `ViTEncoder` has none, so neither
    does this decoder.

    Args:
        num_patches: patches in the (square) grid, or pass `grid_size`.
        input_dim: encoder width.
        hidden_dim: decoder width (a multiple of 4 and of `num_heads`).
        depth: number of transformer blocks.
        num_heads: attention heads.
        patch_size: patch side in pixels (the encoder's).
        num_channels: image channels (the encoder's).
        mlp_ratio: MLP width as a multiple of `hidden_dim`.
        grid_size: `(rows, cols)` for a non-square grid; overrides `num_patches`.
        qkv_bias, layer_norm_epsilon, init_std: as in `ViTEncoder`.

    Call arguments:
        visible_tokens: `[B, Kv, input_dim]` encoder output at the visible patches.
        visible_indices: `int32 [B, Kv]` grid indices of the visible patches.
        masked_indices: `int32 [B, Km]` grid indices of the masked patches;
            `Kv + Km = num_patches` and the two sets partition the grid.

    Returns:
        `[B, num_patches, patch_size² · num_channels]` predicted pixels, grid order.

    Example:
    decoder = keras_jepa.models.MAEDecoder(
        num_patches=64, input_dim=192, hidden_dim=96, depth=2, num_heads=3,
        patch_size=4, num_channels=3)
    patches = decoder(visible_tokens, visible_indices, masked_indices)  # (B, 64, 48)

    Reference:
    - [He et al., 2022](https://arxiv.org/abs/2111.06377): Masked Autoencoders Are
      Scalable Vision Learners.
    """

    head_name = "head"

    def __init__(
        self,
        num_patches=None,
        input_dim=768,
        hidden_dim=512,
        depth=8,
        num_heads=16,
        patch_size=16,
        num_channels=3,
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
            head_args={"patch_size": patch_size, "num_channels": num_channels},
            **kwargs,
        )
        self.patch_dim = self.head_units()

    def head_units(self):
        return self.patch_size * self.patch_size * self.num_channels

    @classmethod
    def for_encoder(cls, encoder, hidden_dim=None, depth=None, num_heads=None, **kwargs):
        """A decoder matched to `encoder`'s grid, width, patch size and channels.

        Defaults scale with the encoder as MAE's ViT-L default decoder does (512 wide,
        8 deep for a 1024-wide, 24-deep encoder): half the encoder's width (rounded down
        to a multiple of 4), a third of its depth (at least 1), and the encoder's head
        count, or the largest smaller one that divides the width. For the reference's
        tiny config (192 wide, 6 deep, 3 heads) that is 96 / 2 / 3.
        """
        if hidden_dim is None:
            hidden_dim = max(4, (encoder.hidden_dim // 2) // 4 * 4)
        if depth is None:
            depth = max(1, encoder.depth // 3)
        if num_heads is None:
            num_heads = _default_heads(hidden_dim, encoder.num_heads)
        return cls(
            input_dim=encoder.hidden_dim,
            hidden_dim=hidden_dim,
            depth=depth,
            num_heads=num_heads,
            patch_size=encoder.patch_size,
            num_channels=encoder.num_channels,
            grid_size=encoder.grid_size,
            **kwargs,
        )

    def call(self, visible_tokens, visible_indices, masked_indices):
        if len(visible_tokens.shape) != 3 or visible_tokens.shape[-1] != self.input_dim:
            raise ValueError(
                f"`visible_tokens` must have shape (batch, tokens, {self.input_dim}), got "
                f"{tuple(visible_tokens.shape)}."
            )
        if not token_indices_trusted():  # MAE's predict_patches has checked them
            check_mask_partition(visible_indices, masked_indices, self.num_patches)
        if visible_indices.shape[1] != visible_tokens.shape[1]:
            raise ValueError(
                f"`visible_indices` has {visible_indices.shape[1]} tokens per row but "
                f"`visible_tokens` has {visible_tokens.shape[1]}."
            )
        x = self.embed_tokens(visible_tokens, visible_indices)
        mask_tokens = self.mask_tokens(ops.shape(x)[0], masked_indices, x.dtype)
        x = self.apply_head(self.run_blocks(ops.concatenate([x, mask_tokens], axis=1)))
        # Token j of the sequence sits at grid index order[j]; argsort(order) is the
        # sequence position of each grid index.
        order = ops.concatenate(
            [ops.cast(visible_indices, "int32"), ops.cast(masked_indices, "int32")], axis=1
        )
        return gather_tokens(x, ops.cast(ops.argsort(order, axis=-1), "int32"))


def check_mask_partition(visible_indices, masked_indices, num_patches):
    """Validates MAE masks: ranks, dtypes, counts, and (when concrete) a partition.

    Static checks always run: both rank 2 and integer, at least one token in each, and
    `Kv + Km = num_patches`. Inside a compiled step the values are symbolic and only
    those apply; concrete masks are also checked to be a partition of the grid.
    """
    check_token_indices(visible_indices, num_patches, "visible_indices", rank=2)
    check_token_indices(masked_indices, num_patches, "masked_indices", rank=2)
    num_visible, num_masked = visible_indices.shape[1], masked_indices.shape[1]
    if num_visible is not None and num_masked is not None:
        if num_visible < 1 or num_masked < 1:
            raise ValueError(
                f"MAE masks need at least one visible and one masked token per row, got "
                f"{num_visible} visible and {num_masked} masked."
            )
        if num_visible + num_masked != num_patches:
            raise ValueError(
                f"`visible_indices` ({num_visible} per row) and `masked_indices` "
                f"({num_masked} per row) must together cover the {num_patches} patches."
            )
    if is_concrete(visible_indices) and is_concrete(masked_indices):
        both = ops.convert_to_numpy(
            ops.concatenate(
                [ops.cast(visible_indices, "int32"), ops.cast(masked_indices, "int32")],
                axis=1,
            )
        )
        both.sort(axis=1)
        if both.size and (both != np.arange(num_patches)).any():
            raise ValueError(
                "`visible_indices` and `masked_indices` must partition the patches: every "
                f"index in [0, {num_patches}) exactly once per row."
            )
