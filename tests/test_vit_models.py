import keras
import numpy as np
import pytest
from helpers import tiny_encoder
from keras import ops

from keras_jepa.models import VIT_PRESETS
from keras_jepa.models import JEPAPredictor
from keras_jepa.models import ViTEncoder


def test_encoder_config_roundtrip_non_default():
    encoder = ViTEncoder(image_size=(8, 12), patch_size=4, hidden_dim=12, depth=3,
                         num_heads=3, mlp_ratio=2.0, num_channels=2, qkv_bias=False,
                         layer_norm_epsilon=1e-5, init_std=0.05, name="enc")
    config = encoder.get_config()
    clone = ViTEncoder.from_config(config)
    assert clone.get_config() == config
    assert clone.grid_size == (2, 3) and clone.num_patches == 6
    assert len(clone.weights) == len(encoder.weights)


def test_presets_match_the_reference_sizes():
    expected = {"tiny": (192, 12, 3), "small": (384, 12, 6), "base": (768, 12, 12),
                "large": (1024, 24, 16), "huge": (1280, 32, 16), "giant": (1408, 40, 16)}
    for name, (width, depth, heads) in expected.items():
        preset = VIT_PRESETS[name]
        assert (preset["hidden_dim"], preset["depth"], preset["num_heads"]) == (width, depth, heads)
    assert VIT_PRESETS["giant"]["mlp_ratio"] == pytest.approx(48 / 11)
    encoder = ViTEncoder.from_preset("micro", image_size=16, patch_size=4, depth=1)
    assert (encoder.hidden_dim, encoder.depth, encoder.num_patches) == (64, 1, 16)
    with pytest.raises(ValueError, match="Unknown `preset` 'enormous'"):
        ViTEncoder.from_preset("enormous")


def test_encoder_token_indices_gather_after_positions(rng):
    encoder = tiny_encoder()
    images = rng.normal(size=(2, 8, 8, 1)).astype("float32")
    full = ops.convert_to_numpy(encoder(images))
    assert full.shape == (2, 16, 16)
    # Every token, in a shuffled order: the same tokens, shuffled. This holds only if
    # positions are added before the gather (attention itself ignores order).
    perm = np.stack([rng.permutation(16) for _ in range(2)]).astype("int32")
    shuffled = ops.convert_to_numpy(encoder(images, token_indices=perm))
    np.testing.assert_allclose(shuffled, np.take_along_axis(full, perm[..., None], 1), atol=1e-5)
    # A subset is encoded on its own: it differs from the subset of the full encoding.
    subset = ops.convert_to_numpy(encoder(images, token_indices=perm[:, :5]))
    assert subset.shape == (2, 5, 16)
    assert not np.allclose(subset, np.take_along_axis(full, perm[:, :5, None], 1), atol=1e-3)


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(image_size=10, patch_size=4), "not divisible by patch_size=4"),
     (dict(hidden_dim=12, num_heads=5), "divisible by `num_heads`"),
     (dict(depth=0), "`depth` must be a positive integer"),
     (dict(image_size=(8, 8, 8)), "`image_size` must be an int or a")],
)
def test_encoder_rejects_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tiny_encoder(**kwargs)


def test_encoder_rejects_bad_inputs(rng):
    encoder = tiny_encoder()
    with pytest.raises(ValueError, match=r"shape \(batch, 8, 8, 1\)"):
        encoder(np.zeros((2, 8, 8, 3), "float32"))
    with pytest.raises(ValueError, match=r"shape \(batch, 8, 8, 1\)"):
        encoder(np.zeros((8, 8, 1), "float32"))
    images = np.zeros((2, 8, 8, 1), "float32")
    with pytest.raises(ValueError, match=r"`token_indices` must lie in \[0, 16\)"):
        encoder(images, token_indices=np.array([[0, 16], [1, 2]], "int32"))
    with pytest.raises(ValueError, match="`token_indices` must have rank 2"):
        encoder(images, token_indices=np.array([0, 1], "int32"))
    with pytest.raises(ValueError, match="integer"):
        encoder(images, token_indices=np.array([[0.0, 1.0]] * 2, "float32"))


