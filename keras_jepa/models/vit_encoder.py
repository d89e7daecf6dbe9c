"""`ViTEncoder`: the I-JEPA context/target encoder, a ViT that can run on a token subset."""

import keras

from keras_jepa.checks import check_positive_int
from keras_jepa.checks import is_int
from keras_jepa.layers import PatchEmbedding
from keras_jepa.layers import gather_tokens
from keras_jepa.models.transformer_stack import check_block_args
from keras_jepa.models.transformer_stack import positions_blocks_and_norm
from keras_jepa.models.transformer_stack import truncated_normal
from keras_jepa.models.vit_presets import VIT_PRESETS
from keras_jepa.training.tensor_checks import check_token_indices
from keras_jepa.training.tensor_checks import token_indices_trusted


def _pair(value, name):
    if is_int(value):
        pair = (value, value)
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        pair = tuple(value)
    else:
        raise ValueError(f"`{name}` must be an int or a (height, width) pair, got {value!r}.")
    for side in pair:
        try:
            check_positive_int(side, name, whole_floats=True)
        except ValueError:
            raise ValueError(
                f"`{name}` must be a positive int or a (height, width) pair of positive "
                f"ints, got {value!r}.") from None
    return int(pair[0]), int(pair[1])


@keras.saving.register_keras_serializable(package="keras_jepa")
class ViTEncoder(keras.Model):
    """Vision Transformer encoder without a class token, able to encode a token subset.

    Patchify, add fixed 2-D sin-cos positions, keep only `token_indices` when given
    (positions are added *before* the gather, so every kept token knows where it came
    from), run the pre-norm blocks, apply a final LayerNorm. Running on the context tokens
    alone is where I-JEPA saves compute.

    Args:
        image_size: int or `(height, width)`; multiples of `patch_size`.
        patch_size: patch side in pixels.
        hidden_dim: token width (a multiple of 4 for the 2-D positions).
        depth: number of transformer blocks.
        num_heads: attention heads per block.
        mlp_ratio: MLP width as a multiple of `hidden_dim`.
        num_channels: image channels.
        qkv_bias: whether attention's query-key-value projection has a bias.
        layer_norm_epsilon: epsilon of every LayerNorm (reference 1e-6).
        init_std: std of the truncated-normal kernel initialisation (reference 0.02);
            the kernels writing into the residual stream of block `i` use
            `init_std / sqrt(2 (i + 1))`, as the reference does.

    Call arguments:
        images: `[B, H, W, C]` channels-last images.
        token_indices: optional `int32 [B, K]` patch indices (row-major) to keep.

    Returns:
        `[B, N, hidden_dim]` tokens, or `[B, K, hidden_dim]` when `token_indices` is given.

    Example:
    encoder = keras_jepa.models.ViTEncoder.from_preset(
        "tiny", image_size=32, patch_size=4, depth=6)
    tokens = encoder(images)                                   # (B, 64, 192)
    context = encoder(images, token_indices=context_indices)   # (B, Kc, 192)
    """

    def __init__(
        self,
        image_size=224,
        patch_size=16,
        hidden_dim=768,
        depth=12,
        num_heads=12,
        mlp_ratio=4.0,
        num_channels=3,
        qkv_bias=True,
        layer_norm_epsilon=1e-6,
        init_std=0.02,
        **kwargs,
    ):
        trainable = kwargs.pop("trainable", True)
        super().__init__(**kwargs)
        height, width = _pair(image_size, "image_size")
        for name, value in (("patch_size", patch_size), ("hidden_dim", hidden_dim),
                            ("depth", depth), ("num_heads", num_heads),
                            ("num_channels", num_channels)):
            check_positive_int(value, name, whole_floats=True)
        check_block_args(mlp_ratio, hidden_dim, layer_norm_epsilon, init_std, qkv_bias)
        if height % patch_size or width % patch_size:
            raise ValueError(
                f"`image_size` {image_size} is not divisible by patch_size={patch_size}."
            )
        self.image_size = image_size
        self.patch_size = int(patch_size)
        self.hidden_dim = int(hidden_dim)
        self.depth = int(depth)
        self.num_heads = int(num_heads)
        self.mlp_ratio = float(mlp_ratio)
        self.num_channels = int(num_channels)
        self.qkv_bias = bool(qkv_bias)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.init_std = float(init_std)
        self.grid_size = (height // self.patch_size, width // self.patch_size)
        self.num_patches = self.grid_size[0] * self.grid_size[1]

        self.patch_embedding = PatchEmbedding(
            self.patch_size,
            self.hidden_dim,
            kernel_initializer=truncated_normal(self.init_std),
            dtype=self.dtype_policy,
            name="patch_embedding",
        )
        self.position_embedding, self.blocks, self.norm = positions_blocks_and_norm(self)
        self.build((None, height, width, self.num_channels))
        # Set after the sublayers exist so that it reaches them: a `trainable=False`
        # given to the base class (e.g. by `from_config`) would leave them trainable.
        self.trainable = trainable

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """A ViT of a named size: micro, tiny, small, base, large, huge or giant.

        Keyword arguments override the preset (e.g. `image_size`, `patch_size`, `depth`).
        """
        if preset not in VIT_PRESETS:
            raise ValueError(
                f"Unknown `preset` {preset!r}; expected one of {sorted(VIT_PRESETS)}."
            )
        return cls(**{**VIT_PRESETS[preset], **kwargs})

    @property
    def image_shape(self):
        return (*_pair(self.image_size, "image_size"), self.num_channels)

    def build(self, input_shape):
        self.patch_embedding.build(input_shape)
        for block in self.blocks:
            block.build((None, None, self.hidden_dim))
        self.norm.build((None, None, self.hidden_dim))
        self.built = True

    def _check_images(self, images):
        shape = tuple(images.shape)
        if len(shape) != 4 or shape[1:] != self.image_shape:
            raise ValueError(
                f"`images` must have shape (batch, {', '.join(map(str, self.image_shape))})"
                f" for this encoder, got {shape}."
            )

    def call(self, images, token_indices=None):
        self._check_images(images)
        x = self.position_embedding(self.patch_embedding(images))
        if token_indices is not None:
            if not token_indices_trusted():  # a model's call has checked them
                check_token_indices(token_indices, self.num_patches, "token_indices", rank=2)
            x = gather_tokens(x, token_indices)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def compute_output_shape(self, images_shape, token_indices_shape=None):
        # Keras matches each `<name>_shape` argument to the call argument `<name>`.
        num_tokens = self.num_patches if token_indices_shape is None else token_indices_shape[1]
        return (images_shape[0], num_tokens, self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_size": self.image_size,
                "patch_size": self.patch_size,
                "hidden_dim": self.hidden_dim,
                "depth": self.depth,
                "num_heads": self.num_heads,
                "mlp_ratio": self.mlp_ratio,
                "num_channels": self.num_channels,
                "qkv_bias": self.qkv_bias,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "init_std": self.init_std,
            }
        )
        return config

