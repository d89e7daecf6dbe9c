"""Tests of the downstream evaluations: task registry, Clevr labels, run_downstream.

TFDS is mocked offline: `tfds.testing.mock_data` generates random examples for
ImageNet, its 1% subset, CIFAR-100, Places365 and iNaturalist 2018; its generator
cannot make Clevr scenes (it draws each `objects` sub-feature with its own length),
so Clevr examples are written by hand through `as_dataset_fn`.
"""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from helpers import tiny_encoder

from keras_jepa.data import from_tfds
from keras_jepa.data import make_eval_dataset
from keras_jepa.data.downstream_datasets import CLEVR_DISTANCE_EDGES
from keras_jepa.data.downstream_datasets import DOWNSTREAM_TASKS
from keras_jepa.data.downstream_datasets import downstream_source
from keras_jepa.data.downstream_datasets import read_labels
from keras_jepa.data.downstream_datasets import select_examples
from keras_jepa.evaluation.downstream import label_fraction_indices
from keras_jepa.evaluation.downstream import run_downstream
from keras_jepa.models import ViTEncoder

IMAGE_SIZE = 16
PROBE = dict(epochs=1, batch_size=8)

# Hand-made Clevr scenes per split: the depth (3rd pixel coordinate) of each object.
CLEVR_DEPTHS = {
    "train": [
        [9.1, 8.0, 11.0],                          # closest 8.0: on an edge, class 0
        [10.5, 10.01, 12.0, 11.0],                 # 10.01 > 10.0: class 5
        [8.25, 9.9, 9.7, 12.0, 8.6],               # 8.25: class 1
        [9.5, 9.6, 9.8, 10.2, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0],  # 9.5: class 3
        [7.0, 9.0, 9.0],                           # 7.0: class 0
        [9.25, 9.75, 10.0, 11.5, 12.5, 13.5],      # 9.25: class 3
    ],
    "validation": [
        [10.0, 11.0, 12.0],                        # 10.0: class 4
        [8.9, 8.75, 9.5, 9.4],                     # 8.75: class 2
        [9.3, 9.9, 10.7, 10.8, 11.0, 12.0, 12.5],  # 9.3: class 3
    ],
}


def hand_distance_label(depths):
    """Clevr/Dist by hand: the bin of the smallest depth among the VTAB edges."""
    closest = min(depths)
    if closest <= 8.0:
        return 0
    if closest <= 8.5:
        return 1
    if closest <= 9.0:
        return 2
    if closest <= 9.5:
        return 3
    if closest <= 10.0:
        return 4
    return 5


def fake_clevr(scenes, image_shape=(12, 18)):
    """An `as_dataset_fn` for `tfds.testing.mock_data` that yields `scenes`."""

    def as_dataset(builder, split, decoders=None, read_config=None, shuffle_files=False):
        rng = np.random.default_rng(len(scenes[split]))
        examples = []
        for index, depths in enumerate(scenes[split]):
            count = len(depths)
            coords = rng.uniform(0, 300, (count, 3)).astype("float32")
            coords[:, 2] = depths
            image = rng.integers(0, 256, (*image_shape, 3), dtype=np.uint8)
            examples.append({
                # The pipeline reads Clevr images still encoded (SkipDecoding).
                "image": tf.io.encode_png(image).numpy(),
                "file_name": f"{split}_{index}.png",
                "objects": {"pixel_coords": coords,
                            "size": rng.integers(0, 2, count)},
            })
        return _dataset_of(examples)

    return as_dataset


def _dataset_of(examples):
    """A dataset of `examples`, whose object counts differ (no common shape)."""
    dataset = None
    for example in examples:
        single = tf.data.Dataset.from_tensors(tf.nest.map_structure(tf.constant, example))
        dataset = single if dataset is None else dataset.concatenate(single)
    return dataset


def mocked_clevr(scenes=CLEVR_DEPTHS, image_shape=(12, 18)):
    return tfds.testing.mock_data(
        as_dataset_fn=fake_clevr(scenes, image_shape),
        policy=tfds.testing.MockPolicy.USE_CODE,
    )


def mocked_tfds(num_examples=8):
    return tfds.testing.mock_data(
        num_examples=num_examples, policy=tfds.testing.MockPolicy.USE_CODE
    )


@pytest.fixture(scope="module")
def micro_vit():
    return ViTEncoder(image_size=IMAGE_SIZE, patch_size=8, hidden_dim=16, depth=1,
                      num_heads=2, num_channels=3)