def test_predictor_config_and_independent_blocks(rng):
    encoder = tiny_encoder()
    predictor = JEPAPredictor.for_encoder(encoder, hidden_dim=8, depth=2, num_heads=4,
                                          mlp_ratio=3.0, qkv_bias=False)
    config = predictor.get_config()
    assert JEPAPredictor.from_config(config).get_config() == config
    assert (predictor.grid_size, predictor.num_patches, predictor.input_dim) == ((4, 4), 16, 16)

    context = rng.normal(size=(2, 5, 16)).astype("float32")
    ctx_idx = np.array([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]], "int32")
    tgt_idx = np.array([[[10, 11], [12, 13]], [[14, 15], [10, 12]]], "int32")
    out = ops.convert_to_numpy(predictor(context, ctx_idx, tgt_idx))
    assert out.shape == (2, 2, 2, 16)
    # Target blocks do not see each other: changing block 1 leaves block 0 unchanged.
    changed = tgt_idx.copy()
    changed[:, 1] = [[15, 14], [11, 13]]
    out2 = ops.convert_to_numpy(predictor(context, ctx_idx, changed))
    np.testing.assert_allclose(out2[:, 0], out[:, 0], atol=1e-5)
    assert not np.allclose(out2[:, 1], out[:, 1], atol=1e-4)
    # The context is a set: its order does not matter.
    perm = np.array([4, 2, 0, 1, 3])
    out3 = ops.convert_to_numpy(predictor(context[:, perm], ctx_idx[:, perm], tgt_idx))
    np.testing.assert_allclose(out3, out, atol=1e-5)


def test_predictor_rejects_bad_inputs(rng):
    predictor = JEPAPredictor(num_patches=16, input_dim=8, hidden_dim=8, depth=1, num_heads=2)
    context = np.zeros((2, 3, 8), "float32")
    ctx = np.zeros((2, 3), "int32")
    tgt = np.zeros((2, 1, 2), "int32")
    with pytest.raises(ValueError, match="perfect square"):
        JEPAPredictor(num_patches=15, input_dim=8)
    with pytest.raises(ValueError, match=r"`context_tokens` must have shape \(batch, tokens, 8\)"):
        predictor(np.zeros((2, 3, 4), "float32"), ctx, tgt)
    with pytest.raises(ValueError, match="`target_indices` must have rank 3"):
        predictor(context, ctx, np.zeros((2, 2), "int32"))
    with pytest.raises(ValueError, match=r"`target_indices` must lie in \[0, 16\)"):
        predictor(context, ctx, tgt - 1)
    with pytest.raises(ValueError, match="`context_indices` has 2 tokens per row"):
        predictor(context, ctx[:, :2], tgt)


def test_encoder_and_predictor_save_load_identical_outputs(rng, tmp_path):
    encoder = tiny_encoder(qkv_bias=False)
    predictor = JEPAPredictor.for_encoder(encoder, hidden_dim=8, depth=1, num_heads=2)
    images = rng.normal(size=(2, 8, 8, 1)).astype("float32")
    indices = np.array([[3, 1, 7], [0, 15, 9]], "int32")
    targets = np.array([[[2, 4]], [[5, 6]]], "int32")
    encoder.save(tmp_path / "encoder.keras")
    predictor.save(tmp_path / "predictor.keras")
    encoder2 = keras.models.load_model(tmp_path / "encoder.keras")
    predictor2 = keras.models.load_model(tmp_path / "predictor.keras")
    np.testing.assert_array_equal(ops.convert_to_numpy(encoder2(images, token_indices=indices)),
                                  ops.convert_to_numpy(encoder(images, token_indices=indices)))
    context = ops.convert_to_numpy(encoder(images, token_indices=indices))
    np.testing.assert_array_equal(ops.convert_to_numpy(predictor2(context, indices, targets)),
                                  ops.convert_to_numpy(predictor(context, indices, targets)))
