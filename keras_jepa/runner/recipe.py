"""The recipes' shared entry point: their command line, output folder and `results.md`.

Every script in `recipes/` takes `--out` (its output folder, created here) and `--smoke`
(its small variant) and writes a markdown `results.md` ending in its runtime;
`parse_args` and `write_results` do that once for all of them.
`keras_jepa.studies.run_recipe` adds the study recipes' `--config` and `--epochs`.
"""

import argparse
import os
import time


def parse_args(doc, out, smoke_help=None, arguments=None, argv=None):
    """Parses a recipe's command line and creates its output folder.

    Args:
        doc: the recipe's module docstring; its first line describes the command.
        out: the default of `--out`.
        smoke_help: the help of `--smoke` (what the small variant leaves out).
        arguments: `{flag: add_argument keywords}`, the recipe's own options.
        argv: the arguments (default `sys.argv[1:]`).

    Returns:
        The `argparse.Namespace`, with `start` the time it was parsed (for the runtime).

    Example:
    args = parse_args(__doc__, "recipes/outputs/theory/nonlinear", "a quarter of the steps")
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    for flag, options in (arguments or {}).items():
        parser.add_argument(flag, **options)
    parser.add_argument("--smoke", action="store_true", help=smoke_help)
    parser.add_argument("--out", default=out)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    args.start = time.time()
    return args


def write_results(args, lines):
    """Writes `lines` and the runtime since `args.start` to `args.out/results.md`; prints them."""
    lines = [*lines, f"Runtime: {time.time() - args.start:.0f} s"
                     f"{' (--smoke)' if args.smoke else ''}."]
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
