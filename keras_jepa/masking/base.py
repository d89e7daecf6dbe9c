"""The common frame of keras_jepa's mask generators.

A mask generator is a plain Python object (numpy only, no tensors) that draws a batch
of token-index masks with fixed shapes. ``MaskGenerator`` holds what every generator
shares: the seeded stream behind ``generator(batch_size)``, the stateless
``generator.sample(batch_size, seed)`` that tf.data pipelines call with a batch counter,
argument checks, config serialization and ``repr``. Subclasses implement ``_sample`` and
``mask_spec``.
"""

import numpy as np

from keras_jepa.checks import SEED_OR_SEQUENCE
from keras_jepa.checks import check_non_negative_int
from keras_jepa.checks import check_positive_int
from keras_jepa.checks import check_seed


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
            seed = check_non_negative_int(seed, "seed", expected=SEED_OR_SEQUENCE)
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


def rng_from_seed(seed):
    """A fresh numpy Generator for an int or int-sequence `seed` (checked)."""
    return np.random.default_rng(check_seed(seed, sequence=True))


def jepa_mask_spec(batch_size, num_context_tokens, num_targets, num_target_tokens):
    """`{key: (shape, numpy dtype)}` of I-JEPA masks: the contract's three keys."""
    targets = (batch_size, num_targets, num_target_tokens)
    return {
        "context_indices": ((batch_size, num_context_tokens), np.int32),
        "target_indices": (targets, np.int32),
        "target_weights": (targets, np.float32),
    }
