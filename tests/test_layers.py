import keras
import numpy as np
import pytest
from harness import run_config_test
from keras import ops

from keras_jepa.layers import PatchEmbedding
from keras_jepa.layers import SinCosPositionEmbedding
from keras_jepa.layers import TransformerBlock
from keras_jepa.layers import gather_tokens
from keras_jepa.layers import sincos_position_embedding_2d


def test_patch_embedding_config_run_config_test():
    layer = PatchEmbedding(patch_size=3, hidden_dim=10, use_bias=False,
                           kernel_initializer="zeros", name="pe")
    clone = run_config_test(layer)
    assert (clone.patch_size, clone.hidden_dim, clone.use_bias) == (3, 10, False)


def test_patch_embedding_equals_strided_convolution(rng):
    images = rng.normal(size=(2, 8, 12, 3)).astype("float32")
    layer = PatchEmbedding(patch_size=4, hidden_dim=5)
    tokens = ops.convert_to_numpy(layer(images))
    conv = keras.layers.Conv2D(5, 4, strides=4)
    conv.build(images.shape)
    conv.set_weights([
        ops.convert_to_numpy(layer.projection.kernel).reshape(4, 4, 3, 5),
        ops.convert_to_numpy(layer.projection.bias),
    ])
    expected = ops.convert_to_numpy(conv(images)).reshape(2, 6, 5)
    np.testing.assert_allclose(tokens, expected, atol=1e-5)


@pytest.mark.parametrize(
    "shape, match",
    [((2, 8, 10, 3), "width 10 is not divisible by patch_size=4"),
     ((2, 6, 8, 3), "height 6 is not divisible"),
     ((8, 8, 3), "rank 4")],
)
def test_patch_embedding_rejects_bad_images(shape, match):
    layer = PatchEmbedding(patch_size=4, hidden_dim=5)
    with pytest.raises(ValueError, match=match):
        layer(np.zeros(shape, "float32"))


def test_sincos_table_layout():
    rows, cols, dim = 3, 5, 8
    table = sincos_position_embedding_2d((rows, cols), dim)
    assert table.shape == (rows * cols, dim)
    grid = table.reshape(rows, cols, dim)
    # First half depends on the column only, second half on the row only.
    np.testing.assert_allclose(grid[:, :, : dim // 2], np.broadcast_to(grid[:1, :, : dim // 2], grid[:, :, : dim // 2].shape))
    np.testing.assert_allclose(grid[:, :, dim // 2 :], np.broadcast_to(grid[:, :1, dim // 2 :], grid[:, :, dim // 2 :].shape))
    # sin^2 + cos^2 = 1 for every frequency; position (0, 0) is sin 0 = 0, cos 0 = 1.
    q = dim // 4
    np.testing.assert_allclose(table[:, :q] ** 2 + table[:, q : 2 * q] ** 2, 1.0, atol=1e-6)
    np.testing.assert_allclose(table[0], [0] * q + [1] * q + [0] * q + [1] * q)
    # The lowest frequency is 1: column c has sin(c) in feature 0.
    np.testing.assert_allclose(grid[0, :, 0], np.sin(np.arange(cols)), atol=1e-6)
    # All positions are distinct.
    assert len(np.unique(table.round(5), axis=0)) == rows * cols


def test_sincos_layer_adds_positions_at_indices(rng):
    layer = SinCosPositionEmbedding(grid_size=(2, 3), hidden_dim=8)
    assert run_config_test(layer).grid_size == (2, 3)
    table = sincos_position_embedding_2d((2, 3), 8)
    tokens = rng.normal(size=(2, 6, 8)).astype("float32")
    np.testing.assert_allclose(ops.convert_to_numpy(layer(tokens)), tokens + table[None], atol=1e-6)
    indices = np.array([[5, 0], [2, 2]], "int32")
    out = ops.convert_to_numpy(layer(tokens[:, :2], indices))
    np.testing.assert_allclose(out, tokens[:, :2] + table[indices], atol=1e-6)
    with pytest.raises(ValueError, match="Expected 6 tokens"):
        layer(tokens[:, :4])
    with pytest.raises(ValueError, match="divisible by 4"):
        SinCosPositionEmbedding(grid_size=2, hidden_dim=6)


def test_gather_tokens_matches_numpy(rng):
    tokens = rng.normal(size=(3, 7, 4)).astype("float32")
    indices = rng.integers(0, 7, size=(3, 5)).astype("int32")
    out = ops.convert_to_numpy(gather_tokens(tokens, indices))
    np.testing.assert_array_equal(out, np.take_along_axis(tokens, indices[..., None], axis=1))


def test_transformer_block_config_roundtrip_and_shape(rng):
    block = TransformerBlock(hidden_dim=12, num_heads=3, mlp_ratio=2.5, qkv_bias=False,
                             layer_norm_epsilon=1e-5, kernel_initializer="he_normal",
                             output_kernel_initializer="zeros")
    clone = run_config_test(block)
    assert (clone.mlp_dim, clone.qkv_bias, clone.layer_norm_epsilon) == (30, False, 1e-5)
    x = rng.normal(size=(2, 5, 12)).astype("float32")
    # Zero-initialised output kernels and zero biases: the block is the identity.
    np.testing.assert_allclose(ops.convert_to_numpy(block(x)), x, atol=1e-6)
    with pytest.raises(ValueError, match="divisible by `num_heads`"):
        TransformerBlock(hidden_dim=10, num_heads=3)


def test_transformer_block_is_permutation_equivariant(rng):
    block = TransformerBlock(hidden_dim=8, num_heads=2)
    x = rng.normal(size=(2, 6, 8)).astype("float32")
    perm = rng.permutation(6)
    out = ops.convert_to_numpy(block(x))
    out_perm = ops.convert_to_numpy(block(x[:, perm]))
    np.testing.assert_allclose(out_perm, out[:, perm], atol=1e-5)
