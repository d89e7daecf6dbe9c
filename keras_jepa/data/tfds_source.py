"""A TensorFlow Datasets dataset as a pipeline source: ``from_tfds``.

Images are read still encoded (``tfds.decode.SkipDecoding``) so the pipeline's
shuffle buffer holds compressed bytes and decoding runs after shuffling, in the
pipeline's parallel map. Nothing is downloaded unless asked: by default a dataset
must already be prepared in ``data_dir``.
"""

import tensorflow as tf

from keras_jepa.data.accelerators import hide_accelerators_from_tensorflow
from keras_jepa.data.sources import ImageSource

# Encoded images of e.g. ImageNet average ~110 KB, so this buffer holds ~1 GB.
TFDS_SHUFFLE_BUFFER = 10_000
# Features that name an example, used in error messages when the dataset has one.
_NAME_FEATURES = ("file_name", "filename", "id", "image/filename")


def from_tfds(name, split="train", data_dir=None, image_key="image",
              label_key="auto", num_channels=None, download=False, label_fn=None):
    """A source over a `tensorflow_datasets` dataset's images and labels.

    Args:
        name: str, the TFDS name, e.g. "cifar10" or "imagenet2012:5.1.0".
        split: str, a TFDS split expression, e.g. "train" or "train[:10%]".
        data_dir: str or None, where prepared datasets live (None: TFDS's default,
            `$TFDS_DATA_DIR` or `~/tensorflow_datasets`).
        image_key: the image feature's name.
        label_key: the label feature's name; "auto" uses "label" when the dataset
            has it and no labels otherwise; None gives no labels.
        num_channels: int or None, channels of the decoded images (None: the image
            feature's); images with another channel count are converted by
            `tf.io.decode_image` (grey-scale repeated over RGB, alpha dropped).
        download: bool, download and prepare the data when it is missing (needs
            network access; False by default so that nothing is fetched
            silently).
        label_fn: None, or a function from one TFDS example (a dict of tensors,
            the image still encoded) to an integer scalar tensor, traced in
            tf.data: labels derived from other features (e.g. the number of
            objects in a scene). Replaces `label_key`, which must then be "auto"
            or None.

    Returns:
        An `ImageSource`.

    Example:

    ```python
    source = keras_jepa.data.from_tfds("cifar10", split="train", data_dir="/data/tfds")
    dataset = keras_jepa.data.make_pretraining_dataset(source, 32, 64, min_image_size=32)
    ```
    """
    hide_accelerators_from_tensorflow()
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError as error:
        first_line = str(error).splitlines()[0]
        raise ValueError(f"`name` {name!r} is not a TFDS dataset: {first_line}") from None
    features = builder.info.features
    if image_key not in features or not isinstance(features[image_key], tfds.features.Image):
        raise ValueError(
            f"`image_key` {image_key!r} is not an image feature of {name!r}; its "
            f"features are {sorted(features.keys())}."
        )
    if label_fn is not None and not callable(label_fn):
        raise ValueError(f"`label_fn` must be a function or None, got {label_fn!r}.")
    if label_fn is not None and label_key not in ("auto", None):
        raise ValueError(
            f"Pass `label_key` or `label_fn`, not both; got label_key={label_key!r}."
        )
    if label_fn is not None:
        label_key = None
    elif label_key == "auto":
        label_key = "label" if "label" in features else None
    elif label_key is not None and label_key not in features:
        raise ValueError(
            f"`label_key` {label_key!r} is not a feature of {name!r}; its features "
            f"are {sorted(features.keys())} (pass label_key=None for no labels)."
        )
    feature_channels = features[image_key].shape[-1]
    if num_channels is None:
        if feature_channels is None:
            raise ValueError(
                f"The images of {name!r} have no fixed channel count: pass "
                "`num_channels` (1 or 3)."
            )
        num_channels = feature_channels
    if num_channels not in (1, 3) or isinstance(num_channels, bool):
        raise ValueError(f"`num_channels` must be 1 or 3, got {num_channels!r}.")

    if download:
        builder.download_and_prepare()
    where = data_dir if data_dir is not None else "TFDS's default data_dir"
    try:
        dataset = builder.as_dataset(
            split=split, shuffle_files=False,
            decoders={image_key: tfds.decode.SkipDecoding()},
        )
    except AssertionError as error:
        # TFDS asserts "could not find data in <dir>" when nothing is prepared.
        raise ValueError(
            f"No prepared data for TFDS dataset {name!r} in {where} "
            f"(`data_dir`={data_dir!r}). Prepare it there first (e.g. with "
            "download=True on a machine with network access, or by copying the "
            f"prepared '{builder.info.name}/<version>' folder), then pass that "
            f"folder's parent as `data_dir`. TFDS said: {error}"
        ) from None

    name_feature = next((k for k in _NAME_FEATURES if k in features), None)
    source_name = f"{name}/{split}"

    def to_record(example):
        record = {"image": example[image_key]}
        if label_key is not None:
            record["label"] = tf.cast(example[label_key], tf.int32)
        elif label_fn is not None:
            record["label"] = tf.cast(label_fn(example), tf.int32)
        if name_feature is not None:
            value = example[name_feature]
            if value.dtype != tf.string:
                value = tf.strings.as_string(value)
            record["name"] = tf.strings.join([source_name, " ", value])
        return record

    def decode(record):
        image = tf.io.decode_image(
            record["image"], channels=num_channels, dtype=tf.uint8,
            expand_animations=False,
        )
        image.set_shape((None, None, num_channels))
        example = {"image": image, "name": record.get("name", tf.constant(source_name))}
        if "label" in record:
            example["label"] = record["label"]
        return example

    records = dataset.map(to_record, num_parallel_calls=tf.data.AUTOTUNE)
    cardinality = int(records.cardinality())
    class_names = None
    if label_key is not None and isinstance(features[label_key], tfds.features.ClassLabel):
        class_names = features[label_key].names
    return ImageSource(
        records=records,
        decode=decode,
        num_channels=num_channels,
        num_examples=cardinality if cardinality >= 0 else None,
        has_labels=label_key is not None or label_fn is not None,
        class_names=class_names,
        shuffle_buffer=TFDS_SHUFFLE_BUFFER,
        name=source_name,
    )
