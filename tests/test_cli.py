"""The command line: one real subprocess run, and bad input answered with exit code 2."""

import csv
import json
import math
import os
import subprocess
import sys

import pytest

from keras_jepa import cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_help_says_how_configs_are_found():
    help_text = cli.build_parser().format_help()
    assert "keras_jepa/configs/<name>.py" in help_text
    assert "KERAS_BACKEND" in help_text


@pytest.mark.parametrize("command", [["--help"], ["train", "--help"], ["evaluate", "--help"]])
def test_help_imports_no_backend(command):
    """`python -m keras_jepa ... --help` answers without importing Keras or TensorFlow
    (it took 5.8 s before); `-X importtime` lists every module the process imported."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "keras_jepa", *command],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage: keras-jepa" in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0]
                for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "keras_jepa" in imported
    assert not imported & {"keras", "tensorflow", "jax", "torch"}, sorted(imported)


def test_console_script_help_imports_no_backend():
    """The `keras-jepa` script (entry point keras_jepa.cli:main) does the same."""
    code = ("import sys; sys.argv = ['keras-jepa', 'train', '--help']\n"
            "from keras_jepa.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('heavy:', sorted({'keras', 'tensorflow', 'jax', 'torch'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert "heavy: []" in result.stdout, result.stdout[-2000:] + result.stderr[-2000:]


def test_configs_by_name_from_any_directory(tmp_path, monkeypatch, capsys):
    """Named configs ship in the package: no `unknown config` outside the repository."""
    from keras_jepa import experiment

    monkeypatch.chdir(tmp_path)
    assert experiment.load_config("digits_micro", smoke=True)["name"] == "digits_micro"
    assert "imagenet_vit_b16" in experiment.available_configs()
    code = cli.main(["train", "--method", "mae", "--config", "cifar100", "--out",
                     str(tmp_path / "run")])
    assert code == 2 and "digits_micro" in capsys.readouterr().err


def test_unknown_method_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--method", "simclr", "--config", "digits_micro",
                  "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "--method" in capsys.readouterr().err


def test_nonpositive_epochs_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--method", "mae", "--config", "digits_micro",
                  "--out", str(tmp_path), "--epochs", "0"])
    assert exit_info.value.code == 2
    assert "--epochs" in capsys.readouterr().err


def test_unknown_config_exits_2_and_lists_configs(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    code = cli.main(["train", "--method", "mae", "--config", "cifar100", "--out",
                     str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "--config" in err and "cifar10_vit_tiny" in err
    assert not os.path.exists(tmp_path / "model.keras")


def test_missing_model_exits_2(tmp_path, capsys):
    code = cli.main(["evaluate", "--model", str(tmp_path / "nothing.keras")])
    assert code == 2
    assert "--model" in capsys.readouterr().err


def test_reproduce_without_recipes_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["reproduce", "--smoke", "--out", str(tmp_path / "theory")]) == 1
    assert "no recipes/ folder" in capsys.readouterr().err


@pytest.fixture(scope="module")
def quickstart_run(tmp_path_factory):
    """`python -m keras_jepa quickstart --smoke` in a fresh process (the only subprocess)."""
    out = tmp_path_factory.mktemp("quickstart")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, "-m", "keras_jepa", "quickstart", "--smoke", "--out", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    return out, result


def test_quickstart_smoke_writes_the_comparison(quickstart_run):
    out, result = quickstart_run
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"backend {os.environ['KERAS_BACKEND']}" in result.stdout
    for name in ("results.json", "results.csv", "comparison.md", "config.json",
                 "loss_curves.png", "probe_curves_linear.png", "probe_curves_knn.png",
                 "masks.png", "reconstructions.png"):
        assert os.path.getsize(out / name) > 0, name
    # One run folder per row (checkpoint, resolved config, logs, figures).
    folders = (("i_jepa", "ijepa", "masks.png"), ("i_jepa_sigreg", "ijepa", "masks.png"),
               ("sigreg_alone_control", "ijepa", "masks.png"),
               ("mae", "mae", "reconstructions.png"))
    for folder, method, figure in folders:
        for name in ("model.keras", "config.json", "log.csv", "results.json", "loss.png",
                     figure):
            assert os.path.getsize(out / folder / name) > 0, (folder, name)
        with open(out / folder / "log.csv") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == 1 and math.isfinite(float(rows[0]["loss"]))
        # The probe callbacks log into the CSV (one probe per epoch in the smoke run).
        assert 0.0 <= float(rows[0]["probe_knn"]) <= 1.0
        with open(out / folder / "config.json") as f:
            resolved = json.load(f)
        assert resolved["method"] == method and resolved["total_steps"] == 3
    with open(out / "i_jepa_sigreg" / "config.json") as f:
        assert json.load(f)["ijepa"]["regularizer"] == "sigreg"
    with open(out / "sigreg_alone_control" / "config.json") as f:
        assert json.load(f)["ijepa"]["prediction_weight"] == 0.0
    with open(out / "results.json") as f:
        summary = json.load(f)
    rows = summary["rows"]
    names = [row["name"] for row in rows]
    assert names == ["raw pixels", "untrained encoder", "I-JEPA", "I-JEPA + SIGReg",
                     "SIGReg alone (control)", "MAE"]
    assert summary["curves"]["MAE"]["epoch"] == [1]
    accuracies = {row["name"]: row["probe_accuracy"] for row in rows}
    # Raw MNIST pixels are nearly linearly separable even with the smoke run's 500
    # training images; ten classes give 0.1 by chance.
    assert accuracies["raw pixels"] > 0.8
    assert all(0.12 < value <= 1.0 for value in accuracies.values())
    # The markdown table is printed, one line per row.
    for name in names:
        assert f"| {name} |" in result.stdout


def test_evaluate_reloads_a_checkpoint_with_the_same_probe(quickstart_run, tmp_path, capsys):
    out, result = quickstart_run
    assert result.returncode == 0, result.stderr[-2000:]
    metrics_path = tmp_path / "metrics.json"
    assert cli.main(["evaluate", "--model", str(out / "mae" / "model.keras"),
                     "--out", str(metrics_path)]) == 0
    assert "probe accuracy" in capsys.readouterr().out
    with open(metrics_path) as f:
        metrics = json.load(f)
    with open(out / "mae" / "results.json") as f:
        trained = json.load(f)
    # The checkpoint written by that process gives this process the same features.
    assert metrics["probe_accuracy"] == pytest.approx(trained["probe_accuracy"], abs=1e-6)
    assert metrics["effective_rank"] == pytest.approx(trained["effective_rank"], rel=1e-3)


def test_bad_checkpoints_and_configs_exit_2_naming_the_argument(
        quickstart_run, tmp_path, capsys, monkeypatch):
    out, result = quickstart_run
    assert result.returncode == 0, result.stderr[-2000:]
    monkeypatch.chdir(REPO)
    garbage = tmp_path / "garbage.keras"
    garbage.write_bytes(b"not a zip archive")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    checkpoint = str(out / "mae" / "model.keras")
    cases = [
        (["evaluate", "--model", str(garbage), "--config", "digits_micro"],
         ["--model", "garbage.keras"]),
        (["evaluate", "--model", str(text), "--config", "digits_micro"],
         ["--model", ".keras"]),
        # A 28-px MNIST model probed on the 16-px digits config.
        (["evaluate", "--model", checkpoint, "--config", "digits_micro"],
         ["--model", "(28, 28, 1)", "(16, 16, 1)"]),
        (["train", "--method", "mae", "--config", checkpoint, "--out", str(tmp_path / "r")],
         ["--config", "evaluate --model"]),
        (["train", "--method", "mae", "--config", "digits_micro", "--smoke",
          "--out", str(text)], ["--out", "existing file"]),
    ]
    for argv, expected in cases:
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err  # one line, no traceback
        for fragment in expected:
            assert fragment in err, (argv, err)


def test_a_failed_run_exits_1(monkeypatch, tmp_path, capsys):
    from keras_jepa import experiment

    def diverge(*args, **kwargs):
        raise FloatingPointError("mae training produced a non-finite loss ([nan])")

    monkeypatch.chdir(REPO)
    monkeypatch.setattr(experiment, "train", diverge)
    code = cli.main(["train", "--method", "mae", "--config", "digits_micro", "--smoke",
                     "--out", str(tmp_path / "run")])
    assert code == 1
    assert "non-finite loss" in capsys.readouterr().err


def test_train_succeeds_as_a_subprocess(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, "-m", "keras_jepa", "train", "--method", "mae", "--config",
         "digits_micro", "--smoke", "--no-eval", "--out", str(tmp_path / "run")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "run" / "model.keras").is_file()
    assert "mae: loss" in result.stdout
