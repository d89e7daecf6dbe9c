"""The shared runner: configs by name and path, bad input, metrics, pipelines.

The runner's training path (quickstart, train, evaluate) is exercised end to end, in a
fresh process, by tests/test_cli.py.
"""

import os

import numpy as np
import pytest

from keras_jepa import experiment

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE_CONFIGS = ("digits_micro", "cifar10_vit_tiny", "imagenet_vit_b16", "imagenet_vit_h14")


@pytest.fixture
def in_repo(monkeypatch):
    monkeypatch.chdir(REPO)


@pytest.mark.parametrize("name", RECIPE_CONFIGS)
def test_recipe_configs_load_by_name_and_by_path(in_repo, name):
    by_name = experiment.load_config(name)
    by_path = experiment.load_config(os.path.join(REPO, "keras_jepa", "configs", f"{name}.py"))
    assert by_name == by_path
    smoke = experiment.load_config(name, smoke=True)
    # The smoke variant is small and runs without downloaded data.
    assert smoke["epochs"] == 1 and smoke["steps_per_epoch"] == 3
    assert smoke["data"]["source"] in ("digits", "synthetic")
    assert by_name["epochs"] >= 20
    if name.startswith("imagenet"):
        assert by_name["epochs"] == 300 and by_name["data"]["image_size"] == 224


@pytest.mark.parametrize("name", RECIPE_CONFIGS)
def test_smoke_configs_build_both_methods_on_one_encoder(in_repo, name):
    config = experiment.load_config(name, smoke=True)
    experiment.build_optimizer(config, total_steps=3)
    ijepa = experiment.build_model(config, "ijepa", total_steps=3)
    mae = experiment.build_model(config, "mae", total_steps=3)
    def architecture(encoder):
        return {k: v for k, v in encoder.get_config().items() if k != "name"}

    assert architecture(ijepa.context_encoder) == architecture(mae.encoder)
    assert ijepa.context_encoder.count_params() == mae.encoder.count_params()


def test_warmup_longer_than_the_run_is_named():
    config = experiment.digits_micro_config()
    config["optimizer"]["warmup_epochs"] = 40
    with pytest.raises(experiment.ExperimentError, match="warmup_epochs"):
        experiment.build_optimizer(config, total_steps=20 * 21)


def test_builtin_configs_match_their_recipes(in_repo):
    for smoke in (False, True):
        assert experiment.digits_micro_config(smoke) == experiment.load_config(
            "digits_micro", smoke)
        assert experiment.mnist_micro_config(smoke) == experiment.load_config(
            "mnist_micro", smoke)


def test_comparison_runs_merge_each_rows_ijepa_options():
    config = experiment.mnist_micro_config()
    runs = experiment.comparison_runs(config)
    assert [(label, method) for label, method, _ in runs] == [
        ("I-JEPA", "ijepa"), ("I-JEPA + SIGReg", "ijepa"),
        ("SIGReg alone (control)", "ijepa"), ("MAE", "mae")]
    plain, regularised, control, _ = (run for _, _, run in runs)
    assert plain["ijepa"] == {"momentum": 0.996}
    assert regularised["ijepa"] == {"momentum": 0.996, **experiment.SIGREG}
    assert control["ijepa"]["prediction_weight"] == 0.0
    # The control and the regularised run build the same model but for the weight.
    model = experiment.build_model(control, "ijepa", total_steps=3)
    assert (model.regularizer, model.prediction_weight) == ("sigreg", 0.0)
    assert config["ijepa"] == {"momentum": 0.996}  # the config itself is untouched
    without = {k: v for k, v in config.items() if k != "compare"}
    assert [label for label, _, _ in experiment.comparison_runs(without)] == ["I-JEPA", "MAE"]


@pytest.mark.parametrize("entry, match", [
    ({"method": "ijepa"}, "label"),
    ({"label": "x", "method": "simclr"}, "--method"),
    ({"label": "x", "method": "ijepa", "lr": 1}, "unknown keys"),
])
def test_bad_comparison_entries_are_named(entry, match):
    config = experiment.mnist_micro_config()
    config["compare"] = [entry]
    with pytest.raises(experiment.ExperimentError, match=match):
        experiment.comparison_runs(config)


