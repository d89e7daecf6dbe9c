"""Deep linear JEPA and MAE: the networks the theory is about, trainable with ``fit``.

The encoder is ``L`` bias-free ``Dense(dim)`` layers, ``W̄ = W_L ⋯ W_1``; the predictor
(JEPA) or decoder (MAE) is one more bias-free ``Dense(dim)``. With the default aligned,
balanced initialisation ``W_a(0) = V(0) = eps**(1/L) I`` and data whose second moments are
diagonal (`make_two_view_data`), full-batch gradient descent at learning rate ``eta``
follows the per-feature ODEs of `simulate` in paper time ``L * eta * steps``
(docs/theory.md, 'Initialisation' and 'Per-feature ODEs'). Random initialisations are
offered for experiments outside the theory.
"""

import keras
import numpy as np

from keras_jepa import checks
from keras_jepa.theory import arguments
from keras_jepa.theory.dynamics import paper_time
from keras_jepa.theory.two_view_jepa import TwoViewJEPA
from keras_jepa.theory.two_view_jepa import resolve_target_mode
from keras_jepa.theory.two_view_mae import TwoViewMAE

INITS = ("aligned", "orthogonal", "normal")


def _initializer(init, scale, seed):
    if init == "aligned":
        return keras.initializers.Identity(gain=scale)
    if init == "orthogonal":
        # Every layer orthogonal at the same scale: balanced, but the factors mix features.
        return keras.initializers.Orthogonal(gain=scale, seed=seed)
    return keras.initializers.RandomNormal(stddev=scale, seed=seed)


def _check_arguments(dim, depth, eps, init):
    if not checks.is_int(dim) or dim < 1:
        raise ValueError(f"`dim` must be an integer >= 1, got {dim!r}.")
    depth = arguments.check_depth_int(depth)
    eps = float(checks.check_open_unit_interval(eps, "eps"))
    if init not in INITS:
        raise ValueError(f"`init` must be one of {INITS}, got {init!r}.")
    return int(dim), depth, eps


def _build_layers(dim, depth, eps, init, seed, name):
    scale = eps ** (1.0 / depth)
    if init == "normal":
        # Entries of standard deviation scale / sqrt(dim) give each factor a root-mean-
        # square singular value of eps**(1/L), the scale of the other two inits.
        scale = scale / np.sqrt(dim)
    # One seed per layer, so that the factors differ but a seed reproduces all of them.
    seeds = np.random.default_rng(seed).integers(0, 2**30, size=depth + 1)

    def layer(layer_name, index):
        layer_seed = None if seed is None else int(seeds[index])
        return keras.layers.Dense(
            dim,
            use_bias=False,
            kernel_initializer=_initializer(init, scale, layer_seed),
            name=layer_name,
        )

    encoder = keras.Sequential(
        [keras.Input((dim,))] + [layer(f"layer_{a + 1}", a) for a in range(depth)],
        name=f"{name}_encoder",
    )
    head = layer(f"{name}_head", depth)
    head.build((None, dim))
    return encoder, head


class _DeepLinearMixin:
    """Reads the linear maps of a deep linear model back as numpy matrices."""

    def encoder_matrix(self, target=False):
        """The encoder product ``W̄ = W_L ⋯ W_1`` as a ``[dim, dim]`` numpy array.

        Column-vector convention (embedding ``= W̄ x``). With ``target=True``, the EMA
        target encoder's product (JEPA with ``target_mode="ema"`` only).
        """
        encoder = self.encoder
        if target:
            if getattr(self, "target_encoder", None) is None:
                raise ValueError(
                    "`target=True` needs a model built with target_mode='ema'; this one has "
                    "no separate target encoder."
                )
            encoder = self.target_encoder
        product = np.eye(self.dim)
        for layer in encoder.layers:
            # Dense computes x @ kernel, so the layer's matrix is the kernel transposed.
            product = keras.ops.convert_to_numpy(layer.kernel).astype(np.float64).T @ product
        return product

    def encoder_response(self, target=False):
        """Per-feature encoder response ``diag(W̄)``, shape ``[dim]`` (what `simulate` models)."""
        return np.diag(self.encoder_matrix(target=target)).copy()

    def head_matrix(self):
        """The predictor (JEPA) or decoder (MAE) ``V`` as a ``[dim, dim]`` numpy array."""
        head = self.predictor if hasattr(self, "predictor") else self.decoder
        return keras.ops.convert_to_numpy(head.kernel).astype(np.float64).T

    def balancedness(self):
        """The matrices that gradient flow conserves, as numpy arrays.

        See docs/theory.md, 'Initialisation'.

        ``[Vᵀ V − W_L W_Lᵀ] + [W_{a+1}ᵀ W_{a+1} − W_a W_aᵀ for a = 1 … L−1]``. All are zero
        at the balanced initialisations (``"aligned"``, ``"orthogonal"``).
        """
        layers = [
            keras.ops.convert_to_numpy(layer.kernel).astype(np.float64).T
            for layer in self.encoder.layers
        ]
        v = self.head_matrix()
        gaps = [v.T @ v - layers[-1] @ layers[-1].T]
        for a in range(len(layers) - 1):
            gaps.append(layers[a + 1].T @ layers[a + 1] - layers[a] @ layers[a].T)
        return gaps

    def paper_time(self, steps, learning_rate):
        """Paper time ``depth * learning_rate * steps`` of plain gradient descent."""
        return paper_time(steps, learning_rate, self.depth)

    def _deep_linear_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dim": self.dim,
            "depth": self.depth,
            "eps": self.eps,
            "init": self.init,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="keras_jepa.theory")
