"""Config variants behind the JEPA-vs-MAE studies: mask generators by name, the distractor."""

import copy
import os

import numpy as np
import pytest

from keras_jepa import experiment
from keras_jepa import masking
from keras_jepa import studies
from keras_jepa.data.distractors import add_patch_distractor
from keras_jepa.runner import recipe


def _smoke_config():
    return experiment.digits_micro_config(smoke=True)


@pytest.mark.parametrize(
    "name, cls",
    [
        ("multi_block", masking.MultiBlockMaskGenerator),
        ("rasterized", masking.RasterizedMaskGenerator),
        ("block", masking.BlockMaskGenerator),
        ("random", masking.RandomTargetMaskGenerator),
    ],
)
def test_mask_generator_chosen_by_name(name, cls):
    config = _smoke_config()
    config["masks"]["ijepa"] = {"generator": name}
    generator = experiment.make_mask_generator(config)
    assert type(generator) is cls
    assert generator.num_patches == 64
    dataset, _, used = experiment.make_training_dataset(config, "ijepa")
    batch = next(iter(dataset))
    assert batch["context_indices"].shape[1] == used.num_context_tokens


def test_default_generator_is_multi_block_and_unknown_is_named():
    config = _smoke_config()
    assert type(experiment.make_mask_generator(config)) is masking.MultiBlockMaskGenerator
    config["masks"]["ijepa"] = {"generator": "quadrants"}
    with pytest.raises(experiment.ExperimentError, match="masks.ijepa.generator"):
        experiment.make_mask_generator(config)


def test_distracted_pipeline_delivers_the_distracted_images():
    # The pipeline keeps the distracted images in their own range, not normalised: what
    # the model sees equals `images + distractor` (what the probe sees too).
    config = _smoke_config()
    config["data"].update(crop_scale=None,
                          distractor={"strength": 0.7, "predictability": 0.3})
    probe_images, probe_labels = experiment.load_probe_arrays(config, "train")
    from keras_jepa.data import load_digits

    clean, labels = load_digits("train", 16)
    expected = add_patch_distractor(clean, 2, 0.7, predictability=0.3, seed=0)
    np.testing.assert_allclose(probe_images, expected[: len(probe_images)], atol=1e-6)
    np.testing.assert_array_equal(probe_labels, labels[: len(probe_labels)])

    config["batch_size"] = len(clean)  # one batch: every training image, shuffled
    dataset, _, _ = experiment.make_training_dataset(config, "mae")
    element = next(iter(dataset))
    batch = np.asarray(element["images"] if isinstance(element, dict) else element)
    # Same multiset of images (the pipeline shuffles): compare sorted per-image sums.
    np.testing.assert_allclose(np.sort(batch.reshape(len(batch), -1).sum(1)),
                               np.sort(expected.reshape(len(expected), -1).sum(1)),
                               atol=2e-3)


def test_distractor_needs_unnormalised_in_memory_data():
    config = _smoke_config()
    config["data"].update(normalize=True, distractor={"strength": 1.0})
    with pytest.raises(experiment.ExperimentError, match="data.normalize"):
        experiment.load_probe_arrays(config, "test")
    config = _smoke_config()
    config["data"]["distractor"] = {"strength": 1.0, "rho": 0.2}
    with pytest.raises(experiment.ExperimentError, match="data.distractor"):
        experiment.load_probe_arrays(config, "test")


@pytest.mark.slow
def test_mask_ablation_study_writes_its_table(tmp_path):
    config = _smoke_config()
    summary = studies.mask_ablation(copy.deepcopy(config), str(tmp_path),
                                    generators=("rasterized",), include_mae=False)
    (row,) = summary["rows"]
    assert row["generator"] == "rasterized" and 0.0 <= row["probe_accuracy"] <= 1.0
    assert "rasterized" in open(os.path.join(tmp_path, "results.md")).read()
    assert os.path.getsize(os.path.join(tmp_path, "masks_rasterized.png")) > 0


def test_run_recipe_is_the_study_recipes_command_line(tmp_path, capsys):
    calls = []

    def study(config, out, **options):
        calls.append((config, out, options))
        return {"table": "| the table |"}

    out = str(tmp_path / "out")
    summary = studies.run_recipe(
        study, "A study.\n", str(tmp_path / "default"),
        arguments={"--size": {"type": int, "default": 2}},
        options=lambda args: {"size": args.size},
        argv=["--smoke", "--epochs", "5", "--size", "3", "--out", out])
    [(config, given_out, options)] = calls
    expected = experiment.load_config("digits_micro", smoke=True)
    assert config == {**expected, "epochs": 5}
    assert (given_out, options) == (out, {"size": 3}) and os.path.isdir(out)
    assert summary == {"table": "| the table |"}
    assert "| the table |" in capsys.readouterr().out


def test_recipe_results_end_with_the_runtime(tmp_path, capsys):
    args = recipe.parse_args("A recipe.\n", str(tmp_path / "r"), argv=["--smoke"])
    recipe.write_results(args, ["# Title\n", "| x |"])
    with open(tmp_path / "r" / "results.md") as f:
        text = f.read()
    assert text.startswith("# Title\n\n| x |\nRuntime: ") and text.endswith(" s (--smoke).\n")
    assert text.rstrip("\n") == capsys.readouterr().out.rstrip("\n")
