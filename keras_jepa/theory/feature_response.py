"""How strongly an encoder responds to each input feature, for any (non-linear) encoder.

For a deep linear encoder the response to feature ``i`` is ``w̄_i``, the diagonal of ``W̄``.
For a general encoder ``f`` we use the regression of its output on that feature alone:
``r_i = ‖Cov(f(x), x_i)‖ / Var(x_i)``. When the features are independent this is the
average slope of ``f`` along feature ``i``; for a linear encoder on decorrelated data it is
exactly the norm of column ``i`` of ``W̄`` (so ``|w̄_i|`` when ``W̄`` is diagonal).
"""

import keras
import numpy as np
from keras import ops

from keras_jepa.training import no_gradient


def feature_response(encoder, x, batch_size=None):
    """Per-feature response ``‖Cov(f(x), x_i)‖ / Var(x_i)`` of an encoder on a probe set.

    Args:
        encoder: a Keras layer or model (or any callable) mapping ``[n, d]`` to ``[n, h]``.
        x: probe inputs, ``[n, d]`` (e.g. the context views of `make_two_view_data`).
        batch_size: encode ``x`` in chunks of this many rows (``None``: all at once).

    Returns:
        A float64 numpy array ``[d]``.

    Example:

    >>> x, _ = keras_jepa.theory.make_two_view_data([1.0, 1.0], 1.0, 64, seed=0)
    >>> dense = keras.layers.Dense(2, use_bias=False,
    ...                            kernel_initializer=keras.initializers.Identity(0.5))
    >>> keras_jepa.theory.feature_response(dense, x)
    array([0.5, 0.5])
    """
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"`x` must be a 2-D array [n >= 2, d], got shape {x.shape}.")
    step = x.shape[0] if batch_size is None else int(batch_size)
    x_centred = ops.convert_to_tensor(x - x.mean(axis=0), "float32")
    # With x centred, the embedding's own mean drops out of Cov(f(x), x_i).
    cross = 0.0
    with no_gradient():
        for start in range(0, x.shape[0], step):
            chunk = ops.convert_to_tensor(x[start : start + step], "float32")
            embedding = ops.reshape(encoder(chunk), (ops.shape(chunk)[0], -1))
            cross = cross + ops.matmul(
                ops.transpose(embedding), x_centred[start : start + step]
            )
    n = float(x.shape[0])
    norms = keras.ops.convert_to_numpy(ops.norm(cross / n, axis=0)).astype(np.float64)
    variance = np.mean((x - x.mean(axis=0)).astype(np.float64) ** 2, axis=0)
    return norms / variance
