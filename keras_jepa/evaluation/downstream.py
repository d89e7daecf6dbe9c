"""The I-JEPA paper's downstream evaluations: `run_downstream(model, task)`.

One call reads a task's train and test data through tf.data
(`keras_jepa.data.downstream_datasets`: TFDS or an image folder, centre crop or whole
frame, ImageNet normalisation as in pretraining), extracts frozen features in
batches (`extract_labeled_features`) and trains a probe on them (`linear_probe`, or
`knn_accuracy`). The tasks are listed in
`keras_jepa.data.downstream_datasets.DOWNSTREAM_TASKS`, with what each reads.
TensorFlow (the pipelines) is imported when `run_downstream` first runs, not with
this module.
"""

import numbers

import numpy as np

from keras_jepa.checks import check_labels
from keras_jepa.checks import check_positive_int
from keras_jepa.checks import check_seed
from keras_jepa.evaluation.arrays import to_numpy
from keras_jepa.evaluation.features import extract_labeled_features
from keras_jepa.evaluation.features import select_encoder
from keras_jepa.evaluation.knn import knn_accuracy
from keras_jepa.evaluation.linear_probe import linear_probe

CLASSIFIERS = ("linear", "knn")


def label_fraction_indices(labels, fraction, seed=0):
    """A seeded, per-class stratified subset: `fraction` of each class's examples.

    Class `c` with `n_c` examples keeps `max(1, round(fraction * n_c))` of them,
    drawn without replacement, so every class is present and the class proportions
    are kept (e.g. 1% of ImageNet's training labels: 12 or 13 images per class).

    Args:
        labels: integer array `[N]`.
        fraction: float in (0, 1].
        seed: int ≥ 0; the same seed gives the same subset.

    Returns:
        Sorted int64 indices into `labels`.

    Example:

    ```python
    keep = label_fraction_indices(train_labels, 0.01, seed=0)
    ```
    """
    labels = check_labels(to_numpy(labels), "labels")
    if len(labels) == 0:
        raise ValueError("`labels` must hold at least one label, got an empty array.")
    if (
        isinstance(fraction, bool) or not isinstance(fraction, numbers.Real)
        or not 0.0 < fraction <= 1.0
    ):
        raise ValueError(f"`fraction` must be a float in (0, 1], got {fraction!r}.")
    seed = check_seed(seed)
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = max(1, int(round(fraction * len(members))))
        chosen.append(rng.choice(members, size=count, replace=False))
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def run_downstream(
    model,
    task,
    data_dir=None,
    image_size=None,
    encoder="target",
    pool="mean",
    max_train_examples=None,
    max_test_examples=None,
    label_fraction=None,
    classifier="linear",
    image_batch_size=256,
    mean="imagenet",
    std="imagenet",
    crop_fraction=None,
    splits=None,
    tfds_name=None,
    image_folder=None,
    seed=0,
    **probe_kwargs,
):
    """Runs one of the I-JEPA paper's downstream evaluations on a frozen encoder.

    Both splits stream through `make_eval_dataset` (the task's centre crop, or the
    whole frame for Clevr; images smaller than `image_size` are upsampled;
    normalised with `mean` / `std`, ImageNet's statistics by default as in
    pretraining), features come from `extract_labeled_features` in batches, and the
    probe is trained on the train features and scored on the test features.

    The data is never downloaded: prepare the TFDS dataset in `data_dir` first
    (`keras_jepa.data.downstream_datasets` lists what each task reads).

    Args:
        model: an `IJEPA`, an `MAE` or a `ViTEncoder` (3-channel images).
        task: a key of `keras_jepa.data.DOWNSTREAM_TASKS` ("imagenet",
            "imagenet_1pct", "cifar100", "places205", "places365", "inat2018",
            "clevr_count", "clevr_distance") or a `keras_jepa.data.DownstreamTask`.
        data_dir: str or None, where the TFDS data is prepared.
        image_size: int or None (the encoder's own size; the paper evaluates at
            `task.image_size`, 224).
        encoder, pool: as in `extract_features`; `pool` must be "mean" (the
            probes take `[N, D]` features).
        max_train_examples, max_test_examples: int or None, read only the first
            this many examples of the split (in the dataset's stored order).
        label_fraction: float in (0, 1] or None; keep a seeded, per-class
            stratified fraction of the training examples
            (`label_fraction_indices`; applied after `max_train_examples`). It
            reads every training label once, without decoding images.
        classifier: "linear" (`linear_probe`) or "knn" (`knn_accuracy`).
        image_batch_size: images per pipeline batch and per forward pass (the
            probe's own `batch_size` goes in `probe_kwargs`).
        mean, std: normalisation, as in `make_eval_dataset`.
        crop_fraction: float in (0, 1] or None (the task's: 0.875 for ImageNet,
            Places and iNaturalist, 1.0 for CIFAR-100 and Clevr).
        splits: `(train_split, test_split)` or None: the task's TFDS splits, or
            ("train", "test") subfolders with `image_folder`.
        tfds_name: str or None, read this TFDS dataset instead of the task's
            (needed for "places205").
        image_folder: path or None, read `image_folder/<split>/<class>/` for the
            two `splits` instead of TFDS (not for Clevr).
        seed: int ≥ 0, the label-fraction subset and the probe's seed.
        **probe_kwargs: passed on to `linear_probe` (e.g. `epochs`,
            `learning_rate`) or `knn_accuracy` (e.g. `k`, `temperature`).

    Returns:
        A dict: `"task"`, `"accuracy"` (test accuracy in [0, 1]),
        `"train_accuracy"` (linear only, else None), `"num_train_examples"`,
        `"num_test_examples"`, `"num_classes"`, `"dataset"`, `"splits"`,
        `"image_size"`, `"encoder"`, `"classifier"`, `"label_fraction"`.

    Example:

    ```python
    result = keras_jepa.evaluation.run_downstream(
        model, "cifar100", data_dir="/data/tfds", epochs=100)
    print(result["accuracy"])
    ```
    """
    from keras_jepa.data.downstream_datasets import downstream_source
    from keras_jepa.data.downstream_datasets import get_downstream_task
    from keras_jepa.data.downstream_datasets import read_labels
    from keras_jepa.data.downstream_datasets import select_examples
    from keras_jepa.data.pipeline import make_eval_dataset

    task = get_downstream_task(task)
    network = select_encoder(model, encoder)
    if pool != "mean":
        raise ValueError(
            f"`pool` must be 'mean' for a probe (features [N, D]), got {pool!r}."
        )
    if classifier not in CLASSIFIERS:
        raise ValueError(f"`classifier` must be one of {CLASSIFIERS}, got {classifier!r}.")
    if network.num_channels != 3:
        raise ValueError(
            f"The downstream images are RGB; `model`'s encoder takes "
            f"{network.num_channels} channels, expected 3."
        )
    max_train_examples = _check_optional_count(max_train_examples, "max_train_examples")
    max_test_examples = _check_optional_count(max_test_examples, "max_test_examples")
    if label_fraction is not None and (
        isinstance(label_fraction, bool) or not isinstance(label_fraction, numbers.Real)
        or not 0.0 < label_fraction <= 1.0
    ):
        raise ValueError(
            f"`label_fraction` must be a float in (0, 1] or None, got {label_fraction!r}."
        )
    seed = check_seed(seed)
    if image_size is None:
        image_size = network.image_size
    if crop_fraction is None:
        crop_fraction = task.crop_fraction
    if splits is None:
        if image_folder is not None:
            splits = ("train", "test")
        else:
            splits = (task.train_split, task.test_split)
    elif (
        not isinstance(splits, (tuple, list)) or len(splits) != 2
        or not all(isinstance(s, str) for s in splits)
    ):
        raise ValueError(
            f"`splits` must be a pair of split names (train, test) or None, got {splits!r}."
        )

    sources = []
    for split, limit in zip(splits, (max_train_examples, max_test_examples)):
        source = downstream_source(
            task, split, data_dir=data_dir, image_size=image_size, tfds_name=tfds_name,
            image_folder=image_folder,
        )
        if limit is not None:
            if source.num_examples is not None and source.num_examples < limit:
                limit = source.num_examples
            source = select_examples(source, np.arange(limit))
        sources.append(source)
    if label_fraction is not None:
        keep = label_fraction_indices(read_labels(sources[0]), label_fraction, seed)
        sources[0] = select_examples(sources[0], keep)

    train_names, test_names = sources[0].class_names, sources[1].class_names
    if train_names is not None and test_names is not None and train_names != test_names:
        raise ValueError(
            f"The {splits[0]!r} and {splits[1]!r} data must have the same classes (labels "
            f"index the sorted class names); {splits[0]!r} has {len(train_names)} "
            f"and {splits[1]!r} has {len(test_names)}, differing in "
            f"{sorted(set(train_names) ^ set(test_names))[:5]}."
        )
    num_classes = task.num_classes
    if num_classes is None and sources[0].class_names is not None:
        num_classes = len(sources[0].class_names)

    features = []
    for source in sources:
        dataset = make_eval_dataset(
            source, image_size, image_batch_size, crop_fraction=crop_fraction, mean=mean,
            std=std, min_image_size=1,
        )
        features.append(extract_labeled_features(
            model, dataset, encoder=encoder, pool=pool, batch_size=image_batch_size
        ))
    (train_features, train_labels), (test_features, test_labels) = features

    train_accuracy = None
    if classifier == "linear":
        probe = linear_probe(
            train_features, train_labels, test_features, test_labels,
            num_classes=num_classes, seed=seed, **probe_kwargs,
        )
        accuracy, train_accuracy = probe.accuracy, probe.train_accuracy
    else:
        accuracy = knn_accuracy(
            train_features, train_labels, test_features, test_labels,
            num_classes=num_classes, **probe_kwargs,
        )
    if image_folder is not None:
        dataset_name = str(image_folder)
    else:
        dataset_name = tfds_name if tfds_name is not None else task.tfds_name
    return {
        "task": task.name,
        "accuracy": float(accuracy),
        "train_accuracy": None if train_accuracy is None else float(train_accuracy),
        "num_train_examples": int(len(train_labels)),
        "num_test_examples": int(len(test_labels)),
        "num_classes": num_classes,
        "dataset": dataset_name,
        "splits": tuple(splits),
        "image_size": image_size,
        "encoder": encoder,
        "classifier": classifier,
        "label_fraction": label_fraction,
    }


def _check_optional_count(value, name):
    return check_positive_int(value, name, optional=True)
