"""A run killed and resumed continues as if never stopped (DESIGN.md principle 4).

Each test trains a micro model for a few steps uninterrupted, then again with a kill
(an exception raised from a callback) after some epochs; a freshly built model with
other initial weights resumes the run. Final weights (context and target encoders,
predictor or decoder), optimizer state, EMA momentum and learning rate must match the
uninterrupted run.
"""

import os

import keras
import numpy as np
import pytest
from helpers import tiny_encoder
from keras import ops

from keras_jepa import data as kdata
from keras_jepa import training
from keras_jepa.data import from_arrays
from keras_jepa.data import make_pretraining_dataset
from keras_jepa.masking import MultiBlockMaskGenerator
from keras_jepa.models import IJEPA
from keras_jepa.models import MAE
from keras_jepa.models import JEPAPredictor

EPOCHS = 3
BATCH = 4
EXAMPLES = 8  # 2 steps per epoch
TOTAL_STEPS = EPOCHS * EXAMPLES // BATCH
RUN_SEED = 0


class Kill(RuntimeError):
    pass


class KillAtEpoch(keras.callbacks.Callback):
    """Simulates a killed process: raises when epoch `epoch` (0-based) begins."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise Kill(f"killed before epoch {epoch}")


def numpy_of(x):
    return np.asarray(ops.convert_to_numpy(x))


IMAGES = np.random.default_rng(0).uniform(size=(EXAMPLES, 8, 8, 1)).astype("float32")


def make_epoch(epoch):
    """Epoch `epoch`'s pipeline: shuffle, crops and masks seeded by the epoch."""
    generator = MultiBlockMaskGenerator(grid_size=4, num_targets=2, seed=0)
    return make_pretraining_dataset(from_arrays(IMAGES), 8, BATCH, generator, mean=None,
                                    std=None, seed=kdata.epoch_seed(5, epoch),
                                    include_labels=False)


def build_ijepa(init_seed, total_steps=None):
    keras.utils.set_random_seed(init_seed)
    encoder = tiny_encoder(depth=1)
    predictor = JEPAPredictor.for_encoder(encoder, hidden_dim=8, depth=1, num_heads=2)
    model = IJEPA(encoder, predictor, momentum=0.9, total_steps=total_steps)
    # No XLA: compiling each micro model costs more than its few steps (JAX).
    model.compile(optimizer=training.ijepa_optimizer(total_steps=TOTAL_STEPS,
                                                     peak_learning_rate=1e-2),
                  jit_compile=False)
    return model


def build_mae(init_seed):
    keras.utils.set_random_seed(init_seed)
    model = MAE(tiny_encoder(depth=1), mask_ratio=0.5, seed=3)
    # No XLA: compiling each micro model costs more than its few steps (JAX).
    model.compile(optimizer=training.ijepa_optimizer(total_steps=TOTAL_STEPS,
                                                     peak_learning_rate=1e-2),
                  jit_compile=False)
    return model


def train(model, data, callbacks=(), **kwargs):
    return model.fit(data, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0,
                     callbacks=list(callbacks), **kwargs).history


def train_on_pipeline(model, first_epoch, callbacks=(), **kwargs):
    # A new process seeds itself as the first did (the pipeline's random ops also
    # depend on TensorFlow's global seed), then builds only the epochs left.
    keras.utils.set_random_seed(RUN_SEED)
    dataset, steps = kdata.epoch_datasets(make_epoch, EPOCHS, first_epoch)
    assert steps == EXAMPLES // BATCH
    return model.fit(dataset, epochs=EPOCHS, steps_per_epoch=steps, verbose=0,
                     callbacks=list(callbacks), **kwargs).history


def assert_same_state(resumed, reference):
    # Paths differ by Keras's auto-numbered layer names; the order is the same.
    assert [v.shape for v in resumed.weights] == [v.shape for v in reference.weights]
    for a, b in zip(resumed.weights, reference.weights):
        np.testing.assert_allclose(numpy_of(a), numpy_of(b), atol=1e-6, rtol=0,
                                   err_msg=a.path)
    assert int(numpy_of(resumed.optimizer.iterations)) == TOTAL_STEPS
    assert int(numpy_of(reference.optimizer.iterations)) == TOTAL_STEPS
    for a, b in zip(resumed.optimizer.variables, reference.optimizer.variables):
        np.testing.assert_allclose(numpy_of(a), numpy_of(b), atol=1e-6, rtol=0,
                                   err_msg=a.path)


def assert_same_last_logs(resumed_history, reference_history, keys):
    for key in keys:
        np.testing.assert_allclose(resumed_history[key][-1], reference_history[key][-1],
                                   atol=1e-6, rtol=0, err_msg=key)


@pytest.fixture(scope="module")
def ijepa_runs(tmp_path_factory):
    """The uninterrupted I-JEPA run, and a run killed before its last epoch.

    The killed run leaves a `BackupAndRestore` backup and a `SafeModelCheckpoint` file.
    """
    reference = build_ijepa(init_seed=RUN_SEED)
    history = train_on_pipeline(reference, 0)
    assert reference.total_steps == TOTAL_STEPS

    folder = tmp_path_factory.mktemp("killed")
    backup, path = str(folder / "backup"), str(folder / "model.keras")
    assert kdata.backup_epoch(backup) == 0
    killed = build_ijepa(init_seed=RUN_SEED)
    with pytest.raises(Kill):
        train_on_pipeline(killed, 0, [keras.callbacks.BackupAndRestore(backup),
                                      training.SafeModelCheckpoint(path), KillAtEpoch(2)])
    return {"reference": reference, "history": history, "backup": backup, "path": path}


