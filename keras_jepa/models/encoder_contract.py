"""What an encoder must provide to be used by `IJEPA`, `MAE` and `ImageClassifier`.

`ViTEncoder` is one such encoder; a user-written one works if it satisfies the contract
that `check_encoder` checks at the model's construction:

1. It is a `keras.layers.Layer` (a `keras.Model` is one too).
2. `encoder(images, token_indices=None)`: `images` `[B, H, W, C]` → tokens
   `[B, num_patches, hidden_dim]`, one per patch of a row-major grid; with
   `token_indices` `int32 [B, K]` → the tokens at those patches only `[B, K, hidden_dim]`
   (I-JEPA's context encoder and MAE's encoder see only the kept patches).
3. Attributes `num_patches` (int), `hidden_dim` (int, the token width) and `image_shape`
   (`(H, W, C)`, the images it takes). MAE also needs `grid_size` (`(rows, cols)`),
   `patch_size` and `num_channels`, to cut targets into the same patches.
4. `get_config()` returning every constructor argument, so that
   `type(encoder).from_config(encoder.get_config())` builds the same architecture:
   I-JEPA's target encoder is made that way, and `.keras` saving uses it (register the
   class with `@keras.saving.register_keras_serializable()` to load saved models).
5. Weights: built at construction, or created by `build(input_shape)` or by the first
   call; the models build an unbuilt encoder by calling it on a symbolic batch of
   `image_shape` (no computation).
"""

import inspect

import keras

from keras_jepa.checks import is_int

ENCODER_ATTRIBUTES = ("num_patches", "hidden_dim", "image_shape")
MAE_ENCODER_ATTRIBUTES = ENCODER_ATTRIBUTES + ("grid_size", "patch_size", "num_channels")

_BASE_CLASSES = (keras.layers.Layer, keras.Model)


def _positive_int(value):
    return is_int(value) and value > 0


def _attribute_problem(encoder, attribute):
    """Why `encoder.attribute` breaks the contract, or None."""
    if not hasattr(encoder, attribute) or getattr(encoder, attribute) is None:
        return f"attribute `{attribute}` is missing"
    value = getattr(encoder, attribute)
    if attribute == "image_shape":
        ok = isinstance(value, (tuple, list)) and len(value) == 3 and all(
            _positive_int(v) for v in value)
        expected = "(height, width, channels) of positive ints"
    elif attribute == "grid_size":
        ok = isinstance(value, (tuple, list)) and len(value) == 2 and all(
            _positive_int(v) for v in value)
        expected = "(rows, cols) of positive ints"
    else:
        ok = _positive_int(value)
        expected = "a positive int"
    if not ok:
        return f"`{attribute}` must be {expected}, got {value!r}"
    return None


def _takes_token_indices(encoder):
    try:
        parameters = inspect.signature(encoder.call).parameters.values()
    except (TypeError, ValueError):
        return True  # not introspectable: the symbolic call below decides
    return any(p.name == "token_indices" or p.kind is p.VAR_KEYWORD for p in parameters)


def _defines_get_config(encoder):
    for cls in type(encoder).__mro__:
        if cls in _BASE_CLASSES or cls.__module__.startswith("keras."):
            return False
        if "get_config" in cls.__dict__:
            return True
    return False


def check_encoder(encoder, attributes=ENCODER_ATTRIBUTES, name="encoder"):
    """Checks that `encoder` keeps the encoder contract (see this module), and builds it.

    Reports every missing part at once. An unbuilt encoder is built by a symbolic call
    on `[2, *image_shape]` (no computation), which also checks the shapes of its
    tokens with and without `token_indices`.

    Args:
        encoder: the encoder to check, e.g. a `ViTEncoder` or a user's
            `keras.layers.Layer`.
        attributes: the attributes the caller needs (`ENCODER_ATTRIBUTES`, or
            `MAE_ENCODER_ATTRIBUTES` for an MAE).
        name: the argument's name, for messages.

    Returns:
        `encoder`, built.

    Raises:
        TypeError: if `encoder` is not a `keras.layers.Layer`.
        ValueError: listing every part of the contract that `encoder` misses, or
            describing what its call returned instead of the expected tokens.

    Example:
    keras_jepa.models.check_encoder(my_encoder)   # before IJEPA(my_encoder, predictor)
    """
    if not isinstance(encoder, keras.layers.Layer):
        raise TypeError(
            f"`{name}` must be a keras.layers.Layer (e.g. a ViTEncoder, or a Layer "
            f"subclass keeping the contract of keras_jepa.models.encoder_contract), got "
            f"{type(encoder).__name__}."
        )
    problems = [p for p in (_attribute_problem(encoder, a) for a in attributes) if p]
    if not _takes_token_indices(encoder):
        problems.append("`call` must accept a `token_indices` argument "
                        "(call(images, token_indices=None))")
    if not _defines_get_config(encoder):
        problems.append("`get_config()` must be defined and return every constructor "
                        "argument (the target encoder and saving rebuild it from there)")
    if problems:
        raise ValueError(
            f"`{name}` ({type(encoder).__name__}) does not keep the encoder contract "
            "(keras_jepa.models.encoder_contract): " + "; ".join(problems) + "."
        )
    _check_tokens(encoder, name)
    if not encoder.weights:
        raise ValueError(f"`{name}` ({type(encoder).__name__}) has no weights after building.")
    return encoder


def _check_tokens(encoder, name):
    """Builds `encoder` if needed and checks its token shapes, symbolically."""
    height, width, channels = encoder.image_shape
    num_kept = max(1, encoder.num_patches // 2)
    images = keras.KerasTensor((2, height, width, channels), dtype="float32")
    indices = keras.KerasTensor((2, num_kept), dtype="int32")
    for kept, expected, kwargs in (
        (None, encoder.num_patches, {}),
        ("token_indices", num_kept, {"token_indices": indices}),
    ):
        described = "encoder(images)" if kept is None else \
            f"encoder(images, token_indices=<int32 [2, {num_kept}]>)"
        try:
            tokens = encoder(images, **kwargs)
        except Exception as error:  # noqa: BLE001 - re-raised with the contract named
            raise ValueError(
                f"`{name}` ({type(encoder).__name__}) failed when called as {described} "
                f"with images [2, {height}, {width}, {channels}]: {error}"
            ) from error
        shape = tuple(getattr(tokens, "shape", ()))
        if shape != (2, expected, encoder.hidden_dim):
            raise ValueError(
                f"`{name}` ({type(encoder).__name__}) called as {described} must return "
                f"tokens of shape (2, {expected}, hidden_dim={encoder.hidden_dim}), got "
                f"{shape or type(tokens).__name__}."
            )


def copy_architecture(encoder, name="encoder"):
    """A new, built encoder from `type(encoder).from_config(encoder.get_config())`.

    Raises a ValueError naming `get_config` when the copy does not have the same
    weights (count and shapes) as `encoder`.
    """
    copy = type(encoder).from_config(encoder.get_config())
    if not copy.built or not copy.weights:
        _check_tokens(copy, name)
    mine = [tuple(w.shape) for w in encoder.weights]
    theirs = [tuple(w.shape) for w in copy.weights]
    if mine != theirs:
        raise ValueError(
            f"`{type(encoder).__name__}.from_config({name}.get_config())` builds a "
            f"different network ({len(theirs)} weights, shapes {theirs[:3]}…) from "
            f"`{name}` ({len(mine)} weights, shapes {mine[:3]}…): `get_config()` must "
            "return every constructor argument."
        )
    return copy
