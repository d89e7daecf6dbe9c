"""The common frame of keras_jepa's mask generators.

A mask generator is a plain Python object (numpy only, no tensors) that draws a batch
of token-index masks with fixed shapes. ``MaskGenerator`` holds what every generator
shares: the seeded stream behind ``generator(batch_size)``, the stateless
``generator.sample(batch_size, seed)`` that tf.data pipelines call with a batch counter,
argument checks, config serialization and ``repr``. Subclasses implement ``_sample`` and
``mask_spec``.
"""

import numbers

import numpy as np

from keras_jepa.checks import is_int


class MaskGenerator:
    """Base class of the mask generators: seeding, stateless sampling and config.

    Subclasses implement `_sample(batch_size, rng)`, returning a dict of numpy arrays
    whose shapes depend on `batch_size` only, and `mask_spec(batch_size)`, describing
    them. Both calling forms below draw from numpy's `default_rng`.

    Args:
        seed: int or None. Seeds the stream used by `generator(batch_size)`: the same
            seed gives the same sequence of batches. `None` draws fresh entropy.

    Example:

    ```python
    generator = keras_jepa.masking.RandomMaskGenerator(64, seed=0)
    masks = generator(32)                   # the next batch of the seeded stream
    masks = generator.sample(32, (0, 17))   # a pure function of the seed pair
    ```
    """

    def __init__(self, seed=None):
        if seed is not None:
            seed = _check_seed_int(seed)
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    def __call__(self, batch_size):
        """Draws the next batch of masks from the generator's own seeded stream."""
        batch_size = check_positive_int(batch_size, "batch_size")
        return self._sample(batch_size, self._rng)

    def sample(self, batch_size, seed):
        """Draws a batch of masks as a pure function of `seed`.

        Unlike `generator(batch_size)`, this keeps no state, so parallel workers can
        call it: the same `(batch_size, seed)` always returns the same masks.

        Args:
            batch_size: positive int.
            seed: a non-negative int, or a sequence of them such as
                `(base_seed, batch_counter)`.

        Returns:
            The same dict of numpy arrays as `generator(batch_size)`.
        """
        batch_size = check_positive_int(batch_size, "batch_size")
        return self._sample(batch_size, rng_from_seed(seed))

    def mask_spec(self, batch_size):
        """Returns `{key: (shape, numpy dtype)}` of the masks for `batch_size`."""
        raise NotImplementedError

    def _sample(self, batch_size, rng):
        raise NotImplementedError

    def get_config(self):
        return {"seed": self.seed}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        arguments = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


def check_positive_int(value, name):
    """Returns `value` as an int, or raises ValueError naming `name`."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < 1
    ):
        raise ValueError(f"`{name}` must be a positive int, got {value!r}.")
    return int(value)


def check_range(value, name, low, high, low_inclusive, high_inclusive):
    """Checks a `(min, max)` pair with `low <(=) min <= max <(=) high`.

    Returns it as a tuple of floats; raises ValueError naming `name` and the
    expected range otherwise.
    """
    interval = (
        ("[" if low_inclusive else "(")
        + f"{low}, {high}"
        + ("]" if high_inclusive else ")")
    )
    message = (
        f"`{name}` must be a pair (min, max) with min <= max, both in {interval}, "
        f"got {value!r}."
    )
    try:
        low_value, high_value = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    for v in (low_value, high_value):
        above = v >= low if low_inclusive else v > low
        below = v <= high if high_inclusive else v < high
        if not (above and below):
            raise ValueError(message)
    if low_value > high_value:
        raise ValueError(message)
    return (low_value, high_value)


def rng_from_seed(seed):
    """A fresh numpy Generator for an int or int-sequence `seed` (checked)."""
    return np.random.default_rng(_normalize_seed(seed))


def _check_seed_int(value):
    if not is_int(value) or value < 0:
        raise ValueError(
            f"`seed` must be a non-negative int or a sequence of them, got {value!r}.")
    return int(value)


def _normalize_seed(seed):
    # numpy arrays and tf.numpy_function arguments arrive as numpy integers or
    # 0-d/1-d arrays; SeedSequence wants plain non-negative Python ints.
    if isinstance(seed, np.ndarray):
        seed = seed.tolist()
    if isinstance(seed, (list, tuple)):
        if not seed:
            raise ValueError("`seed` must not be an empty sequence.")
        return [_check_seed_int(v) for v in seed]
    return _check_seed_int(seed)


def jepa_mask_spec(batch_size, num_context_tokens, num_targets, num_target_tokens):
    """`{key: (shape, numpy dtype)}` of I-JEPA masks: the contract's three keys."""
    targets = (batch_size, num_targets, num_target_tokens)
    return {
        "context_indices": ((batch_size, num_context_tokens), np.int32),
        "target_indices": (targets, np.int32),
        "target_weights": (targets, np.float32),
    }
