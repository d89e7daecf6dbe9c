"""Patch embedding: non-overlapping patches, flattened and projected linearly."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_jepa")
class PatchEmbedding(keras.layers.Layer):
    """Splits images into non-overlapping patches and projects each to `hidden_dim`.

    Equivalent to a convolution with kernel and stride `patch_size` (the reference's
    patch embedding); the kernel is stored as `[patch_size · patch_size · C, hidden_dim]`
    over patches flattened in (row, column, channel) order.

    Args:
        patch_size: side of a square patch, in pixels.
        hidden_dim: output token width.
        use_bias: whether the projection has a bias.
        kernel_initializer: initializer of the projection kernel.

    Call arguments:
        images: `[B, H, W, C]` channels-last images; H and W multiples of `patch_size`.

    Returns:
        `[B, (H / patch_size) · (W / patch_size), hidden_dim]` tokens in row-major order.

    Example:
    layer = keras_jepa.layers.PatchEmbedding(patch_size=4, hidden_dim=192)
    tokens = layer(keras.ops.zeros((2, 32, 32, 3)))  # (2, 64, 192)
    """

    def __init__(
        self,
        patch_size,
        hidden_dim,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(patch_size) != patch_size or patch_size < 1:
            raise ValueError(f"`patch_size` must be a positive integer, got {patch_size!r}.")
        self.patch_size = int(patch_size)
        self.hidden_dim = int(hidden_dim)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.projection = keras.layers.Dense(
            hidden_dim,
            use_bias=use_bias,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="projection",
        )

    def _check_images(self, shape):
        if len(shape) != 4:
            raise ValueError(
                "`images` must have rank 4 [batch, height, width, channels], got shape "
                f"{tuple(shape)}."
            )
        height, width, channels = shape[1], shape[2], shape[3]
        if channels is None:
            raise ValueError("`images` must have a known channel count (last axis).")
        for name, size in (("height", height), ("width", width)):
            if size is not None and size % self.patch_size:
                raise ValueError(
                    f"Image {name} {size} is not divisible by patch_size="
                    f"{self.patch_size}."
                )

    def build(self, input_shape):
        self._check_images(input_shape)
        self.projection.build((None, self.patch_size * self.patch_size * input_shape[-1]))
        self.built = True

    def call(self, images):
        self._check_images(images.shape)
        p = self.patch_size
        _, height, width, channels = images.shape
        rows, cols = height // p, width // p
        x = ops.reshape(images, (-1, rows, p, cols, p, channels))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        x = ops.reshape(x, (-1, rows * cols, p * p * channels))
        return self.projection(x)

    def compute_output_shape(self, input_shape):
        p = self.patch_size
        return (input_shape[0], (input_shape[1] // p) * (input_shape[2] // p), self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "patch_size": self.patch_size,
                "hidden_dim": self.hidden_dim,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config
