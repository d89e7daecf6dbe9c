"""Full-batch gradient descent with ``fit``: how a network is put next to the ODEs.

On data with exact second moments (`make_two_view_data`) the full-batch loss *is* the
population loss, so plain SGD (no momentum) at learning rate ``eta`` is a forward-Euler
discretisation of the gradient flow, in paper time ``depth * eta * step`` for the deep
linear models. `train_full_batch` runs exactly that, recording the per-feature responses.
"""

import keras

from keras_jepa.checks import is_int
from keras_jepa.theory.callbacks import ResponseHistory


class _RepeatedBatch(keras.utils.PyDataset):
    """The same ``(x, y)`` batch, ``steps`` times: one epoch of full-batch steps."""

    def __init__(self, x, y, steps):
        super().__init__()
        self.x, self.y, self.steps = x, y, steps

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        return self.x, self.y


def train_full_batch(model, x, y, steps, learning_rate, every=1, probe=None):
    """Compiles ``model`` with plain SGD and takes ``steps`` full-batch steps on ``(x, y)``.

    Args:
        model: a two-view model (`DeepLinearJEPA`, `DeepLinearMAE`, `TwoViewJEPA`,
            `TwoViewMAE`). It is (re)compiled, so the optimizer's step count restarts at 0.
        x, y: the whole data set, ``[n, d]`` each (every step sees all of it).
        steps: number of gradient steps, >= 1.
        learning_rate: the SGD learning rate ``eta``.
        every: record interval of the `ResponseHistory` (also the ``steps_per_execution``
            on JAX and TensorFlow, which makes long runs much faster there; torch runs one
            step per execution).
        probe: passed to `ResponseHistory` (``None``: ``model.encoder_response()``).

    Returns:
        The `ResponseHistory`: ``.steps`` and ``.responses``. For the deep linear models
        ``model.paper_time(history.steps, learning_rate)`` puts them on the ODE's time axis.

    Example:

    ```python
    x, y = keras_jepa.theory.make_two_view_data(1.0, [0.6, 1.0], 16, seed=0)
    model = keras_jepa.theory.DeepLinearJEPA(dim=2, depth=2, eps=0.05)
    history = keras_jepa.theory.train_full_batch(model, x, y, steps=2000,
                                                 learning_rate=0.1, every=10)
    t = model.paper_time(history.steps, 0.1)
    ```
    """
    if not is_int(steps) or steps < 1:
        raise ValueError(f"`steps` must be an integer >= 1, got {steps!r}.")
    if not learning_rate > 0:
        raise ValueError(f"`learning_rate` must be > 0, got {learning_rate!r}.")
    history = ResponseHistory(every=every, probe=probe)
    per_execution = 1 if keras.backend.backend() == "torch" else history.every
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate),
        steps_per_execution=per_execution,
    )
    model.fit(_RepeatedBatch(x, y, int(steps)), verbose=0, callbacks=[history])
    return history
