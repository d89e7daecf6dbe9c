"""A linear probe on unpooled tokens: the content that mean pooling hides.

On small images with small patches a ViT's tokens are mostly position (the fixed sin-cos
embeddings dwarf the patch content), and I-JEPA can settle on targets that are almost all
position ("position-only collapse", see `keras_jepa.evaluation.monitors`). Mean pooling
then erases what content there is: the position part is the same for every image and
averages into one shared vector, and the content that varies with position (which
digit stroke sits where) averages out with it. A linear probe on all tokens,
`[tokens · D]` per image, keeps where each piece of content is, so it shows content that
the pooled probe cannot see. A random-init encoder already reaches a high token-probe
accuracy (its random tokens keep most of the pixels' information), so read the
trained encoder's value against the untrained one's, not against zero.
"""


import keras
import numpy as np

from keras_jepa.checks import check_positive_int
from keras_jepa.evaluation.features import extract_features
from keras_jepa.evaluation.features import select_encoder
from keras_jepa.evaluation.linear_probe import ProbeResult
from keras_jepa.evaluation.linear_probe import linear_probe

# Principal directions with a singular value below this fraction of the largest are
# dropped: they are round-off (the centred training features have rank ≤ N − 1).
SINGULAR_TOLERANCE = 1e-6


def _check_num_components(num_components):
    return check_positive_int(num_components, "num_components")


def fit_pca(features, num_components):
    """Mean and principal directions of `[N, F]` features (numpy SVD, float64).

    Args:
        features: `[N, F]` array.
        num_components: the most directions to keep; fewer when the centred features
            have a smaller rank (at most `min(N − 1, F)`; directions whose singular
            value is below 1e-6 of the largest are dropped).

    Returns:
        `(mean [F], components [k, F])`, float32; project with
        `(x − mean) @ components.T`.

    Example:
    mean, components = keras_jepa.evaluation.token_probe.fit_pca(train_features, 256)
    """
    num_components = _check_num_components(num_components)
    features = np.asarray(features, "float64")
    if features.ndim != 2 or features.shape[0] < 1 or features.shape[1] < 1:
        raise ValueError(f"`features` must be a non-empty [N, F] array, got shape "
                         f"{features.shape}.")
    mean = features.mean(axis=0)
    _, singular, right = np.linalg.svd(features - mean, full_matrices=False)
    keep = singular > SINGULAR_TOLERANCE * max(float(singular[0]), 1e-300)
    count = max(1, min(num_components, int(keep.sum())))
    return mean.astype("float32"), right[:count].astype("float32")


def _flat_tokens(model, images, encoder, batch_size, name):
    if images is None:
        raise ValueError(f"`{name}` must be an [N, H, W, C] array of images, got None.")
    try:
        tokens = extract_features(model, images, encoder=encoder, pool="none",
                                  batch_size=batch_size)
    except ValueError as error:
        raise ValueError(f"`{name}`: {error}") from error
    return tokens.reshape(len(tokens), -1)


def token_probe(model, train_images, train_labels, test_images, test_labels, encoder="target",
                num_components=256, seed=0, extract_batch_size=256, **probe_kwargs):
    """Linear probe on an encoder's unpooled tokens, reduced by PCA.

    The tokens of every image (`extract_features(..., pool="none")`, `[N, tokens, D]`)
    are flattened to `[N, tokens · D]`, projected on the first `num_components`
    principal directions of the *training* tokens (numpy SVD; the test images never
    shape the projection), and classified by `linear_probe`.

    Why: mean pooling erases the position-dependent content. When the tokens are
    mostly position (small images, small patches; I-JEPA's position-only collapse,
    flagged by `CollapseMonitor` from the `position_share` and `blind_loss` logs), the
    pooled features and their probe carry little, although the tokens may still hold
    the image. This probe shows the content that mean pooling hides. At initialisation
    it is already high (random tokens keep most of the pixels' information; 0.964 on
    the 16-px digits, against 0.760 for the pooled probe), so compare a trained encoder
    with the untrained one, e.g. the same architecture before `fit`.

    Args:
        model: an `IJEPA`, an `MAE` or a bare `ViTEncoder`.
        train_images: `[N, H, W, C]` images (or a dataset of image batches, as
            `extract_features` takes).
        train_labels: `[N]` integer labels.
        test_images: `[M, H, W, C]` images.
        test_labels: `[M]` integer labels.
        encoder: "target" (default) or "context" for an `IJEPA`.
        num_components: the most principal components kept (positive int; fewer
            when the training tokens have a smaller rank).
        seed: the probe's seed (order of its training batches).
        extract_batch_size: images per forward pass of the encoder.
        **probe_kwargs: passed to `linear_probe` (`epochs`, `learning_rate`,
            `batch_size`, `standardize`, ...).

    Returns:
        A `ProbeResult`; its `model` takes the flattened tokens `[B, tokens · D]`
        (the PCA projection is its first, frozen layer).

    Example:
    before = keras_jepa.evaluation.token_probe(untrained, x_train, y_train, x_test, y_test)
    after = keras_jepa.evaluation.token_probe(model, x_train, y_train, x_test, y_test)
    print(before.accuracy, after.accuracy)
    """
    num_components = _check_num_components(num_components)
    select_encoder(model, encoder)  # a bad model or encoder fails here, named as such
    for name in ("encoder", "pool", "train_features", "test_features"):
        if name in probe_kwargs:
            raise ValueError(f"`{name}` is not an option of `token_probe`'s probe: the "
                             "features are the flattened, PCA-reduced tokens.")
    train = _flat_tokens(model, train_images, encoder, extract_batch_size, "train_images")
    test = _flat_tokens(model, test_images, encoder, extract_batch_size, "test_images")
    mean, components = fit_pca(train, num_components)
    train_reduced = (train - mean) @ components.T
    test_reduced = (test - mean) @ components.T
    result = linear_probe(train_reduced, train_labels, test_reduced, test_labels, seed=seed,
                          **probe_kwargs)
    return ProbeResult(accuracy=result.accuracy, train_accuracy=result.train_accuracy,
                       history=result.history,
                       model=_with_projection(result.model, mean, components))


def _with_projection(probe, mean, components):
    """`probe` behind a frozen Dense layer that applies the PCA projection."""
    inputs = keras.Input((components.shape[1],), name="tokens")
    projection = keras.layers.Dense(components.shape[0], trainable=False, dtype="float32",
                                    name="pca")
    reduced = projection(inputs)
    projection.set_weights([components.T, -(mean @ components.T)])
    return keras.Model(inputs, probe(reduced), name="token_probe")
