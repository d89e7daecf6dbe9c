"""Static shapes: a run compiles its train step once, whatever the masks."""

import numpy as np
import pytest
import tensorflow as tf
from helpers import random_batch
from helpers import tiny_ijepa

from keras_jepa.training import ijepa_optimizer


@pytest.mark.parametrize("steps", [20])
def test_fresh_masks_every_step_compile_the_step_once(backend, steps):
    if backend == "torch":
        pytest.skip("torch runs eagerly: there is no compiled step to count")
    rng = np.random.default_rng(0)
    batches = [random_batch(rng) for _ in range(steps)]
    stacked = {k: np.stack([b[k] for b in batches]) for k in batches[0]}
    assert len({b["context_indices"].tobytes() for b in batches}) == steps
    dataset = tf.data.Dataset.from_tensor_slices(stacked)

    model = tiny_ijepa()
    model.compile(optimizer=ijepa_optimizer(total_steps=steps))
    traces = []
    original = model.train_step

    def counting_train_step(*args):
        traces.append(1)  # Python runs only while the step is being traced
        return original(*args)

    model.train_step = counting_train_step
    history = model.fit(dataset, epochs=1, verbose=0)
    assert int(model.optimizer.iterations) == steps
    assert np.isfinite(history.history["loss"][0])
    assert len(traces) == 1
