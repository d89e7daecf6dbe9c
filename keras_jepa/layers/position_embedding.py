"""Fixed 2-D sine-cosine positional embeddings for a grid of patches."""

import keras
import numpy as np
from keras import ops


def sincos_position_embedding_2d(grid_size, dim):
    """The fixed 2-D sin-cos position table of ViT-based JEPA and MAE models.

    The first half of the features encodes the patch's column, the second half its row;
    each half is `[sin(p·ω), cos(p·ω)]` with `ω_k = 10000^(−k/(dim/4))`. This is the
    layout of the I-JEPA reference, so its weights carry over unchanged.

    Args:
        grid_size: `(rows, cols)` of the patch grid, or an int for a square grid.
        dim: embedding width, a multiple of 4.

    Returns:
        `float32 [rows · cols, dim]` numpy array, row-major over the grid.
    """
    rows, cols = (grid_size, grid_size) if isinstance(grid_size, int) else grid_size
    if dim % 4:
        raise ValueError(
            f"2-D sin-cos positions need a width divisible by 4, got hidden_dim={dim}."
        )
    omega = 1.0 / 10000 ** (np.arange(dim // 4, dtype=np.float64) / (dim / 4.0))
    row, col = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")

    def encode(positions):
        angles = positions.reshape(-1, 1) * omega[None, :]
        return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)

    return np.concatenate([encode(col), encode(row)], axis=1).astype("float32")


@keras.saving.register_keras_serializable(package="keras_jepa")
class SinCosPositionEmbedding(keras.layers.Layer):
    """Adds fixed 2-D sin-cos positions to tokens, optionally at given grid indices.

    The table is a constant, not a weight: it is recomputed from the config.

    Args:
        grid_size: `(rows, cols)` of the patch grid, or an int for a square grid.
        hidden_dim: token width, a multiple of 4.

    Call arguments:
        tokens: `[B, N, D]` tokens for every grid position, or `[B, K, D]` tokens at
            `token_indices`.
        token_indices: optional `int32 [B, K]` grid indices of the tokens.

    Example:
    layer = keras_jepa.layers.SinCosPositionEmbedding(grid_size=8, hidden_dim=64)
    tokens = layer(keras.ops.zeros((2, 64, 64)))
    """

    def __init__(self, grid_size, hidden_dim, **kwargs):
        super().__init__(**kwargs)
        self.grid_size = grid_size
        self.hidden_dim = hidden_dim
        self._table = sincos_position_embedding_2d(grid_size, hidden_dim)
        self.num_positions = self._table.shape[0]
        self.built = True

    def positions(self, token_indices=None, dtype="float32"):
        """The table `[1, N, D]`, or the positions `[B, K, D]` at `token_indices`."""
        table = ops.convert_to_tensor(self._table, dtype=dtype)
        if token_indices is None:
            return ops.expand_dims(table, 0)
        return ops.take(table, ops.cast(token_indices, "int32"), axis=0)

    def call(self, tokens, token_indices=None):
        if token_indices is None and tokens.shape[1] not in (None, self.num_positions):
            raise ValueError(
                f"Expected {self.num_positions} tokens (one per grid position), got "
                f"{tokens.shape[1]}; pass `token_indices` for a subset."
            )
        return tokens + self.positions(token_indices, tokens.dtype)

    def compute_output_shape(self, input_shape, *args, **kwargs):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"grid_size": self.grid_size, "hidden_dim": self.hidden_dim})
        return config