def test_ijepa_resumes_exactly_with_backup_and_restore(ijepa_runs):
    backup = ijepa_runs["backup"]
    assert os.path.isfile(os.path.join(backup, "latest.weights.h5"))
    assert kdata.backup_epoch(backup) == 2

    # As in a new process: a fresh model with other initial weights, a fresh pipeline.
    resumed = build_ijepa(init_seed=1)
    history = train_on_pipeline(resumed, kdata.backup_epoch(backup),
                                [keras.callbacks.BackupAndRestore(backup)])
    assert len(history["loss"]) == 1  # only the epoch left
    assert resumed.total_steps == TOTAL_STEPS
    assert_same_state(resumed, ijepa_runs["reference"])
    assert_same_last_logs(history, ijepa_runs["history"], ("loss", "momentum", "lr"))
    # The target encoder is an EMA, not a copy of the context encoder.
    assert not np.allclose(numpy_of(resumed.target_encoder.weights[0]),
                           numpy_of(resumed.context_encoder.weights[0]))


def test_ijepa_resumes_exactly_from_a_checkpoint_with_initial_epoch(ijepa_runs):
    # A fresh model without `total_steps` must infer the whole run's momentum ramp
    # (epochs × steps per epoch), not the length of the resumed part.
    resumed = build_ijepa(init_seed=1)
    training.load_checkpoint(resumed, ijepa_runs["path"])
    history = train_on_pipeline(resumed, 2, initial_epoch=2)
    assert resumed.total_steps == TOTAL_STEPS
    assert_same_state(resumed, ijepa_runs["reference"])
    assert_same_last_logs(history, ijepa_runs["history"], ("loss", "momentum", "lr"))


def test_mae_in_step_mask_stream_is_saved_and_resumes_exactly(tmp_path):
    images = np.random.default_rng(1).uniform(size=(EXAMPLES, 8, 8, 1)).astype("float32")
    backup = str(tmp_path / "backup")
    killed = build_mae(init_seed=0)
    with pytest.raises(Kill):
        train(killed, images, [keras.callbacks.BackupAndRestore(backup), KillAtEpoch(1)])
    killed_state = numpy_of(killed.seed_generator.state).copy()

    resumed = build_mae(init_seed=1)
    fresh_state = numpy_of(resumed.seed_generator.state).copy()
    assert not np.array_equal(fresh_state, killed_state)  # the stream has advanced
    history = train(resumed, images, [keras.callbacks.BackupAndRestore(backup)])

    # The reference: the killed model, whose whole state is still in memory, finishing
    # the run in the same process (no retrace of the step, unlike a third model).
    reference = killed
    reference_history = train(reference, images, initial_epoch=1)
    assert len(history["loss"]) == 2
    assert_same_state(resumed, reference)
    np.testing.assert_array_equal(numpy_of(resumed.seed_generator.state),
                                  numpy_of(reference.seed_generator.state))
    assert_same_last_logs(history, reference_history, ("loss", "lr"))


def test_mae_weights_file_round_trips_the_mask_stream(tmp_path):
    model = build_mae(init_seed=0)
    model.sample_masks(4)  # advance the stream
    path = str(tmp_path / "mae.weights.h5")
    model.save_weights(path)
    clone = build_mae(init_seed=0)
    clone.load_weights(path)
    np.testing.assert_array_equal(numpy_of(clone.seed_generator.state),
                                  numpy_of(model.seed_generator.state))
    for key in ("visible_indices", "masked_indices"):
        np.testing.assert_array_equal(numpy_of(clone.sample_masks(4)[key]),
                                      numpy_of(model.sample_masks(4)[key]))


def test_epoch_datasets_started_late_give_the_batches_of_those_epochs():
    whole, steps = kdata.epoch_datasets(make_epoch, EPOCHS)
    late, late_steps = kdata.epoch_datasets(make_epoch, EPOCHS, initial_epoch=2)
    assert (int(whole.cardinality()), int(late.cardinality())) == (EPOCHS * steps, steps)
    whole_batches = list(whole.as_numpy_iterator())
    for expected, got in zip(whole_batches[2 * steps:], late.as_numpy_iterator()):
        for key in expected:
            np.testing.assert_array_equal(got[key], expected[key])
    # Epochs differ from each other (new crops and masks), so the check above can fail.
    assert not np.array_equal(whole_batches[0]["images"], whole_batches[steps]["images"])


def test_epoch_datasets_reject_bad_arguments():
    with pytest.raises(ValueError, match="`initial_epoch` \\(3\\) must be smaller"):
        kdata.epoch_datasets(make_epoch, 3, initial_epoch=3)
    with pytest.raises(ValueError, match="known length"):
        kdata.epoch_datasets(lambda e: make_epoch(e).repeat(), 2)
    with pytest.raises(ValueError, match="`epochs` must be a non-negative int"):
        kdata.epoch_datasets(make_epoch, 2.5)
