"""Static shapes: a run compiles its train step once, whatever the masks."""

import numpy as np
import pytest
import tensorflow as tf
from helpers import random_batch
from helpers import tiny_ijepa

from keras_jepa.training import ijepa_optimizer

# compile()'s default step on TensorFlow is XLA: these tests run it (conftest.py).
pytestmark = pytest.mark.xla_default


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


def test_default_compilation_is_the_fast_one_per_backend(backend):
    """`compile()` without `jit_compile`: XLA on JAX and on TensorFlow (CPU included,
    where Keras alone leaves it off), the eager step on torch; an explicit value wins."""
    model = tiny_ijepa()
    model.compile(optimizer="adam")
    assert model.jit_compile is {"jax": True, "tensorflow": True, "torch": False}[backend]
    model.compile(optimizer="adam", jit_compile=False)
    assert model.jit_compile is False
    rng = np.random.default_rng(0)
    model = tiny_ijepa()
    model.compile(optimizer=ijepa_optimizer(total_steps=2))
    history = model.fit(random_batch(rng), batch_size=3, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_rankme_of_the_step_equals_the_svd_definition(backend):
    """TensorFlow reads the singular values from a float64 Gram matrix (XLA's SVD is
    slow); they must equal numpy's SVD to float32 rounding on every backend."""
    from keras import ops

    from keras_jepa.training.monitors import effective_rank_tensor
    from keras_jepa.training.monitors import singular_values

    rng = np.random.default_rng(1)
    for shape in [(64, 24), (12, 40)]:
        features = (rng.normal(size=shape) * np.geomspace(1, 1e-3, shape[1])).astype("float32")
        values = np.sort(np.asarray(ops.convert_to_numpy(singular_values(features))))[::-1]
        expected = np.linalg.svd(features.astype("float64"), compute_uv=False)
        np.testing.assert_allclose(values[:len(expected)], expected, rtol=1e-5,
                                   atol=1e-6 * expected[0])
        centered = features - features.mean(axis=0)
        s = np.linalg.svd(centered.astype("float64"), compute_uv=False)
        p = s / (s.sum() + 1e-7) + 1e-7
        assert float(effective_rank_tensor(features)) == pytest.approx(
            np.exp(-(p * np.log(p)).sum()), rel=1e-5)
