"""The I-JEPA paper's downstream datasets as pipeline sources.

A registry (``DOWNSTREAM_TASKS``) of the evaluations in the I-JEPA paper: its TFDS
name, splits, label, number of classes and evaluation transform, and
``downstream_source`` which turns a task and a split into an ``ImageSource`` for
``make_eval_dataset``. Every TFDS dataset is read through ``from_tfds``: nothing is
downloaded, the data must already be prepared in ``data_dir``.

What each task reads:

- ``imagenet``: ``imagenet2012``, train / validation, 1000 classes.
- ``imagenet_1pct``: ``imagenet2012_subset/1pct`` (the fixed 1% subset of the
  training labels published with SimCLR, ~12.8k images, about 13 per class), tested
  on the full ImageNet validation split. A seeded, per-class stratified 1% of any
  training split is the alternative: ``run_downstream(..., label_fraction=0.01)``.
- ``cifar100``: ``cifar100``, train / test, 100 classes.
- ``places205``: Places205 is not in TFDS. The task needs the user's copy: a TFDS
  dataset they prepared (``tfds_name=``, splits train / validation, feature
  ``label``) or an image folder (``image_folder=``, with ``train/<class>/`` and
  ``test/<class>/``). ``places365`` (``places365_small``, train / validation) is
  offered as a stand-in; its numbers are not comparable with the paper's Places205.
- ``inat2018``: ``i_naturalist2018``, train / validation, 8142 species.
- ``clevr_count`` and ``clevr_distance``: ``clevr``, train / validation (the test
  split has no scene annotations), labels derived from the scene's ``objects`` as
  VTAB defines them (``clevr_count_label``, ``clevr_distance_label``). The whole
  frame is resized, never cropped, so that no object is cut away.
"""

import dataclasses
import os

import numpy as np
import tensorflow as tf

from keras_jepa.data.image_folder import from_image_folder
from keras_jepa.data.sources import ImageSource
from keras_jepa.data.tfds_source import from_tfds

# VTAB's Clevr/Count: scenes hold 3 to 10 objects; the label is the count minus 3.
CLEVR_MIN_OBJECTS = 3
CLEVR_MAX_OBJECTS = 10
# VTAB's Clevr/Dist: the depth of the closest object (3rd `pixel_coords` value),
# binned at these edges: <= 8.0 is class 0, (8.0, 8.5] class 1, ..., > 10.0 class 5.
CLEVR_DISTANCE_EDGES = (8.0, 8.5, 9.0, 9.5, 10.0)


def clevr_count_label(example):
    """Clevr/Count's label: the number of objects in the scene minus 3 (8 classes).

    Args:
        example: a TFDS `clevr` example (dict) with `"objects"`, whose `"size"`
            holds one value per object.

    Returns:
        An int32 scalar tensor in [0, 8). A scene with fewer than 3 or more than 10
        objects (none in CLEVR's train and validation splits) stops the pipeline
        with an `InvalidArgumentError`.

    Example:

    ```python
    label = keras_jepa.data.downstream_datasets.clevr_count_label(example)
    ```
    """
    count = tf.size(example["objects"]["size"], out_type=tf.int32)
    check = tf.debugging.Assert(
        (count >= CLEVR_MIN_OBJECTS) & (count <= CLEVR_MAX_OBJECTS),
        [
            f"Clevr/Count needs {CLEVR_MIN_OBJECTS} to {CLEVR_MAX_OBJECTS} objects "
            "per scene (is this the test split, which has no annotations?); got",
            count,
        ],
    )
    with tf.control_dependencies([check]):
        return count - CLEVR_MIN_OBJECTS