@pytest.mark.backend_independent
def test_clevr_labels_match_hand_computation():
    with mocked_clevr():
        for split, scenes in CLEVR_DEPTHS.items():
            count = read_labels(downstream_source("clevr_count", split, image_size=8))
            np.testing.assert_array_equal(count, [len(s) - 3 for s in scenes])
            distance = read_labels(downstream_source("clevr_distance", split, image_size=8))
            np.testing.assert_array_equal(distance, [hand_distance_label(s) for s in scenes])
    assert DOWNSTREAM_TASKS["clevr_count"].num_classes == 8
    assert DOWNSTREAM_TASKS["clevr_distance"].num_classes == len(CLEVR_DISTANCE_EDGES) + 1


@pytest.mark.backend_independent
def test_clevr_scene_outside_the_count_range_stops_the_pipeline():
    scenes = {"train": [[9.0, 9.5]], "validation": [[9.0, 9.5, 9.9]]}
    with mocked_clevr(scenes):
        source = downstream_source("clevr_count", "train", image_size=8)
        with pytest.raises(tf.errors.InvalidArgumentError, match="3 to 10 objects"):
            read_labels(source)


@pytest.mark.backend_independent
def test_clevr_images_are_resized_whole_not_cropped():
    # The left third of every image is white: a centre crop to a square would cut
    # half of it away (a quarter of the crop would be white instead of a third).
    def as_dataset(builder, split, decoders=None, read_config=None, shuffle_files=False):
        image = np.zeros((12, 18, 3), np.uint8)
        image[:, :6] = 255
        example = {"image": tf.io.encode_png(image).numpy(), "file_name": "0.png",
                   "objects": {"pixel_coords": np.full((3, 3), 9.0, "float32"),
                               "size": np.zeros(3, "int64")}}
        return _dataset_of([example])

    with tfds.testing.mock_data(as_dataset_fn=as_dataset,
                                policy=tfds.testing.MockPolicy.USE_CODE):
        source = downstream_source("clevr_count", "train", image_size=12)
        batch = next(iter(make_eval_dataset(source, 12, 1, mean=None, std=None)))
    image = batch["images"].numpy()[0]
    np.testing.assert_allclose(image[:, :3], 1.0, atol=1e-3)
    np.testing.assert_allclose(image[:, 5:], 0.0, atol=1e-3)
    assert abs(image.mean() - 1 / 3) < 0.05


def write_image_folder(root, split, counts, rng):
    """`root/split/<class>/<i>.png`: `counts[c]` random 20x24 RGB images per class."""
    for name, count in counts.items():
        folder = root / split / name
        folder.mkdir(parents=True)
        for index in range(count):
            image = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
            (folder / f"{index}.png").write_bytes(tf.io.encode_png(image).numpy())


# Every image batch below holds 2 images (one compiled shape on jax), and most tasks
# use kNN: a linear probe is a Keras fit, which costs seconds on jax.
@pytest.mark.parametrize(
    "task", ["imagenet", "imagenet_1pct", "cifar100", "places365", "inat2018"]
)
def test_tfds_task_runs_end_to_end(task, micro_vit):
    with mocked_tfds(num_examples=8):
        result = run_downstream(micro_vit, task, max_train_examples=6,
                                max_test_examples=4, image_batch_size=2,
                                classifier="knn", k=3)
    assert result["task"] == task
    assert result["num_train_examples"] == 6 and result["num_test_examples"] == 4
    assert 0.0 <= result["accuracy"] <= 1.0
    assert result["num_classes"] == DOWNSTREAM_TASKS[task].num_classes
    assert result["dataset"] == DOWNSTREAM_TASKS[task].tfds_name


def test_clevr_tasks_run_end_to_end(micro_vit):
    # Clevr/Count through the default linear probe, Clevr/Dist through kNN.
    with mocked_clevr():
        count = run_downstream(micro_vit, "clevr_count", max_train_examples=4,
                               max_test_examples=2, image_batch_size=2, **PROBE)
        distance = run_downstream(micro_vit, "clevr_distance", max_train_examples=6,
                                  max_test_examples=2, image_batch_size=2,
                                  classifier="knn", k=2)
    assert count["num_train_examples"] == 4 and count["num_test_examples"] == 2
    assert distance["num_train_examples"] == 6 and distance["num_test_examples"] == 2
    assert count["num_classes"] == 8 and distance["num_classes"] == 6
    for result in (count, distance):
        assert 0.0 <= result["accuracy"] <= 1.0
        assert result["image_size"] == IMAGE_SIZE
    assert count["train_accuracy"] is not None and distance["train_accuracy"] is None


