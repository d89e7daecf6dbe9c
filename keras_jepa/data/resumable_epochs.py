"""Input pipelines that resume exactly: one seeded pipeline per epoch.

A `tf.data` pipeline that reshuffles and redraws its crops and masks on every pass (as
`keras_jepa.data.make_pretraining_dataset` does) keys each pass on how many iterators
were opened on that dataset object. A fresh process restarts that count at zero, and
Keras's `fit` opens a backend-dependent number of iterators per epoch (two on
TensorFlow, one on torch, in Keras 3.15), so a resumed run cannot recover the passes it
would have seen. `epoch_datasets` removes the dependence: epoch `e` is the first pass of
a pipeline built for `e` (e.g. seeded with `epoch_seed(seed, e)`), and the epochs are
concatenated into one dataset that `fit` reads with `steps_per_epoch`. A run resumed at
epoch `k` builds only epochs `k, k+1, ...` and sees exactly the batches the uninterrupted
run saw. `backup_epoch` reads the epoch `keras.callbacks.BackupAndRestore` will resume at.
"""

import json
import os

import numpy as np

from keras_jepa.checks import check_non_negative_int


def _check_epoch(value, name):
    return check_non_negative_int(value, name)


def epoch_seed(seed, epoch):
    """A seed for epoch `epoch`'s pipeline, derived from the run's `seed`.

    Args:
        seed: non-negative int, the run's seed.
        epoch: non-negative int, the 0-based epoch.

    Returns:
        An int in [0, 2**31): different epochs get independent seeds; the same
        `(seed, epoch)` always the same one.

    Example:
    seed = keras_jepa.training.epoch_seed(0, epoch=3)
    """
    seed = _check_epoch(seed, "seed")
    epoch = _check_epoch(epoch, "epoch")
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1, np.uint32)[0]) >> 1


def epoch_datasets(make_dataset, epochs, initial_epoch=0):
    """The epochs `initial_epoch .. epochs - 1` as one dataset, each built for its epoch.

    Pass the result to `fit` with `steps_per_epoch` (and the same `epochs` and
    `initial_epoch`): epoch `e` then reads exactly `make_dataset(e)`, whether the run
    started at 0 or was resumed at `e` in a new process.

    Args:
        make_dataset: function from the 0-based epoch (int) to a finite, batched
            `tf.data.Dataset` of known length, the same for every epoch, e.g.
            `lambda e: make_pretraining_dataset(..., seed=epoch_seed(seed, e))`.
        epochs: int, the run's last epoch index (`fit`'s `epochs`).
        initial_epoch: int, the first epoch to build (`fit`'s `initial_epoch`, or
            `backup_epoch(backup_dir)` with `BackupAndRestore`).

    Returns:
        `(dataset, steps_per_epoch)`.

    Example:
    def make(epoch):
        return keras_jepa.data.make_pretraining_dataset(
            source, 16, 64, generator, seed=keras_jepa.training.epoch_seed(0, epoch))
    start = keras_jepa.training.backup_epoch("runs/backup")
    dataset, steps = keras_jepa.training.epoch_datasets(make, 100, start)
    model.fit(dataset, epochs=100, steps_per_epoch=steps,
              callbacks=[keras.callbacks.BackupAndRestore("runs/backup")])
    """
    if not callable(make_dataset):
        raise ValueError(
            "`make_dataset` must be a function from the epoch to a tf.data.Dataset, got "
            f"{type(make_dataset).__name__}."
        )
    epochs = _check_epoch(epochs, "epochs")
    initial_epoch = _check_epoch(initial_epoch, "initial_epoch")
    if initial_epoch >= epochs:
        raise ValueError(
            f"`initial_epoch` ({initial_epoch}) must be smaller than `epochs` ({epochs}): "
            "no epoch is left to train."
        )
    dataset, steps = None, None
    for epoch in range(initial_epoch, epochs):
        part = make_dataset(epoch)
        length = int(part.cardinality()) if hasattr(part, "cardinality") else -1
        if length < 1:
            raise ValueError(
                f"`make_dataset({epoch})` must return a finite tf.data.Dataset of known "
                f"length (got cardinality {length}); build it without `repeat()`."
            )
        if steps is None:
            steps, dataset = length, part
            continue
        if length != steps:
            raise ValueError(
                f"`make_dataset` must give every epoch the same number of batches: epoch "
                f"{initial_epoch} has {steps}, epoch {epoch} has {length}."
            )
        dataset = dataset.concatenate(part)
    return dataset, steps


def backup_epoch(backup_dir):
    """The epoch `keras.callbacks.BackupAndRestore(backup_dir)` will resume at.

    Args:
        backup_dir: the callback's `backup_dir`.

    Returns:
        The 0-based epoch recorded by the last epoch-end backup, or 0 when there is none.

    Example:
    start = keras_jepa.training.backup_epoch("runs/backup")
    """
    path = os.path.join(str(backup_dir), "training_metadata.json")
    if not os.path.isfile(path):
        return 0
    with open(path) as f:
        return int(json.load(f)["epoch"])
