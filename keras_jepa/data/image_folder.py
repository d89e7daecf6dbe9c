"""A folder of image files as a pipeline source: ``from_image_folder``.

Two layouts are read: class subfolders (``root/<class>/**/<image>``; labels are the
sorted class names' indices) and flat (``root/<image>``; no labels). The files are
listed and checked in Python when the source is built, then read in the pipeline
from a tensor of paths (``from_tensor_slices``), so a bad file is found before
training starts and named, never dropped silently mid-epoch.
"""

import os
import warnings

import tensorflow as tf

from keras_jepa.data.accelerators import hide_accelerators_from_tensorflow
from keras_jepa.data.sources import ImageSource

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp")

# The leading bytes of each format tf.io.decode_image reads.
_SIGNATURES = (
    b"\xff\xd8\xff",         # JPEG
    b"\x89PNG\r\n\x1a\n",    # PNG
    b"GIF87a", b"GIF89a",     # GIF
    b"BM",                    # BMP
)
_VALIDATIONS = ("header", "decode", "none")
_CORRUPT_POLICIES = ("error", "skip")
_NAMES_IN_MESSAGES = 5


def from_image_folder(path, num_channels=3, validate="header", on_corrupt="error",
                      extensions=IMAGE_EXTENSIONS):
    """A source over the image files in a folder, with class labels if it has them.

    Layout: when `path` has subfolders holding images, each such subfolder is a
    class (its images found recursively; labels are indices into the sorted
    class names) and images directly in `path` are an error; otherwise the images
    directly in `path` form an unlabelled set. Hidden files and folders (name
    starting with ".") are not read; files with other extensions are listed in
    `source.ignored_files` and not read.

    Channels: every image is decoded to `num_channels` by `tf.io.decode_image`,
    so folders that mix grey-scale, RGB and RGBA files work: with 3 channels a
    grey-scale image is repeated over RGB and an alpha channel is dropped; with 1,
    colour images become luma (ITU-R 601 weights; GIF and BMP files, which TensorFlow
    decodes to colour only, are converted after decoding).

    Corrupt files: `validate="header"` (default) reads each file's first and last
    bytes when the source is built and finds files that are not JPEG, PNG, GIF, BMP
    or WebP (empty files, HTML pages saved as .jpg, ...) and files cut short (no PNG
    end chunk, JPEG end marker or GIF trailer; BMP or WebP shorter than their
    header's size); `"decode"` decodes every
    file once with TensorFlow (slow on big folders; also finds truncated files);
    `"none"` checks nothing. Found files raise a ValueError naming them
    (`on_corrupt="error"`) or are left out with a warning that counts and names
    them, and listed in `source.skipped_files` (`on_corrupt="skip"`). A file that
    passes the header check but fails to decode stops the pipeline with
    TensorFlow's decode error; `validate="decode"` finds such files up front.

    Args:
        path: str or path-like, the folder.
        num_channels: 1 or 3, channels of the decoded images.
        validate: "header", "decode" or "none", as above.
        on_corrupt: "error" or "skip", as above.
        extensions: file name endings read as images (case-insensitive).

    Returns:
        An `ImageSource` (`class_names` set for class subfolders).

    Example:

    ```python
    source = keras_jepa.data.from_image_folder("photos/train")  # photos/train/<class>/*.jpg
    source.class_names, source.num_examples
    dataset = keras_jepa.data.make_pretraining_dataset(source, 224, 128)
    ```
    """
    hide_accelerators_from_tensorflow()
    if num_channels not in (1, 3) or isinstance(num_channels, bool):
        raise ValueError(f"`num_channels` must be 1 or 3, got {num_channels!r}.")
    if validate not in _VALIDATIONS:
        raise ValueError(f"`validate` must be one of {_VALIDATIONS}, got {validate!r}.")
    if on_corrupt not in _CORRUPT_POLICIES:
        raise ValueError(
            f"`on_corrupt` must be one of {_CORRUPT_POLICIES}, got {on_corrupt!r}."
        )
    if isinstance(extensions, str) or not extensions:
        raise ValueError(
            "`extensions` must be a non-empty sequence of file endings such as "
            f"('.jpg', '.png'), got {extensions!r}."
        )
    extensions = tuple(e.lower() for e in extensions)
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"`path` {path!r} does not exist.")
    if not os.path.isdir(path):
        raise ValueError(f"`path` {path!r} is not a folder.")

    files, labels, class_names, ignored = _list_images(path, extensions)
    bad = _unreadable(files, validate, num_channels)
    if bad:
        shown = ", ".join(repr(f) for f in bad[:_NAMES_IN_MESSAGES])
        more = f" and {len(bad) - _NAMES_IN_MESSAGES} more" if len(bad) > _NAMES_IN_MESSAGES else ""
        summary = (
            f"{len(bad)} of the {len(files)} image files in {path!r} cannot be read "
            f"as images ({validate} check): {shown}{more}"
        )
        if on_corrupt == "error" or len(bad) == len(files):
            raise ValueError(
                f"{summary}. Remove them, or pass on_corrupt='skip' to leave them out."
            )
        warnings.warn(f"Skipping {summary}.", stacklevel=2)
        bad_set = set(bad)
        kept = [i for i, f in enumerate(files) if f not in bad_set]
        files = [files[i] for i in kept]
        labels = [labels[i] for i in kept] if labels is not None else None

    records = {"path": tf.constant(files)}
    if labels is not None:
        records["label"] = tf.constant(labels, tf.int32)

    def decode(record):
        image = decode_image_bytes(tf.io.read_file(record["path"]), num_channels)
        example = {"image": image, "name": record["path"]}
        if "label" in record:
            example["label"] = record["label"]
        return example

    return ImageSource(
        records=tf.data.Dataset.from_tensor_slices(records),
        decode=decode,
        num_channels=num_channels,
        num_examples=len(files),
        has_labels=labels is not None,
        class_names=class_names,
        # File paths are cheap: shuffle the whole folder.
        shuffle_buffer=len(files),
        name=path,
        skipped_files=bad,
        ignored_files=ignored,
    )


