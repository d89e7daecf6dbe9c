"""tf.data batches of precomputed features and labels, for probes trained with `fit`.

The probes in `keras_jepa.evaluation` train small Keras classifiers on frozen
features. ``make_feature_dataset`` feeds them: batches gathered from a feature table
held by TensorFlow on the host, in an order that is a stateless function of the seed
and the pass number (``tf.random.experimental.index_shuffle``), so the same seed gives
the same batches in every process, whatever TensorFlow's global seed.
"""


import numpy as np
import tensorflow as tf

from keras_jepa.checks import check_non_negative_int
from keras_jepa.checks import check_positive_int
from keras_jepa.data.accelerators import hide_accelerators_from_tensorflow


def make_feature_dataset(features, labels=None, batch_size=256, shuffle=True, seed=None,
                         epochs=1):
    """Batches of `(features, labels)` (or of features alone) for `fit` or `predict`.

    Each pass visits every example once, in batches of `batch_size` (the last one
    smaller when `batch_size` does not divide the count). With `shuffle`, each pass
    has its own order, a pure function of `(seed, pass number)`: two datasets built
    alike give the same batches, in any process, and TensorFlow's global seed plays
    no part. `epochs > 1` chains that many passes into one dataset; feed it to
    `fit(dataset, epochs=epochs, steps_per_epoch=batches_per_pass)` (Keras then keeps
    one iterator across epochs) to get a fresh order every epoch.

    The features are copied once into a float32 host tensor; each batch is one
    gather, so the pipeline costs one index shuffle and one gather per batch.

    Args:
        features: `[N, D]` array (cast to float32), N ≥ 1.
        labels: `[N]` integer array, or None to yield features only.
        batch_size: positive int, examples per batch.
        shuffle: bool, shuffle every pass (False: the given order).
        seed: int ≥ 0 for the shuffle; None draws one from numpy's global generator.
        epochs: positive int, the number of passes in the dataset.

    Returns:
        A `tf.data.Dataset` of `(features [B, D] float32, labels [B] int32)` tuples,
        or of feature batches when `labels` is None; its cardinality is
        `epochs * ceil(N / batch_size)`.

    Example:
    dataset = keras_jepa.data.make_feature_dataset(features, labels, 256, seed=0)
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    epochs = check_positive_int(epochs, "epochs")
    if not isinstance(shuffle, (bool, np.bool_)):
        raise ValueError(f"`shuffle` must be True or False, got {shuffle!r}.")
    features = np.asarray(features, dtype="float32")
    if features.ndim != 2 or len(features) == 0:
        raise ValueError(
            f"`features` must be a non-empty [N, D] array, got shape {features.shape}.")
    count = len(features)
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (count,):
            raise ValueError(f"`labels` must have shape ({count},) to match `features`, "
                             f"got {labels.shape}.")
        if not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"`labels` must be integers, got dtype {labels.dtype}.")
    if seed is None:
        seed = int(np.random.randint(0, 2**31 - 1))
    check_non_negative_int(seed, "seed", optional=True)

    hide_accelerators_from_tensorflow()
    feature_table = tf.constant(features)
    label_table = None if labels is None else tf.constant(labels.astype("int32"))
    seed = tf.constant(int(seed), tf.int64)

    def gather(positions):
        batch = tf.gather(feature_table, positions)
        if label_table is None:
            return batch
        return batch, tf.gather(label_table, positions)

    def one_pass(epoch):
        positions = tf.data.Dataset.range(count).batch(batch_size)
        if shuffle:
            def permute(index):
                return tf.random.experimental.index_shuffle(
                    index, tf.stack([seed, epoch]), count - 1)

            positions = positions.map(permute)
        return positions.map(gather)

    batches_per_pass = -(-count // batch_size)
    if epochs == 1:
        dataset = one_pass(tf.constant(0, tf.int64))
    else:
        dataset = tf.data.Dataset.range(epochs).flat_map(one_pass)
        dataset = dataset.apply(
            tf.data.experimental.assert_cardinality(epochs * batches_per_pass))
    return dataset.prefetch(tf.data.AUTOTUNE)