def clevr_distance_label(example):
    """Clevr/Dist's label: the binned depth of the object closest to the camera.

    The depth of an object is the third value of its `pixel_coords`; the label is
    the number of `CLEVR_DISTANCE_EDGES` (8.0, 8.5, 9.0, 9.5, 10.0) strictly below
    the smallest depth (6 classes), as in VTAB.

    Args:
        example: a TFDS `clevr` example (dict) with `"objects"` / `"pixel_coords"`
            of shape `[num_objects, 3]`.

    Returns:
        An int32 scalar tensor in [0, 6). A scene without objects stops the
        pipeline with an `InvalidArgumentError`.

    Example:

    ```python
    label = keras_jepa.data.downstream_datasets.clevr_distance_label(example)
    ```
    """
    depths = tf.reshape(example["objects"]["pixel_coords"], (-1, 3))[:, 2]
    check = tf.debugging.Assert(
        tf.size(depths) > 0,
        ["Clevr/Dist needs at least one object per scene (is this the test split, "
         "which has no annotations?)."],
    )
    with tf.control_dependencies([check]):
        closest = tf.reduce_min(depths)
    edges = tf.constant(CLEVR_DISTANCE_EDGES, tf.float32)
    return tf.reduce_sum(tf.cast(edges < closest, tf.int32))


@dataclasses.dataclass(frozen=True)
class DownstreamTask:
    """One downstream evaluation: where its data lives and how it is labelled.

    Args:
        name: str, the registry key.
        description: str, what is evaluated, as the I-JEPA paper names it.
        tfds_name: str, the TFDS dataset (with config), or None when TFDS has none
            and the user supplies the data (`places205`).
        train_split, test_split: str, TFDS split expressions.
        num_classes: int, or None when known only from the user's data.
        label_key: str, the TFDS label feature, or None when `label_fn` derives it.
        label_fn: None or a function from a TFDS example to an int label.
        image_size: int, the resolution the paper evaluates at (224); the encoder's
            own resolution is what `run_downstream` uses by default.
        crop_fraction: float, the centre crop of `make_eval_dataset` (0.875: resize
            256, crop 224).
        full_frame: bool, resize the whole image to a square instead of cropping
            (Clevr, where a crop could cut objects away).

    Example:

    ```python
    task = keras_jepa.data.get_downstream_task("cifar100")
    task.tfds_name, task.num_classes
    ```
    """

    name: str
    description: str
    tfds_name: str | None
    train_split: str
    test_split: str
    num_classes: int | None
    label_key: str | None = "label"
    label_fn: object = None
    image_size: int = 224
    crop_fraction: float = 0.875
    full_frame: bool = False


DOWNSTREAM_TASKS = {
    task.name: task
    for task in (
        DownstreamTask(
            "imagenet", "ImageNet-1k linear probe", "imagenet2012", "train",
            "validation", 1000,
        ),
        DownstreamTask(
            "imagenet_1pct",
            "ImageNet-1k with 1% of the labels (TFDS's fixed SimCLR subset)",
            "imagenet2012_subset/1pct", "train", "validation", 1000,
        ),
        DownstreamTask(
            "cifar100", "CIFAR-100 transfer linear probe", "cifar100", "train", "test",
            100, crop_fraction=1.0,
        ),
        DownstreamTask(
            "places205",
            "Places205 transfer linear probe (not in TFDS: pass tfds_name= or "
            "image_folder=)",
            None, "train", "validation", None,
        ),
        DownstreamTask(
            "places365",
            "Places365 (places365_small) linear probe, a stand-in for Places205",
            "places365_small", "train", "validation", 365,
        ),
        DownstreamTask(
            "inat2018", "iNaturalist 2018 transfer linear probe", "i_naturalist2018",
            "train", "validation", 8142,
        ),
        DownstreamTask(
            "clevr_count", "Clevr/Count: the number of objects (3-10), 8 classes",
            "clevr", "train", "validation", CLEVR_MAX_OBJECTS - CLEVR_MIN_OBJECTS + 1,
            label_key=None, label_fn=clevr_count_label, crop_fraction=1.0,
            full_frame=True,
        ),
        DownstreamTask(
            "clevr_distance",
            "Clevr/Dist: the binned depth of the closest object, 6 classes",
            "clevr", "train", "validation", len(CLEVR_DISTANCE_EDGES) + 1,
            label_key=None, label_fn=clevr_distance_label, crop_fraction=1.0,
            full_frame=True,
        ),
    )
}