def _list_images(root, extensions):
    """Returns `(files, labels or None, class_names or None, ignored files)`."""
    def is_image(name):
        return name.lower().endswith(extensions)

    top_images, ignored, subfolders = [], [], []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            subfolders.append(entry.name)
        elif is_image(entry.name):
            top_images.append(entry.path)
        else:
            ignored.append(entry.path)

    per_class = {}
    for folder in subfolders:
        found = []
        for directory, dirs, names in os.walk(os.path.join(root, folder)):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(names):
                if name.startswith("."):
                    continue
                (found if is_image(name) else ignored).append(os.path.join(directory, name))
        per_class[folder] = found
    classes = [c for c in subfolders if per_class[c]]

    if not classes:
        if not top_images:
            raise ValueError(
                f"`path` {root!r} holds no image files (endings {', '.join(extensions)}) "
                "directly or in class subfolders."
            )
        return top_images, None, None, ignored
    if top_images:
        raise ValueError(
            f"`path` {root!r} mixes images at its top level ({len(top_images)}, e.g. "
            f"{os.path.basename(top_images[0])!r}) with class subfolders "
            f"({', '.join(classes)}): use one layout, class subfolders or flat."
        )
    empty = [c for c in subfolders if not per_class[c]]
    if empty:
        raise ValueError(
            f"The class subfolders {empty} of `path` {root!r} hold no image files "
            f"(endings {', '.join(extensions)}); remove them or add images, so that "
            "every class has examples."
        )
    files = [f for c in classes for f in per_class[c]]
    labels = [i for i, c in enumerate(classes) for _ in per_class[c]]
    return files, labels, classes, ignored


def decode_image_bytes(data, num_channels):
    """`uint8 [H, W, num_channels]` from an encoded JPEG, PNG, GIF, BMP or WebP.

    TensorFlow decodes GIF (and some BMP) files to colour only; with one channel those
    are decoded to RGB and converted to luma (ITU-R 601 weights, as
    `tf.image.rgb_to_grayscale`), so every supported format works with 1 or 3 channels.
    """
    if num_channels == 1:
        header = tf.strings.substr(data, 0, 3)
        colour_only = tf.logical_or(tf.equal(header, "GIF"),
                                    tf.equal(tf.strings.substr(data, 0, 2), "BM"))

        def via_rgb():
            native = tf.io.decode_image(data, dtype=tf.uint8, expand_animations=False)
            channels = tf.shape(native)[-1]
            return tf.cond(channels >= 3,
                           lambda: tf.image.rgb_to_grayscale(native[..., :3]),
                           lambda: native[..., :1])

        image = tf.cond(colour_only, via_rgb, lambda: tf.io.decode_image(
            data, channels=1, dtype=tf.uint8, expand_animations=False))
    else:
        image = tf.io.decode_image(data, channels=num_channels, dtype=tf.uint8,
                                   expand_animations=False)
    image.set_shape((None, None, num_channels))
    return image


def _unreadable(files, validate, num_channels):
    if validate == "none":
        return []
    if validate == "header":
        return [f for f in files if not _has_image_signature(f) or _is_truncated(f)]
    bad = []
    for f in files:
        try:
            decode_image_bytes(tf.io.read_file(f), num_channels)
        except tf.errors.OpError:
            bad.append(f)
    return bad


def _has_image_signature(path):
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(_SIGNATURES):
        return True
    return head[:4] == b"RIFF" and head[8:12] == b"WEBP"


# How far from the end a JPEG's end-of-image marker may sit (some writers pad).
_JPEG_TAIL = 1024


def _is_truncated(path):
    """Whether the file ends before its format says it should (a cheap read of its
    first and last bytes): PNG without its IEND chunk, JPEG without an end-of-image
    marker near the end, GIF without its trailer, BMP or WebP shorter than the size in
    their header."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(16)
        f.seek(max(0, size - _JPEG_TAIL))
        tail = f.read()
    if head.startswith(b"\x89PNG"):
        return b"IEND" not in tail[-12:]
    if head.startswith(b"\xff\xd8\xff"):
        return b"\xff\xd9" not in tail
    if head.startswith(b"GIF"):
        return not tail.rstrip(b"\x00").endswith(b"\x3b")
    if head.startswith(b"BM"):
        return size < int.from_bytes(head[2:6], "little")
    if head[:4] == b"RIFF":
        return size < int.from_bytes(head[4:8], "little") + 8
    return False
