"""Argument checks shared by every package: one wording for one kind of mistake.

A leaf module (it imports nothing of keras_jepa), so that `layers`, `masking` and the
others can use it without an arrow between them. The checks run at the public
boundary (constructors, top-level functions); a `ValueError` names the argument, the
value given and what is expected.
"""

import numbers


def is_int(value):
    """Whether `value` is an integer (Python or numpy) and not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_non_negative_int(value, name):
    """`int(value)`; a ValueError naming `name` unless it is an int ≥ 0 (not a bool).

    Example:
    seed = keras_jepa.checks.check_non_negative_int(0, "seed")
    """
    if not is_int(value) or value < 0:
        raise ValueError(f"`{name}` must be a non-negative int, got {value!r}.")
    return int(value)


def check_seed(seed, name="seed"):
    """A seed: an int ≥ 0 (see `check_non_negative_int`)."""
    return check_non_negative_int(seed, name)
