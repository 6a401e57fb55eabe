"""Command line: python -m llmviz {run,eval,train,convert,bench}.

Each subcommand lives in its own module, which provides ``add_arguments(parser)``
and ``main(args) -> int``; this file only wires them together.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "run": ("llmviz.cli.run", "run the model on an input and show its answer"),
    "eval": ("llmviz.cli.evaluate", "decode every possible sort input greedily and count the correct ones"),
    "train": ("llmviz.cli.train", "train a model (with torch): 'train sort' makes weights/sort.npz"),
    "convert": ("llmviz.cli.convert", "turn a nanoGPT checkpoint (ckpt.pt) into NAME.npz + NAME.json"),
    "bench": ("llmviz.cli.bench", "measure the port's speed (and the page's, with --page)"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llmviz", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = {}
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        try:
            module = importlib.import_module(module_name)
        except ImportError as e:
            p.set_defaults(_missing=f"'{name}' is unavailable: {e}")
            continue
        module.add_arguments(p)
        modules[name] = module
    args = parser.parse_args(argv)
    if getattr(args, "_missing", None):
        print(f"error: {args._missing}", file=sys.stderr)
        return 2
    return modules[args.command].main(args)


if __name__ == "__main__":
    sys.exit(main())