@pytest.mark.backend_independent
def test_markdown_table_writes_header_separator_and_rows():
    from keras_jepa.runner.report import markdown_table

    table = markdown_table(["name", "epochs", "probe"], [["I-JEPA", 3, "0.912"], ["MAE", 3, ""]])
    assert table == ("| name | epochs | probe |\n"
                     "|---|---|---|\n"
                     "| I-JEPA | 3 | 0.912 |\n"
                     "| MAE | 3 |  |")
    assert markdown_table(["a"], []) == "| a |\n|---|"
    with pytest.raises(ValueError, match=r"row 1 \['MAE', '3'\] has 2 cells, the header 3"):
        markdown_table(["name", "epochs", "probe"], [["I-JEPA", 3, "0.912"], ["MAE", 3]])


def test_unknown_config_name_lists_the_available_ones(in_repo):
    with pytest.raises(experiment.ExperimentError, match="--config.*digits_micro"):
        experiment.load_config("digits_mikro")


def test_missing_config_path_is_named(tmp_path):
    with pytest.raises(experiment.ExperimentError, match="no config file"):
        experiment.load_config(str(tmp_path / "absent.py"))


def test_config_file_without_get_config_is_rejected(tmp_path):
    path = tmp_path / "empty.py"
    path.write_text("CONFIG = {}\n")
    with pytest.raises(experiment.ExperimentError, match="get_config"):
        experiment.load_config(str(path))


def test_image_size_must_divide_by_patch():
    config = experiment.digits_micro_config()
    config["encoder"]["patch_size"] = 3
    with pytest.raises(experiment.ExperimentError, match="image_size"):
        experiment.check_config(config)


def test_unknown_method_is_named(tmp_path):
    with pytest.raises(experiment.ExperimentError, match="--method.*ijepa"):
        experiment.train(experiment.digits_micro_config(smoke=True), "simclr", str(tmp_path))


def test_effective_rank_separates_collapse_from_spread(rng):
    spread = rng.normal(size=(4000, 8))
    collapsed = np.outer(rng.normal(size=4000), rng.normal(size=8))
    assert experiment.effective_rank(spread) > 7.5
    assert experiment.effective_rank(collapsed) < 1.1
    assert experiment.effective_rank(np.ones((10, 4))) == pytest.approx(1.0, abs=1e-4)


def test_synthetic_smoke_pipeline_carries_masks_for_ijepa_only(in_repo):
    config = experiment.load_config("cifar10_vit_tiny", smoke=True)
    dataset, steps, generator = experiment.make_training_dataset(config, "ijepa")
    batches = list(dataset.as_numpy_iterator())
    assert steps == 3 and len(batches) == 3
    assert batches[0]["images"].shape == (32, 32, 32, 3)
    assert batches[0]["context_indices"].shape == (32, generator.num_context_tokens)
    dataset, _, generator = experiment.make_training_dataset(config, "mae")
    assert generator is None and "context_indices" not in next(iter(dataset))


def test_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(experiment.ExperimentError, match="--model"):
        experiment.evaluate_checkpoint(str(tmp_path / "model.keras"))


@pytest.mark.slow
def test_tfds_config_trains_on_mock_data(in_repo, tmp_path):
    # The full CIFAR-10 config's data path (TFDS), on tfds's offline mock examples and a
    # 1-deep copy of the network.
    import tensorflow_datasets as tfds

    config = experiment.load_config("cifar10_vit_tiny")
    for part in ("encoder", "predictor", "decoder"):
        config[part]["depth"] = 1
    config.update(batch_size=16, epochs=1, steps_per_epoch=2)
    config["optimizer"].pop("warmup_epochs")
    config["eval"] = {"probe_train_examples": 64, "probe_test_examples": 32}
    with tfds.testing.mock_data(num_examples=64):
        _, results = experiment.train(config, "mae", str(tmp_path), verbose=0,
                                      evaluate_model=False)
    assert results["steps"] == 2 and np.isfinite(results["last_loss"])
    assert os.path.isfile(tmp_path / "model.keras")