def get_downstream_task(task):
    """The registered `DownstreamTask` called `task`.

    Args:
        task: str, a key of `DOWNSTREAM_TASKS`, or a `DownstreamTask` (returned
            as is).

    Returns:
        A `DownstreamTask`.

    Example:

    ```python
    get_downstream_task("clevr_count").num_classes  # 8
    ```
    """
    if isinstance(task, DownstreamTask):
        return task
    if not isinstance(task, str) or task not in DOWNSTREAM_TASKS:
        raise ValueError(
            f"`task` must be one of {sorted(DOWNSTREAM_TASKS)} (or a DownstreamTask), "
            f"got {task!r}."
        )
    return DOWNSTREAM_TASKS[task]


def downstream_source(task, split, data_dir=None, image_size=None, tfds_name=None,
                      image_folder=None):
    """A labelled `ImageSource` over one split of a downstream task's data.

    Args:
        task: a task name (see `DOWNSTREAM_TASKS`) or a `DownstreamTask`.
        split: str, a TFDS split expression (e.g. `task.train_split`), or, with
            `image_folder`, the name of a subfolder ("train" or "test").
        data_dir: str or None, where the TFDS data is prepared.
        image_size: int or `(height, width)`; needed for `full_frame` tasks
            (Clevr), whose images are resized whole to it here, then given to the
            pipeline as float32 in [0, 1].
        tfds_name: str or None, read this TFDS dataset instead of the task's
            (required for `places205`); its labels are the feature `"label"`
            unless the task derives them.
        image_folder: path or None, read `image_folder/<split>/<class>/*` instead
            of TFDS (labels are the sorted class-folder names).

    Returns:
        An `ImageSource` with labels, 3 channels.

    Example:

    ```python
    source = downstream_source("cifar100", "test", data_dir="/data/tfds")
    dataset = keras_jepa.data.make_eval_dataset(source, 224, 256, min_image_size=1)
    ```
    """
    task = get_downstream_task(task)
    if tfds_name is not None and image_folder is not None:
        raise ValueError(
            "Pass `tfds_name` or `image_folder`, not both; got "
            f"tfds_name={tfds_name!r} and image_folder={image_folder!r}."
        )
    if image_folder is not None:
        if task.label_fn is not None:
            raise ValueError(
                f"`image_folder` cannot be used for {task.name!r}, whose labels are "
                "derived from TFDS scene annotations; pass `tfds_name` or neither."
            )
        path = os.path.join(os.fspath(image_folder), split)
        if not os.path.isdir(path):
            found = sorted(os.listdir(image_folder)) if os.path.isdir(image_folder) else []
            raise ValueError(
                f"`image_folder` {os.fspath(image_folder)!r} must hold a {split!r} "
                f"subfolder with one folder per class; found {found}."
            )
        source = from_image_folder(path, num_channels=3)
        if not source.has_labels:
            raise ValueError(
                f"The images in {path!r} have no class subfolders: `image_folder` must "
                f"hold {split}/<class>/<image> files."
            )
    else:
        name = tfds_name if tfds_name is not None else task.tfds_name
        if name is None:
            raise ValueError(
                f"{task.name!r} is not in TensorFlow Datasets: pass `tfds_name` (a "
                "TFDS dataset you prepared, with a 'label' feature) or `image_folder` "
                "(with train/<class>/ and test/<class>/ subfolders)."
            )
        if task.label_fn is not None:
            source = from_tfds(name, split=split, data_dir=data_dir, num_channels=3,
                               label_fn=task.label_fn)
        else:
            source = from_tfds(name, split=split, data_dir=data_dir, num_channels=3,
                               label_key=task.label_key or "label")
    if task.full_frame:
        if image_size is None:
            raise ValueError(
                f"`image_size` is needed for {task.name!r}, whose images are resized "
                "whole (never cropped); got None."
            )
        source = _resized_whole(source, image_size)
    return source


