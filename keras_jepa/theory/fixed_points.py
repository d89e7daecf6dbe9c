"""Where gradient flow ends: the asymptotes of the ODEs (docs/theory.md, 'Fixed points').

For a feature with regression coefficient ``rho``, the deep linear JEPA encoder converges to
``rho**depth`` and the MAE encoder to ``rho**(depth / (depth + 1))``; the predictor (decoder)
to ``rho`` and ``rho**(1 / (depth + 1))``. Both objectives learn every feature with
``lam > 0``; JEPA suppresses low-``rho`` features more strongly at the end.
"""

import numpy as np

from keras_jepa import checks
from keras_jepa.theory import arguments

PARTS = ("encoder", "predictor", "end_to_end")


def fixed_point(objective, rho, depth, part="encoder"):
    """Asymptotic value of a feature's response under gradient flow.

    Args:
        objective: ``"jepa"`` or ``"mae"``.
        rho: regression coefficient ``lam / sigma**2`` of each feature, > 0. Array-like.
        depth: number of encoder layers ``L``, an integer >= 1. Array-like.
        part: ``"encoder"`` (the diagonal entry of the encoder product ``W̄``, the default and
            what `simulate` returns), ``"predictor"`` (the predictor or decoder coefficient
            ``v``) or ``"end_to_end"`` (``v * w̄``).

    Returns:
        The fixed point, broadcast over ``rho`` and ``depth``: a float when both are scalars,
        an array otherwise.

    Example:

    >>> keras_jepa.theory.fixed_point("jepa", rho=0.5, depth=2)
    0.25
    >>> keras_jepa.theory.fixed_point("mae", rho=0.25, depth=1)
    0.5
    """
    objective = arguments.check_objective(objective)
    rho = checks.check_positive_number(rho, "rho", elementwise=True)
    depth = arguments.check_depth(depth)
    if part not in PARTS:
        raise ValueError(f"`part` must be one of {PARTS}, got {part!r}.")
    rho, depth = checks.broadcast_arrays(rho=rho, depth=depth)
    if objective == "jepa":
        encoder, predictor = rho**depth, rho
    else:
        encoder = rho ** (depth / (depth + 1.0))
        predictor = rho ** (1.0 / (depth + 1.0))
    value = {
        "encoder": encoder,
        "predictor": predictor,
        "end_to_end": encoder * predictor,
    }[part]
    return arguments.scalar_or_array(np.asarray(value, dtype=np.float64))