class DeepLinearJEPA(_DeepLinearMixin, TwoViewJEPA):
    """Deep linear JEPA: ``L`` bias-free Dense layers and a linear predictor.

    Trained with ``fit`` on ``(x, y)`` pairs; the loss is
    ``½ mean_batch ‖V W̄ x − sg(W̄ y)‖²`` (stop-gradient target, the theory's setting) or the
    same with an EMA copy of the encoder as target. The ablation
    ``target_mode="no_stop_gradient"`` (``½ mean_batch ‖V W̄ x − W̄ y‖²``, gradient through both
    branches) follows `simulate_no_stop_gradient` instead and collapses to ``W̄ = 0``.

    Args:
        dim: number of features ``d`` (input and embedding width).
        depth: number of encoder layers ``L`` (integer >= 1).
        eps: initial encoder response; every layer and the predictor start at scale
            ``eps**(1/L)``. In (0, 1); the theory also needs ``eps**(1/L) < rho`` of every
            feature.
        init: ``"aligned"`` (default: ``eps**(1/L) I`` for every factor, the theory's init),
            ``"orthogonal"`` (random orthogonal factors at that scale: balanced but not
            aligned) or ``"normal"`` (Gaussian entries of std ``eps**(1/L) / sqrt(dim)``).
        target_mode: as in `keras_jepa.models.IJEPA`: ``"context_stop_gradient"``
            (default), ``"ema"``, or the ablation ``"no_stop_gradient"`` (gradient also
            through the target branch; the responses then shrink to zero,
            `keras_jepa.theory.simulate_no_stop_gradient`).
        momentum: momentum of the EMA target, in [0, 1) (default 0.99).
        seed: seed of the random inits (ignored by ``"aligned"``).
        target, ema_momentum: the first release's names of `target_mode` (with
            ``"stop_gradient"`` for ``"context_stop_gradient"``) and `momentum`; still
            accepted.
        **kwargs: passed to `keras.Model`.

    Example:

    ```python
    lam, rho = np.ones(3), np.array([0.6, 0.8, 1.0])
    x, y = keras_jepa.theory.make_two_view_data(lam, rho, num_samples=16, seed=0)
    model = keras_jepa.theory.DeepLinearJEPA(dim=3, depth=2, eps=0.05)
    history = keras_jepa.theory.train_full_batch(model, x, y, steps=2000,
                                                 learning_rate=0.1)
    t = model.paper_time(history.steps, 0.1)  # = 2 * 0.1 * step
    # history.responses ≈ keras_jepa.theory.simulate("jepa", lam, rho, 2, 0.05, t)
    ```
    """

    def __init__(
        self,
        dim,
        depth,
        eps,
        init="aligned",
        target_mode=None,
        momentum=None,
        seed=None,
        target=None,
        ema_momentum=None,
        **kwargs,
    ):
        dim, depth, eps = _check_arguments(dim, depth, eps, init)
        target_mode, momentum = resolve_target_mode(target_mode, momentum, target,
                                                    ema_momentum)
        encoder, predictor = _build_layers(dim, depth, eps, init, seed, "jepa")
        super().__init__(encoder, predictor, target_mode=target_mode, momentum=momentum,
                         **kwargs)
        self.dim, self.depth, self.eps, self.init, self.seed = dim, depth, eps, init, seed

    def get_config(self):
        config = self._deep_linear_config()
        config.update({"target_mode": self.target_mode, "momentum": self.momentum})
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="keras_jepa.theory")
class DeepLinearMAE(_DeepLinearMixin, TwoViewMAE):
    """Deep linear MAE: ``L`` bias-free Dense layers and a linear decoder.

    Trained with ``fit`` on ``(x, y)`` pairs; the loss is ``½ mean_batch ‖V W̄ x − y‖²``.

    Args:
        dim: number of features ``d``.
        depth: number of encoder layers ``L`` (integer >= 1).
        eps: initial encoder response; every layer and the decoder start at scale
            ``eps**(1/L)``. In (0, 1).
        init: ``"aligned"`` (default), ``"orthogonal"`` or ``"normal"``; see
            `DeepLinearJEPA`.
        seed: seed of the random inits.
        **kwargs: passed to `keras.Model`.

    Example:

    ```python
    model = keras_jepa.theory.DeepLinearMAE(dim=3, depth=2, eps=0.05)
    model.compile(optimizer=keras.optimizers.SGD(0.05))
    model.fit(x, y, batch_size=len(x), epochs=200, verbose=0)
    model.encoder_response()  # → fixed_point("mae", rho, 2) per feature
    ```
    """

    def __init__(self, dim, depth, eps, init="aligned", seed=None, **kwargs):
        dim, depth, eps = _check_arguments(dim, depth, eps, init)
        encoder, decoder = _build_layers(dim, depth, eps, init, seed, "mae")
        super().__init__(encoder, decoder, **kwargs)
        self.dim, self.depth, self.eps, self.init, self.seed = dim, depth, eps, init, seed

    def get_config(self):
        return self._deep_linear_config()

    @classmethod
    def from_config(cls, config):
        return cls(**config)