def read_labels(source):
    """The labels of every example of a labelled source, in order, as numpy.

    Sources whose records carry the label (TFDS) are read without decoding an
    image; others decode each image once.

    Args:
        source: an `ImageSource` with `has_labels`.

    Returns:
        An int32 array `[num_examples]`.

    Example:

    ```python
    labels = read_labels(downstream_source("cifar100", "train"))
    ```
    """
    if not isinstance(source, ImageSource) or not source.has_labels:
        raise ValueError(f"`source` must be an ImageSource with labels, got {source!r}.")
    spec = source.records.element_spec
    if isinstance(spec, dict) and "label" in spec:
        labels = source.records.map(lambda record: record["label"])
    else:
        labels = source.records.map(lambda record: source.decode(record)["label"])
    values = list(labels.batch(4096).as_numpy_iterator())
    if not values:
        return np.zeros((0,), np.int32)
    return np.concatenate(values).astype(np.int32)


def select_examples(source, indices):
    """A source over some of `source`'s examples, in the source's order.

    Reading stops after the last selected example, so selecting the first `n`
    examples of a large split reads only those.

    Args:
        source: an `ImageSource`.
        indices: distinct non-negative ints, positions in the source's order.

    Returns:
        An `ImageSource` with `num_examples = len(indices)`.

    Example:

    ```python
    first_1000 = select_examples(source, np.arange(1000))
    ```
    """
    if not isinstance(source, ImageSource):
        raise ValueError(f"`source` must be an ImageSource, got {type(source).__name__}.")
    indices = np.asarray(indices)
    if (
        indices.ndim != 1 or indices.size == 0
        or not np.issubdtype(indices.dtype, np.integer)
        or indices.min() < 0 or len(np.unique(indices)) != indices.size
    ):
        raise ValueError(
            "`indices` must be a non-empty 1-D array of distinct non-negative ints, "
            f"got {indices!r}."
        )
    if source.num_examples is not None and indices.max() >= source.num_examples:
        raise ValueError(
            f"`indices` must be below the {source.num_examples} examples of "
            f"{source.name!r}, got a largest index of {int(indices.max())}."
        )
    stop = int(indices.max()) + 1
    records = source.records.take(stop)
    if indices.size < stop:
        keep = np.zeros((stop,), bool)
        keep[indices] = True
        keep = tf.constant(keep)
        records = (
            records.enumerate()
            .filter(lambda position, record: tf.gather(keep, position))
            .map(lambda position, record: record)
        )
    return _derived_source(
        source, records=records, num_examples=int(indices.size),
        shuffle_buffer=max(1, min(source.shuffle_buffer, int(indices.size))),
    )


def _derived_source(source, **changes):
    """A copy of `source` with some of its constructor arguments changed."""
    arguments = dict(
        records=source.records,
        decode=source.decode,
        num_channels=source.num_channels,
        num_examples=source.num_examples,
        has_labels=source.has_labels,
        class_names=source.class_names,
        image_shape=source.image_shape,
        shuffle_buffer=source.shuffle_buffer,
        name=source.name,
        skipped_files=source.skipped_files,
        ignored_files=source.ignored_files,
    )
    arguments.update(changes)
    return ImageSource(**arguments)


def _resized_whole(source, image_size):
    """The same source with each image resized whole to `image_size`, in [0, 1]."""
    pair = image_size if isinstance(image_size, (list, tuple)) else (image_size, image_size)
    size = tuple(int(s) for s in pair)

    def decode(record):
        example = dict(source.decode(record))
        image = example["image"]
        scale = 255.0 if image.dtype == tf.uint8 else 1.0
        image = tf.image.resize(tf.cast(image, tf.float32), size, antialias=True) / scale
        example["image"] = tf.clip_by_value(image, 0.0, 1.0)
        return example

    return _derived_source(source, decode=decode, image_shape=size)
