"""Tests of the MAE baseline: masks, patches, the loss, training, saving, figures."""

import types

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import set_seeded_weights
from helpers import tiny_encoder
from keras import ops
from numpy_reference import block
from numpy_reference import dense
from numpy_reference import encoder_forward
from numpy_reference import layer_norm
from numpy_reference import positions

from keras_jepa.data import attach_masks
from keras_jepa.layers import PatchEmbedding
from keras_jepa.masking import RandomMaskGenerator
from keras_jepa.models import MAE
from keras_jepa.models import MAEDecoder
from keras_jepa.models import patchify
from keras_jepa.models import unpatchify
from keras_jepa.plotting.reconstructions import ReconstructionFigureCallback
from keras_jepa.plotting.reconstructions import visible_pixels


def tiny_mae(**kwargs):
    return MAE(tiny_encoder(), **kwargs)


def numpy_of(x):
    return np.asarray(ops.convert_to_numpy(x))


def loss_of(model, data):
    return float(numpy_of(model.compute_ssl_loss(data, training=False)[0]))


def seed_state(model):
    return numpy_of(model.seed_generator.state).copy()


def loop_patchify(images, p):
    """Patches by explicit slicing: row-major grid, (row, column, channel) inside."""
    b, h, w, c = images.shape
    cols = w // p
    out = np.zeros((b, (h // p) * cols, p * p * c), images.dtype)
    for r in range(h // p):
        for col in range(cols):
            out[:, r * cols + col] = images[:, r * p:(r + 1) * p, col * p:(col + 1) * p].reshape(b, -1)
    return out


def loop_unpatchify(patches, p, image_shape):
    """The inverse of `loop_patchify`."""
    h, w, c = image_shape
    cols = w // p
    out = np.zeros((len(patches), h, w, c), patches.dtype)
    for r in range(h // p):
        for col in range(cols):
            out[:, r * p:(r + 1) * p, col * p:(col + 1) * p] = \
                patches[:, r * cols + col].reshape(-1, p, p, c)
    return out


def numpy_mae_loss(model, images, visible, masked):
    """MAE's loss in float64 numpy, from the MAE description (tests/numpy_reference.py parts)."""
    images = np.asarray(images, np.float64)
    decoder = model.decoder
    table = positions(decoder.grid_size, decoder.hidden_dim)
    x = dense(encoder_forward(model.encoder, images, visible), decoder.input_projection)
    x = x + table[visible]
    mask_token = numpy_of(decoder.mask_token).astype(np.float64).reshape(1, 1, -1)
    x = np.concatenate([x, mask_token + table[masked]], axis=1)
    for blk in decoder.blocks:
        x = block(x, blk)
    x = layer_norm(x, decoder.norm.gamma, decoder.norm.beta, decoder.layer_norm_epsilon)
    predictions = dense(x, decoder.head)[:, visible.shape[1]:]
    targets = np.take_along_axis(loop_patchify(images, model.patch_size), masked[..., None], 1)
    if model.norm_pix_loss:
        mean = targets.mean(-1, keepdims=True)
        variance = targets.var(-1, ddof=1, keepdims=True)
        targets = (targets - mean) / np.sqrt(variance + model.norm_pix_epsilon)
    return float(((predictions - targets) ** 2).mean())


def structured_images(rng, count):
    """Vertical or horizontal stripes (period 4 px), random contrast and brightness.

    Which of the two an image holds can only be read from its visible patches, and it
    fixes every masked patch's normalised pixels.
    """
    yy, xx = np.mgrid[0:8, 0:8]
    patterns = np.stack([np.cos(np.pi * xx / 2 + np.pi / 4), np.cos(np.pi * yy / 2 + np.pi / 4)])
    labels = rng.integers(0, 2, count)
    contrast = rng.uniform(0.5, 1.5, (count, 1, 1))
    brightness = rng.uniform(-0.5, 0.5, (count, 1, 1))
    return (patterns[labels] * contrast + brightness)[..., None].astype("float32")


# --- Patches ----------------------------------------------------------------------------


@pytest.mark.parametrize("image_shape, patch_size", [((8, 8, 3), 2), ((8, 12, 1), 4)])
def test_patchify_follows_patch_embedding_order_and_unpatchify_inverts(rng, image_shape, patch_size):
    images = rng.normal(size=(2, *image_shape)).astype("float32")
    patches = numpy_of(patchify(images, patch_size))
    np.testing.assert_array_equal(patches, loop_patchify(images, patch_size))
    # An identity projection makes PatchEmbedding output its flattened patches.
    patch_dim = patch_size * patch_size * image_shape[-1]
    embedding = PatchEmbedding(patch_size, patch_dim)
    embedding.build((None, *image_shape))
    embedding.projection.kernel.assign(np.eye(patch_dim, dtype="float32"))
    np.testing.assert_allclose(numpy_of(embedding(images)), patches, atol=1e-6)
    grid = (image_shape[0] // patch_size, image_shape[1] // patch_size)
    np.testing.assert_array_equal(
        numpy_of(unpatchify(patches, patch_size, grid, image_shape[-1])), images)
    with pytest.raises(ValueError, match="`patches` must have shape"):
        unpatchify(patches, patch_size, (grid[1], grid[0] + 1), image_shape[-1])


# --- Masks ------------------------------------------------------------------------------


def test_masks_drawn_in_graph_partition_the_patches_with_fixed_counts():
    model = tiny_mae(mask_ratio=0.75, seed=3)
    assert (model.num_visible_tokens, model.num_masked_tokens) == (4, 12)
    # One large draw of the keras.ops sampler: partition, sorted rows, uniformity.
    masks = model.mask_generator.sample_tensors(4000, seed=5)
    visible, masked = numpy_of(masks["visible_indices"]), numpy_of(masks["masked_indices"])
    assert visible.shape == (4000, 4) and masked.shape == (4000, 12)
    assert visible.dtype == masked.dtype == np.int32
    both = np.sort(np.concatenate([visible, masked], 1), 1)
    np.testing.assert_array_equal(both, np.tile(np.arange(16), (4000, 1)))
    assert (np.diff(visible, axis=1) > 0).all() and (np.diff(masked, axis=1) > 0).all()
    # Each patch is visible with probability 1/4: 1000 ± 27 times.
    counts = np.bincount(visible.ravel(), minlength=16)
    assert np.abs(counts - 1000).max() < 5 * np.sqrt(4000 * 0.25 * 0.75)
    # The model's stream: the same counts every draw, new masks every draw.
    draws = [numpy_of(model.sample_masks(3)["masked_indices"]) for _ in range(3)]
    assert all(d.shape == (3, 12) for d in draws)
    assert not np.array_equal(draws[0], draws[1]) and not np.array_equal(draws[1], draws[2])


def test_same_seed_gives_the_same_masks():
    first, same, other = tiny_mae(seed=3), tiny_mae(seed=3), tiny_mae(seed=4)
    for _ in range(2):
        a, b, c = (numpy_of(m.sample_masks(3)["masked_indices"]) for m in (first, same, other))
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)
    assert first.mask_generator.seed == 3


# --- The loss ---------------------------------------------------------------------------


@pytest.mark.parametrize("norm_pix_loss", [True, False])
def test_loss_matches_numpy_reference(rng, norm_pix_loss):
    # Numpy-seeded weights and explicit masks: every backend must give this same value.
    model = tiny_mae(norm_pix_loss=norm_pix_loss, seed=0)
    set_seeded_weights(model, seed=1)
    images = rng.normal(size=(3, 8, 8, 1)).astype("float32")
    masks = model.mask_generator.sample(3, 11)
    batch = {"images": images, **masks}
    expected = numpy_mae_loss(model, images, masks["visible_indices"], masks["masked_indices"])
    assert loss_of(model, batch) == pytest.approx(expected, rel=1e-4, abs=1e-6)


def test_loss_ignores_visible_patches(rng):
    model = tiny_mae(seed=0)
    set_seeded_weights(model, seed=2)
    images = rng.normal(size=(3, 8, 8, 1)).astype("float32")
    masks = model.mask_generator.sample(3, 0)
    visible, masked = masks["visible_indices"], masks["masked_indices"]
    predicted = numpy_of(model.predict_patches(images, visible, masked))

    def loss(targets, predictions):
        return float(numpy_of(model.reconstruction_loss(targets, predictions, masked)))

    base = loss(images, predicted)

    def patch_pixels(index):
        row, col = divmod(int(index), 4)
        return (slice(2 * row, 2 * row + 2), slice(2 * col, 2 * col + 2))

    changed = images.copy()
    # Not a constant shift: normalised targets would not see one.
    changed[(0, *patch_pixels(visible[0, 0]))] += np.array([[5.0], [-5.0]], "float32")
    changed_prediction = predicted.copy()
    changed_prediction[0, visible[0, 1]] += 5.0
    assert loss(changed, predicted) == pytest.approx(base, abs=1e-6)
    assert loss(images, changed_prediction) == pytest.approx(base, abs=1e-6)
    # ...but a masked patch counts, in the targets and in the predictions.
    changed[(0, *patch_pixels(masked[0, 0]))] += np.array([[1.0], [-1.0]], "float32")
    assert loss(changed, predicted) != pytest.approx(base, abs=1e-3)
    changed_prediction[0, masked[0, 0]] += 1.0
    assert loss(images, changed_prediction) != pytest.approx(base, abs=1e-3)


def test_batches_carrying_masks_are_used_as_given(rng):
    model = tiny_mae(seed=0)
    images = rng.normal(size=(3, 8, 8, 1)).astype("float32")
    masks = model.mask_generator.sample(3, 4)
    before = seed_state(model)
    with_masks = loss_of(model, {"images": images, **masks})
    predicted = model.predict_patches(images, masks["visible_indices"], masks["masked_indices"])
    assert with_masks == pytest.approx(
        float(numpy_of(model.reconstruction_loss(images, predicted, masks["masked_indices"]))),
        abs=1e-6)
    np.testing.assert_array_equal(seed_state(model), before)
    # Without masks (images, a dict with labels, a (x, y) tuple) the model draws them.
    for data in (images, {"images": images, "labels": np.arange(3)}, (images, np.arange(3))):
        state = seed_state(model)
        assert np.isfinite(loss_of(model, data))
        assert not np.array_equal(seed_state(model), state)


# --- Training ---------------------------------------------------------------------------


def test_fit_on_image_arrays_lowers_the_loss_and_draws_new_masks_each_step(backend, tmp_path):
    images = structured_images(np.random.default_rng(0), 64)
    model = tiny_mae(seed=0)
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    traces = []
    original = model.train_step

    def counting_train_step(*args):
        traces.append(1)  # Python runs only while a compiled step is being traced
        return original(*args)

    model.train_step = counting_train_step
    before = seed_state(model)
    callback = ReconstructionFigureCallback(images[:3], tmp_path / "figs" / "mae_{epoch:02d}.png",
                                            every_n_epochs=15)
    epochs, steps = 30, 4
    history = model.fit(images, batch_size=16, epochs=epochs, verbose=0, callbacks=[callback])
    losses = history.history["loss"]
    assert losses[-1] < 0.4 * losses[0], losses
    # One draw per step from the seed stream, carried through the compiled JAX state.
    np.testing.assert_array_equal(seed_state(model) - before, [0, epochs * steps])
    if backend != "torch":
        assert len(traces) == 1  # static mask shapes: the step compiles once
    assert [p.name for p in sorted((tmp_path / "figs").iterdir())] == ["mae_15.png", "mae_30.png"]
    assert (tmp_path / "figs" / "mae_30.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fit_on_a_pipeline_that_carries_masks(rng):
    model = tiny_mae(seed=0)
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    dataset = tf.data.Dataset.from_tensor_slices(
        {"images": rng.normal(size=(12, 8, 8, 1)).astype("float32"), "labels": np.arange(12)}
    ).batch(4, drop_remainder=True)
    dataset = attach_masks(dataset, model.mask_generator)
    before = seed_state(model)
    history = model.fit(dataset, epochs=1, verbose=0)
    assert int(model.optimizer.iterations) == 3 and np.isfinite(history.history["loss"][0])
    np.testing.assert_array_equal(seed_state(model), before)  # no mask drawn in the step


# --- Reconstructions and features -------------------------------------------------------


def test_reconstructions_paste_visible_patches_and_undo_the_normalisation(rng):
    model = tiny_mae(seed=0)
    set_seeded_weights(model, seed=3)
    images = rng.normal(size=(3, 8, 8, 1)).astype("float32")
    masks = model.mask_generator.sample(3, 1)
    shown = visible_pixels(masks["visible_indices"], images.shape[1:], model.patch_size)
    out = model.reconstruct(images, masks=masks)
    assert out.shape == images.shape
    np.testing.assert_array_equal(out[shown], images[shown])
    assert not np.allclose(out[~shown], images[~shown], atol=1e-2)
    raw = model.reconstruct(images, masks=masks, paste_visible=False)
    np.testing.assert_allclose(raw[~shown], out[~shown], atol=1e-6)
    assert not np.allclose(raw[shown], images[shown], atol=1e-2)
    # Normalised predictions are scaled back with the visible patches' statistics only
    # (the mean of their pixels, the RMS of their per-patch stds), never the hidden ones.
    patches = loop_patchify(images.astype(np.float64), 2)
    normalised = (patches - patches.mean(-1, keepdims=True)) / np.sqrt(
        patches.var(-1, ddof=1, keepdims=True) + model.norm_pix_epsilon)
    back = model.patches_to_images(images, normalised.astype("float32"), masks["visible_indices"],
                                   paste_visible=False)
    seen = np.take_along_axis(patches, masks["visible_indices"][..., None].astype(int), axis=1)
    offset = seen.mean(axis=(1, 2))[:, None, None]
    scale = np.sqrt(seen.var(-1, ddof=1).mean(1) + model.norm_pix_epsilon)[:, None, None]
    expected = loop_unpatchify(normalised * scale + offset, 2, images.shape[1:])
    np.testing.assert_allclose(numpy_of(back), expected, atol=1e-4)
    # predict draws masks itself and keeps visible pixels: some, never all, are the input's.
    predicted = model.predict(images, batch_size=3, verbose=0)
    same = np.isclose(predicted, images, atol=1e-6).reshape(3, -1).mean(1)
    assert ((same >= 0.25 - 1e-6) & (same < 1.0)).all()


def test_visible_pixels_marks_whole_patches():
    shown = visible_pixels(np.array([[0, 5]]), (8, 8, 1), 2)
    assert shown.sum() == 8
    assert shown[0, :2, :2].all() and shown[0, 2:4, 2:4].all() and not shown[0, 0, 2]


def test_encode_pools_the_encoder_as_ijepa_does(rng):
    model = tiny_mae(seed=0)
    set_seeded_weights(model.encoder, seed=2)
    images = rng.normal(size=(6, 8, 8, 1)).astype("float32")
    tokens = np.concatenate([numpy_of(model.encoder(images[i:i + 3])) for i in (0, 3)])
    np.testing.assert_allclose(model.encode(images, batch_size=3), tokens.mean(1), atol=1e-6)
    np.testing.assert_allclose(model.encode(images, pool="none", batch_size=3), tokens, atol=1e-6)
    with pytest.raises(ValueError, match="MAE has a single encoder: `encoder` must be 'encoder', got 'target'"):
        model.encode(images, encoder="target")
    with pytest.raises(ValueError, match="`pool` must be 'mean' or 'none'"):
        model.encode(images, pool="max")


# --- Config and saving ------------------------------------------------------------------


def test_config_roundtrip_non_default():
    encoder = tiny_encoder()
    decoder = MAEDecoder.for_encoder(encoder, hidden_dim=12, depth=2, num_heads=3, mlp_ratio=2.0,
                                     qkv_bias=False, layer_norm_epsilon=1e-5, init_std=0.05)
    model = MAE(encoder, decoder, mask_ratio=0.6, norm_pix_loss=False, norm_pix_epsilon=1e-4,
                seed=7, name="mae")
    config = model.get_config()
    clone = MAE.from_config(config)
    assert clone.get_config() == config
    assert (clone.mask_ratio, clone.norm_pix_loss, clone.norm_pix_epsilon, clone.seed) == (
        0.6, False, 1e-4, 7)
    assert clone.num_visible_tokens == 6
    assert clone.decoder.get_config() == decoder.get_config()
    assert (clone.decoder.hidden_dim, clone.decoder.depth, clone.decoder.mlp_ratio) == (12, 2, 2.0)
    decoder_clone = MAEDecoder.from_config(decoder.get_config())
    assert decoder_clone.get_config() == decoder.get_config()


def test_default_decoder_scales_with_the_encoder():
    # for_encoder reads only these attributes; a stand-in avoids building a big encoder.
    def decoder_for(hidden_dim, depth, num_heads):
        encoder = types.SimpleNamespace(hidden_dim=hidden_dim, depth=depth, num_heads=num_heads,
                                        patch_size=2, num_channels=3, grid_size=(4, 4))
        decoder = MAEDecoder.for_encoder(encoder)
        assert (decoder.input_dim, decoder.grid_size, decoder.patch_dim) == (hidden_dim, (4, 4), 12)
        return decoder.hidden_dim, decoder.depth, decoder.num_heads

    assert decoder_for(16, 6, 2) == (8, 2, 2)   # half the width, a third of the depth
    assert decoder_for(24, 2, 5) == (12, 1, 4)  # depth at least 1; heads must divide 12


# --- Bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(mask_ratio=0.0), r"`mask_ratio` must be a float in \(0, 1\), got 0.0"),
        (dict(mask_ratio=1.0), r"`mask_ratio` must be a float in \(0, 1\), got 1.0"),
        (dict(mask_ratio=0.97), r"leaves 0 visible and 16 masked tokens"),
        (dict(seed=-1), "`seed` must be a non-negative int or None"),
        (dict(norm_pix_epsilon=0.0), "`norm_pix_epsilon` must be a positive float"),
    ],
)
def test_bad_settings_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tiny_mae(**kwargs)


def test_mismatched_decoders_raise():
    encoder = tiny_encoder()
    with pytest.raises(ValueError, match=r"`decoder.input_dim` \(8\) must equal the encoder width \(`hidden_dim`\) \(16\)"):
        MAE(encoder, MAEDecoder(num_patches=16, input_dim=8, hidden_dim=8, depth=1, num_heads=2,
                                patch_size=2, num_channels=1))
    with pytest.raises(ValueError, match=r"`decoder.grid_size` \(\(2, 2\)\) must equal the encoder's `grid_size`"):
        MAE(encoder, MAEDecoder(num_patches=4, input_dim=16, hidden_dim=8, depth=1, num_heads=2,
                                patch_size=2, num_channels=1))
    with pytest.raises(ValueError, match=r"`decoder.num_channels` \(3\) must equal the encoder's `num_channels` \(1\)"):
        MAE(encoder, MAEDecoder(num_patches=16, input_dim=16, hidden_dim=8, depth=1, num_heads=2,
                                patch_size=2, num_channels=3))
    with pytest.raises(ValueError, match="needs at least 2 pixels per patch"):
        MAE(tiny_encoder(patch_size=1, image_size=4))


def test_bad_batches_raise(rng):
    model = tiny_mae(seed=0)
    images = rng.normal(size=(2, 8, 8, 1)).astype("float32")
    masks = model.mask_generator.sample(2, 0)
    with pytest.raises(ValueError, match=r"has \['visible_indices'\] but not \['masked_indices'\]"):
        model.compute_ssl_loss({"images": images, "visible_indices": masks["visible_indices"]})
    with pytest.raises(ValueError, match="must have an 'images' key"):
        model.compute_ssl_loss({"pixels": images})
    overlapping = dict(masks, masked_indices=masks["masked_indices"].copy())
    overlapping["masked_indices"][0, 0] = masks["visible_indices"][0, 0]
    with pytest.raises(ValueError, match="must partition the patches"):
        model.compute_ssl_loss({"images": images, **overlapping})
    with pytest.raises(ValueError, match="must together cover the 16 patches"):
        model.compute_ssl_loss({"images": images, **dict(masks, masked_indices=masks["masked_indices"][:, 1:])})
    # Indices out of range are clamped before the gathers (and flagged for fit's
    # StepGuard); concrete masks then fail the partition check.
    with pytest.raises(ValueError, match=r"must partition the patches: every index in \[0, 16\)"):
        model.compute_ssl_loss({"images": images, **dict(masks, masked_indices=masks["masked_indices"] + 16)})
    with pytest.raises(ValueError, match=r"`images` must have shape \(batch, 8, 8, 1\)"):
        model.compute_ssl_loss(np.zeros((2, 8, 8, 3), "float32"))


def test_sample_tensors_checks_the_batch_size():
    generator = RandomMaskGenerator(16, seed=0)
    assert generator.sample_tensors(2, seed=1)["visible_indices"].shape == (2, 4)
    with pytest.raises(ValueError, match="`batch_size` must be a positive int"):
        generator.sample_tensors(0)


def test_reference_init_is_xavier_for_kernels_and_normal_for_the_mask_token():
    from keras_jepa.models import MAE
    from keras_jepa.models import MAEDecoder
    from keras_jepa.models import ViTEncoder

    encoder = ViTEncoder(image_size=16, patch_size=2, hidden_dim=64, depth=2, num_heads=2,
                         num_channels=1)
    decoder = MAEDecoder.for_encoder(encoder, hidden_dim=32, depth=1, num_heads=2)
    model = MAE(encoder, decoder, init="reference", seed=0)
    for variable in encoder.weights + decoder.weights:
        value = keras.ops.convert_to_numpy(variable)
        name = variable.path.rsplit("/", 1)[-1]
        if name == "kernel":
            fan_in, fan_out = int(np.prod(value.shape[:-1])), value.shape[-1]
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            assert np.abs(value).max() <= limit + 1e-7, variable.path
            assert value.std() == pytest.approx(limit / np.sqrt(3.0), rel=0.2), variable.path
        elif name == "bias" and "patch_embedding" not in variable.path:
            # (the patch bias keeps PyTorch's Conv2d default: test_initialization.py)
            assert not value.any(), variable.path
    token = keras.ops.convert_to_numpy(decoder.mask_token)
    assert token.std() == pytest.approx(0.02, rel=0.5)
    assert MAE.from_config(model.get_config()).init == "reference"
    with pytest.raises(ValueError, match="`init`"):
        MAE(encoder, decoder, init="xavier")