def test_places205_reads_the_users_data(micro_vit, tmp_path):
    with pytest.raises(ValueError, match="not in TensorFlow Datasets.*tfds_name"):
        run_downstream(micro_vit, "places205")
    # An image folder with train/<class>/ and test/<class>/ subfolders.
    rng = np.random.default_rng(0)
    write_image_folder(tmp_path, "train", {"abbey": 3, "beach": 3}, rng)
    write_image_folder(tmp_path, "test", {"abbey": 2, "beach": 2}, rng)
    result = run_downstream(micro_vit, "places205", image_folder=tmp_path,
                            image_batch_size=2, classifier="knn", k=2)
    assert result["num_train_examples"] == 6 and result["num_test_examples"] == 4
    assert result["num_classes"] == 2 and 0.0 <= result["accuracy"] <= 1.0
    # Or a TFDS dataset the user names.
    with mocked_tfds(num_examples=4):
        result = run_downstream(micro_vit, "places205", tfds_name="places365_small",
                                image_batch_size=2, classifier="knn", k=2)
    assert result["dataset"] == "places365_small" and result["num_train_examples"] == 4
    assert 0.0 <= result["accuracy"] <= 1.0


def test_folder_classes_must_agree(micro_vit, tmp_path):
    rng = np.random.default_rng(0)
    write_image_folder(tmp_path, "train", {"abbey": 1, "beach": 1}, rng)
    write_image_folder(tmp_path, "test", {"abbey": 1, "canyon": 1}, rng)
    with pytest.raises(ValueError, match="same classes.*'beach', 'canyon'"):
        run_downstream(micro_vit, "places205", image_folder=tmp_path)


def test_unknown_task_lists_the_known_tasks(micro_vit):
    with pytest.raises(ValueError, match="`task` must be one of .*'clevr_count'.*'imagenet'"):
        run_downstream(micro_vit, "imagenet21k")


def test_bad_arguments_are_named(micro_vit):
    for kwargs, argument in (
        (dict(max_train_examples=0), "max_train_examples"),
        (dict(label_fraction=1.5), "label_fraction"),
        (dict(classifier="svm"), "classifier"),
        (dict(pool="none"), "pool"),
        (dict(splits="train"), "splits"),
    ):
        with pytest.raises(ValueError, match=f"`{argument}`"):
            run_downstream(micro_vit, "cifar100", **kwargs)
    with pytest.raises(ValueError, match="RGB.*expected 3"):
        run_downstream(tiny_encoder(), "cifar100")  # 1 channel


@pytest.mark.backend_independent
def test_label_fraction_is_stratified_and_seeded():
    rng = np.random.default_rng(1)
    labels = rng.permutation(np.repeat([0, 1, 2, 3], [100, 200, 50, 3]))
    keep = label_fraction_indices(labels, 0.1, seed=0)
    assert np.all(np.diff(keep) > 0)  # sorted, no repeats
    np.testing.assert_array_equal(np.bincount(labels[keep]), [10, 20, 5, 1])
    np.testing.assert_array_equal(keep, label_fraction_indices(labels, 0.1, seed=0))
    assert not np.array_equal(keep, label_fraction_indices(labels, 0.1, seed=1))
    with pytest.raises(ValueError, match="`fraction`"):
        label_fraction_indices(labels, 0.0)


def test_run_downstream_label_fraction_keeps_each_class(micro_vit, tmp_path):
    rng = np.random.default_rng(0)
    write_image_folder(tmp_path, "train", {"a": 4, "b": 6, "c": 1}, rng)
    write_image_folder(tmp_path, "test", {"a": 1, "b": 1, "c": 2}, rng)
    result = run_downstream(micro_vit, "places205", image_folder=tmp_path,
                            label_fraction=0.5, image_batch_size=2, classifier="knn", k=1)
    assert result["num_train_examples"] == 2 + 3 + 1  # half of each class, at least 1
    assert result["num_test_examples"] == 4 and result["label_fraction"] == 0.5


@pytest.mark.backend_independent
def test_select_examples_keeps_the_chosen_examples_in_order():
    with mocked_tfds(num_examples=10):
        source = downstream_source("cifar100", "train")
        labels = read_labels(source)
        chosen = select_examples(source, [7, 2, 5])
        assert chosen.num_examples == 3
        np.testing.assert_array_equal(read_labels(chosen), labels[[2, 5, 7]])
        with pytest.raises(ValueError, match="`indices` must be below the 10"):
            select_examples(source, [10])



@pytest.mark.backend_independent
def test_from_tfds_takes_a_label_key_or_a_label_fn():
    with mocked_tfds(num_examples=3):
        with pytest.raises(ValueError, match="`label_key` or `label_fn`, not both"):
            from_tfds("cifar100", label_key="coarse_label", label_fn=lambda e: e["label"])
        with pytest.raises(ValueError, match="`label_fn` must be a function"):
            from_tfds("cifar100", label_fn="label")
        fine = read_labels(from_tfds("cifar100", label_fn=lambda e: e["label"]))
        coarse = read_labels(from_tfds("cifar100", label_fn=lambda e: e["coarse_label"]))
        np.testing.assert_array_equal(fine, read_labels(from_tfds("cifar100")))
        np.testing.assert_array_equal(
            coarse, read_labels(from_tfds("cifar100", label_key="coarse_label")))
