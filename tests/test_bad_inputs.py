"""No silent wrong result (issue 15): bad arguments and data get errors naming them.

Every case runs on each Keras backend (the suite runs once per KERAS_BACKEND).
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import PoisonAtEpoch
from helpers import compiled_ijepa
from helpers import compiled_mae
from helpers import random_batch
from helpers import tiny_encoder
from keras import ops

from keras_jepa import training
from keras_jepa.data import attach_masks
from keras_jepa.layers import TransformerBlock
from keras_jepa.masking import MultiBlockMaskGenerator
from keras_jepa.masking import RandomMaskGenerator
from keras_jepa.models import IJEPA
from keras_jepa.models import MAE
from keras_jepa.models import JEPAPredictor
from keras_jepa.models import MAEDecoder
from keras_jepa.models import ViTEncoder
from keras_jepa.training.step_checks import InvalidBatchError
from keras_jepa.training.step_checks import NonFiniteLossError

# compile()'s default step on TensorFlow is XLA: these tests run it (conftest.py).
pytestmark = pytest.mark.xla_default


def _predictor(**overrides):
    return JEPAPredictor(**{**dict(num_patches=16, input_dim=16, hidden_dim=8, depth=1,
                                   num_heads=2), **overrides})


def _decoder(**overrides):
    return MAEDecoder(**{**dict(num_patches=16, input_dim=16, hidden_dim=8, depth=1,
                                num_heads=2, patch_size=2, num_channels=1), **overrides})


def _ijepa(**kwargs):
    return IJEPA(tiny_encoder(depth=1), _predictor(), **kwargs)


# === Constructor arguments ===

BAD_ARGUMENTS = [
    # (constructor, kwargs, message): the message names the argument and the value.
    (tiny_encoder, dict(mlp_ratio=-1.0), r"`mlp_ratio` must be a number in \(0, inf\), got -1.0"),
    (tiny_encoder, dict(mlp_ratio=0.01), r"`mlp_ratio` \(0.01\) times `hidden_dim` \(16\)"),
    (tiny_encoder, dict(mlp_ratio="4"), r"`mlp_ratio` must be a number .* got '4'"),
    (tiny_encoder, dict(layer_norm_epsilon=-1.0),
     r"`layer_norm_epsilon` must be a number in \(0, inf\), got -1.0"),
    (tiny_encoder, dict(layer_norm_epsilon=math.nan), r"`layer_norm_epsilon` .* got nan"),
    (tiny_encoder, dict(init_std=-1.0), r"`init_std` must be a number in \(0, inf\), got -1.0"),
    (tiny_encoder, dict(image_size=-8), r"`image_size` must be a positive int .* got -8"),
    (tiny_encoder, dict(image_size=(8, 0)), r"`image_size` .* got \(8, 0\)"),
    (tiny_encoder, dict(qkv_bias="no"), r"`qkv_bias` must be True or False, got 'no'"),
    (tiny_encoder, dict(depth=None), r"`depth` must be a positive integer, got None"),
    (_predictor, dict(mlp_ratio=-1.0), r"`mlp_ratio` must be a number .* got -1.0"),
    (_predictor, dict(layer_norm_epsilon=-1.0), r"`layer_norm_epsilon` .* got -1.0"),
    (_predictor, dict(init_std=math.nan), r"`init_std` .* got nan"),
    (_predictor, dict(grid_size=(4, -4), num_patches=None), r"`grid_size` .* got -4"),
    (_decoder, dict(mlp_ratio=-1.0), r"`mlp_ratio` must be a number .* got -1.0"),
    (_decoder, dict(layer_norm_epsilon=0.0), r"`layer_norm_epsilon` .* got 0.0"),
    (_ijepa, dict(momentum="0.99"), r"`momentum` must be a number in \[0, 1\], got '0.99'"),
    (_ijepa, dict(final_momentum=1.5), r"`final_momentum` must be a number in \[0, 1\], got 1.5"),
    (_ijepa, dict(target_norm_epsilon=-1.0),
     r"`target_norm_epsilon` must be a number in \(0, inf\), got -1.0"),
    (_ijepa, dict(target_norm_epsilon=0.0), r"`target_norm_epsilon` .* got 0.0"),
    (_ijepa, dict(total_steps="10"), r"`total_steps` must be a positive integer, got '10'"),
    (_ijepa, dict(monitors="no"), r"`monitors` must be True or False, got 'no'"),
    (_ijepa, dict(regularizer="vicreg", regularizer_weight=math.inf),
     r"`regularizer_weight` must be a finite number ≥ 0, got inf"),
    (lambda **k: MAE(tiny_encoder(depth=1), **k), dict(norm_pix_epsilon="x"),
     r"`norm_pix_epsilon` must be a positive float, got 'x'"),
    (lambda **k: MAE(tiny_encoder(depth=1), **k), dict(norm_pix_loss="yes"),
     r"`norm_pix_loss` must be True or False, got 'yes'"),
    (lambda **k: TransformerBlock(16, 2, **k), dict(layer_norm_epsilon=-1.0),
     r"`layer_norm_epsilon` must be a number in \(0, inf\), got -1.0"),
]


@pytest.mark.parametrize("constructor, kwargs, message", BAD_ARGUMENTS,
                         ids=[f"{i}-{next(iter(k))}" for i, (_, k, _) in
                              enumerate(BAD_ARGUMENTS)])
def test_bad_constructor_arguments_name_the_argument(constructor, kwargs, message):
    with pytest.raises(ValueError, match=message):
        constructor(**kwargs)


def test_valid_numbers_of_any_numeric_type_are_accepted():
    encoder = ViTEncoder(image_size=np.int64(8), patch_size=2, hidden_dim=16, depth=1,
                         num_heads=2, num_channels=1, mlp_ratio=np.float32(2.0),
                         layer_norm_epsilon=1e-5, qkv_bias=np.True_)
    model = IJEPA(encoder, _predictor(), momentum=1, final_momentum=np.float64(1.0),
                  total_steps=np.int32(5), target_norm_epsilon=1e-6)
    assert (model.momentum, model.total_steps, encoder.mlp_ratio) == (1.0, 5, 2.0)
    assert encoder.grid_size == (4, 4)


# === Data checked inside the step: tf.data batches (issue 15, items 1-3) ===


def _batch(size=8):
    return random_batch(np.random.default_rng(0), batch_size=size)


def _dataset(batch, batch_size=4):
    return tf.data.Dataset.from_tensor_slices(batch).batch(batch_size)


def _with(batch, key, index, value):
    changed = {k: v.copy() for k, v in batch.items()}
    changed[key][index] = value
    return changed


BAD_IJEPA_BATCHES = {
    # name: (key, index, value, text of the error); the bad value sits in batch 2.
    "nan_pixel": ("images", (5, 1, 1, 0), math.nan, "`images` hold NaN or infinite"),
    "inf_pixel": ("images", (7, 0, 0, 0), math.inf, "`images` hold NaN or infinite"),
    "context_index_past_grid": ("context_indices", (6, 0), 16,
                                r"`context_indices` hold values outside \[0, 16\)"),
    "context_index_negative": ("context_indices", (6, 2), -1,
                               r"`context_indices` hold values outside \[0, 16\)"),
    "target_index_1000": ("target_indices", (5, 1, 0), 1000,
                          r"`target_indices` hold values outside \[0, 16\)"),
    "target_index_negative": ("target_indices", (4, 0, 2), -1,
                              r"`target_indices` hold values outside \[0, 16\)"),
    "weights_all_zero": ("target_weights", (5, 0), 0.0,
                         r"`target_weights` have a target block .* all 0"),
    "weight_negative": ("target_weights", (5, 0, 0), -259.0,
                        r"`target_weights` hold values outside \[0, 1\]"),
    "weight_above_one": ("target_weights", (5, 0, 0), 2.0,
                         r"`target_weights` hold values outside \[0, 1\]"),
    "weight_nan": ("target_weights", (5, 0, 0), math.nan,
                   r"`target_weights` hold values outside \[0, 1\] \(or NaN\)"),
}


@pytest.fixture(scope="module")
def shared_ijepa():
    """One model for the cases below: a step that finds a bad batch leaves it usable."""
    model = _ijepa(total_steps=1000)
    model.compile(optimizer="adam")
    return model


@pytest.mark.parametrize("name", sorted(BAD_IJEPA_BATCHES))
def test_bad_values_in_a_dataset_stop_ijepa_fit_naming_the_batch(name, shared_ijepa):
    key, index, value, message = BAD_IJEPA_BATCHES[name]
    batch = _with(_batch(), key, index, value)
    model = shared_ijepa
    with pytest.raises(InvalidBatchError, match="epoch 1, batch 2: .*" + message):
        model.fit(_dataset(batch), epochs=2, verbose=0)
    # The step read the values; the model stays usable.
    assert np.all(np.isfinite(model.encode(_batch()["images"])))


@pytest.mark.parametrize("name", ["nan_pixel", "context_index_negative", "target_index_1000",
                                  "weights_all_zero", "weight_negative"])
def test_bad_values_in_arrays_are_refused_before_any_step(name, shared_ijepa):
    key, index, value, _ = BAD_IJEPA_BATCHES[name]
    model = shared_ijepa
    steps = int(ops.convert_to_numpy(model.optimizer.iterations))
    with pytest.raises(ValueError, match=f"`{key}`") as error:
        model.fit(_with(_batch(), key, index, value), batch_size=4, verbose=0)
    assert not isinstance(error.value, InvalidBatchError)  # found in Python, not a step
    assert int(ops.convert_to_numpy(model.optimizer.iterations)) == steps


def test_bad_values_stop_evaluate_and_train_on_batch_too(shared_ijepa):
    model = shared_ijepa
    bad = _with(_batch(), "context_indices", (1, 0), 64)
    with pytest.raises(InvalidBatchError, match="Evaluation stopped at batch 1: .*"
                       r"`context_indices` hold values outside \[0, 16\)"):
        model.evaluate(_dataset(bad), verbose=0)
    with pytest.raises(InvalidBatchError, match="`train_on_batch` got an invalid batch: "
                       "`context_indices`"):
        model.train_on_batch(bad)


def test_mae_nan_pixel_and_bad_masks_in_a_dataset_stop_fit():
    images = np.random.default_rng(0).normal(size=(8, 8, 8, 1)).astype("float32")
    bad = images.copy()
    bad[6, 2, 2, 0] = math.nan
    with pytest.raises(InvalidBatchError, match="epoch 1, batch 2: .*`images` hold NaN"):
        compiled_mae().fit(_dataset(bad), verbose=0)
    order = np.argsort(np.random.default_rng(1).uniform(size=(8, 16)), axis=1)
    masks = {"images": images, "visible_indices": order[:, :4].astype("int32"),
             "masked_indices": order[:, 4:].astype("int32")}
    masks["masked_indices"][5, 0] = -1
    # torch runs the step eagerly and its partition check sees the clamped index.
    with pytest.raises(ValueError, match="`masked_indices`|`visible_indices`"):
        compiled_mae().fit(_dataset(masks), verbose=0)


def _state(model):
    return [np.array(ops.convert_to_numpy(v.value))
            for v in model.variables + model.optimizer.variables]


@pytest.mark.parametrize("name", ["target_index_1000", "weights_all_zero", "nan_pixel"])
def test_an_invalid_batch_changes_no_weight_and_no_optimizer_or_target_state(name):
    key, index, value, _ = BAD_IJEPA_BATCHES[name]
    model = _ijepa(total_steps=100)
    # Weight decay and momentum would move every weight on a zero-gradient step.
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate=0.01, weight_decay=0.1))
    model.fit(_dataset(_batch()), epochs=1, verbose=0)
    before = _state(model)
    bad_first = _with(_batch(), key, (index[0] - 4,) + index[1:], value)
    with pytest.raises(InvalidBatchError, match="epoch 1, batch 1: "):
        model.fit(_dataset(bad_first), epochs=1, verbose=0)
    after = _state(model)
    changed = [i for i, (a, b) in enumerate(zip(after, before)) if not np.array_equal(a, b)]
    assert changed == []
    # The same model trains on: the next good batch moves the weights.
    model.fit(_dataset(_batch()), epochs=1, verbose=0)
    assert not all(np.array_equal(a, b) for a, b in zip(_state(model), before))


def test_predict_on_a_dataset_with_bad_indices_names_the_batch(shared_ijepa, backend):
    bad = _with(_batch(), "target_indices", (5, 1, 0), 1000)
    if backend == "torch":  # an eager call sees the values and says so first
        expected = (ValueError, r"`target_indices` must lie in \[0, 16\), got values in "
                                r"\[0, 1000\]")
    else:
        expected = (InvalidBatchError, r"Prediction stopped at batch 2: .*"
                                       r"`target_indices` hold values outside \[0, 16\)")
    with pytest.raises(expected[0], match=expected[1]):
        shared_ijepa.predict(_dataset(bad), verbose=0)
    good = shared_ijepa.predict(_dataset(_batch()), verbose=0)
    assert good.shape[0] == 8 and np.all(np.isfinite(good))
    images = np.random.default_rng(0).normal(size=(8, 8, 8, 1)).astype("float32")
    order = np.argsort(np.random.default_rng(1).uniform(size=(8, 16)), axis=1)
    masks = {"images": images, "visible_indices": order[:, :4].astype("int32"),
             "masked_indices": order[:, 4:].astype("int32")}
    masks["visible_indices"][6, 0] = 99
    # torch runs eagerly: its partition check sees the index and raises first.
    with pytest.raises(ValueError, match="`visible_indices`"):
        compiled_mae().predict(_dataset(masks), verbose=0)


def test_a_good_run_logs_no_error_code(shared_ijepa):
    model = shared_ijepa
    history = model.fit(_dataset(_batch()), epochs=1, verbose=0,
                        validation_data=_dataset(_batch()))
    assert not any("batch_errors" in key for key in history.history)
    assert "batch_errors" not in model.evaluate(_dataset(_batch()), verbose=0,
                                                return_dict=True)
    assert "batch_errors" not in model.train_on_batch(_batch(4), return_dict=True)


# === Non-finite loss and NaN features (issue 15, item 1) ===


def test_non_finite_loss_raises_naming_the_batch_and_keeps_the_last_good_checkpoint(tmp_path):
    images = np.random.default_rng(0).uniform(size=(8, 8, 8, 1)).astype("float32")
    path = str(tmp_path / "model.keras")
    checkpoint = training.SafeModelCheckpoint(path)
    poison = PoisonAtEpoch(1)
    model = compiled_mae()
    with pytest.raises(NonFiniteLossError, match=r"epoch 2, batch 1: the loss is nan"):
        model.fit(images, batch_size=4, epochs=3, verbose=0, callbacks=[checkpoint, poison])
    assert checkpoint.last_saved_epoch == 1
    restored = compiled_mae()
    training.load_checkpoint(restored, path)
    assert not training.non_finite_weights(restored)
    for loaded, expected in zip(restored.weights, poison.before):
        np.testing.assert_array_equal(ops.convert_to_numpy(loaded), expected)


def test_terminate_on_nan_keeps_its_graceful_stop():
    images = np.random.default_rng(0).uniform(size=(8, 8, 8, 1)).astype("float32")
    history = compiled_mae().fit(images, batch_size=4, epochs=3, verbose=0, callbacks=[
        keras.callbacks.TerminateOnNaN(), PoisonAtEpoch(1)]).history
    assert len(history["loss"]) == 2 and math.isnan(history["loss"][1])


@pytest.mark.parametrize("make", [compiled_ijepa, compiled_mae], ids=["ijepa", "mae"])
def test_encode_refuses_a_nan_image(make):
    images = _batch()["images"]
    images[3, 4, 4, 0] = math.nan
    with pytest.raises(ValueError, match=r"`images` must be finite, but image 3 \(of 8"):
        make().encode(images)


def test_rankme_of_non_finite_features_is_nan_not_an_svd_failure():
    from keras_jepa.training.monitors import effective_rank_tensor

    features = np.ones((4, 3), "float32")
    features[1, 2] = math.nan
    assert math.isnan(float(ops.convert_to_numpy(effective_rank_tensor(features))))


# === Mask generator against the model (issue 15, item 2) ===


def _images_dataset():
    images = np.random.default_rng(0).normal(size=(8, 8, 8, 1)).astype("float32")
    return tf.data.Dataset.from_tensor_slices(images).batch(4, drop_remainder=True)


@pytest.mark.parametrize("grid", [2, 8])
def test_ijepa_fit_refuses_masks_of_another_grid(grid):
    generator = MultiBlockMaskGenerator(grid, num_targets=1, target_scale=(0.25, 0.25),
                                        context_scale=(0.5, 1.0))
    dataset = attach_masks(_images_dataset(), generator, seed=0).map(lambda b: b).prefetch(2)
    with pytest.raises(ValueError, match=f"for a {grid}×{grid} grid but this model's "
                       r"encoder has a 4×4 grid: build the `mask_generator` with "
                       r"grid_size=\(4, 4\)"):
        compiled_ijepa().fit(dataset, verbose=0)


@pytest.mark.parametrize("grid", [3, 7])
def test_attach_masks_refuses_a_grid_that_does_not_divide_the_images(grid):
    with pytest.raises(ValueError, match=f"`mask_generator` has a {grid}×{grid} grid, "
                       r"which does not divide the dataset's 8×8 images"):
        attach_masks(_images_dataset(), MultiBlockMaskGenerator(grid), seed=0)


def test_mae_fit_refuses_masks_for_another_patch_count():
    dataset = attach_masks(_images_dataset(), RandomMaskGenerator(9), seed=0)
    with pytest.raises(ValueError, match="RandomMaskGenerator for 9 patches but this "
                       "model's encoder has 16"):
        compiled_mae().fit(dataset, verbose=0)


def test_matching_masks_train():
    generator = MultiBlockMaskGenerator(4, num_targets=2, target_scale=(0.1, 0.2), seed=0)
    dataset = attach_masks(_images_dataset(), generator, seed=0).prefetch(2)
    assert np.isfinite(compiled_ijepa().fit(dataset, verbose=0).history["loss"][0])


# === Empty data (issue 15, item 6) ===

EMPTY = {
    "arrays": lambda b: ({k: v[:0] for k, v in b.items()}, dict(batch_size=4)),
    "take_0": lambda b: (_dataset(b).take(0), {}),
    "filtered_out": lambda b: (_dataset(b).filter(lambda x: False), {}),
}


@pytest.mark.parametrize("name", sorted(EMPTY))
def test_fit_on_empty_data_names_x(name):
    x, kwargs = EMPTY[name](_batch())
    with pytest.raises(ValueError, match="`x` yielded no batch"):
        compiled_ijepa().fit(x, verbose=0, **kwargs)


def test_mae_fit_on_an_empty_filtered_dataset_names_x():
    images = np.zeros((4, 8, 8, 1), "float32")
    dataset = tf.data.Dataset.from_tensor_slices(images).filter(lambda x: False).batch(2)
    with pytest.raises(ValueError, match="`x` yielded no batch in epoch 1"):
        compiled_mae().fit(dataset, verbose=0)


# === No partial load through load_weights (issue 15, item 5) ===


def _snapshot(model):
    return [ops.convert_to_numpy(v).copy() for v in model.weights]


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
def test_load_weights_refuses_another_architecture_and_loads_nothing(tmp_path, suffix):
    deep = IJEPA(tiny_encoder(depth=2), _predictor(), total_steps=4)
    path = str(tmp_path / f"deep{suffix}")
    deep.save(path) if suffix == ".keras" else deep.save_weights(path)
    shallow = IJEPA(tiny_encoder(depth=1), _predictor(), total_steps=4)
    before = _snapshot(shallow)
    with pytest.raises(ValueError, match=r"checkpoint `filepath`=.*deep.* does not fit IJEPA"
                       r".*nothing was loaded.\nUnexpected in the checkpoint \(24\): "
                       "context_encoder/blocks/transformer_block_1/"):
        shallow.load_weights(path)
    for value, expected in zip(_snapshot(shallow), before):
        np.testing.assert_array_equal(value, expected)

    shallow.save_weights(str(tmp_path / "shallow.weights.h5"))
    with pytest.raises(ValueError, match=r"Missing from the checkpoint \(24\)"):
        deep.load_weights(str(tmp_path / "shallow.weights.h5"))


def test_mae_load_weights_lists_shape_mismatches(tmp_path):
    path = str(tmp_path / "wide.weights.h5")
    MAE(tiny_encoder(depth=1, hidden_dim=32), seed=0).save_weights(path)
    with pytest.raises(ValueError, match=r"Shape mismatches \(34\): decoder/.* encoder/"):
        MAE(tiny_encoder(depth=1), seed=0).load_weights(path)


def test_load_weights_of_the_same_architecture_still_works(tmp_path):
    source = compiled_mae()
    path = str(tmp_path / "mae.weights.h5")
    MAE(tiny_encoder(depth=1), seed=0).save_weights(path)  # no optimizer state
    model = compiled_mae()
    model.optimizer.build(model.trainable_variables)
    model.load_weights(path)  # the optimizer keeps its own state
    source.optimizer.build(source.trainable_variables)
    source.save_weights(path)
    model.load_weights(path)
    for value, wanted in zip(_snapshot(model), _snapshot(source)):
        np.testing.assert_array_equal(value, wanted)


# === theory: arrays that do not broadcast ===


def test_theory_functions_name_arrays_that_do_not_broadcast():
    from keras_jepa import theory

    lam, rho = np.full(3, 0.5), np.full(2, 0.5)
    message = r"`lam`, `rho`, `depth`, `eps`(, `p`)? must broadcast to one shape .* `lam` \(3,\), " \
              r"`rho` \(2,\)"
    with pytest.raises(ValueError, match=message):
        theory.simulate("jepa", lam, rho, 2, 0.1, np.linspace(0.0, 1.0, 3))
    with pytest.raises(ValueError, match=message):
        theory.critical_time("mae", lam, rho, 2, 0.1)
    with pytest.raises(ValueError, match=r"`rho`, `depth` must broadcast .* `depth` \(2,\)"):
        theory.fixed_point("jepa", np.full(3, 0.5), np.array([1, 2]))
    assert theory.simulate("jepa", lam, 0.5, 2, 0.1, np.linspace(0.0, 1.0, 3)).shape == (3, 3)
