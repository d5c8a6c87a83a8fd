"""The ``dexego`` command. Thin: each group module parses its arguments and calls the library."""

from __future__ import annotations

import argparse
import importlib
import sys

from dexego import __version__
from dexego.errors import DexegoError

# Order is the order shown in --help. Each module has register(subparsers).
GROUPS = ("demo", "data", "convert", "annotate", "sim", "retarget", "tokenizer", "train", "eval", "serve")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dexego",
        description="Learn dexterous robot manipulation from egocentric human data.",
    )
    parser.add_argument("--version", action="version", version=f"dexego {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in GROUPS:
        importlib.import_module(f"dexego.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        (getattr(args, "group_parser", None) or parser).print_help(sys.stderr)
        return 2
    try:
        result = handler(args)
    except DexegoError as exc:
        print(f"dexego: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dexego: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


def add_group(subparsers: argparse._SubParsersAction, name: str, help: str) -> argparse._SubParsersAction:
    """Add a command group (``dexego NAME SUBCOMMAND ...``) and return its sub-parsers."""
    group = subparsers.add_parser(name, help=help, description=help)
    group.set_defaults(group_parser=group)
    return group.add_subparsers(dest=f"{name}_command", metavar="SUBCOMMAND")
