"""The ``dexego`` command. Thin: each group module parses its arguments and calls the library."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from dexego import __version__
from dexego.errors import DexegoError

# Order is the order shown in --help. Each module has register(subparsers).
GROUPS = ("demo", "data", "convert", "annotate", "sim", "retarget", "tokenizer", "train", "eval", "serve", "config")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's and example's line breaks and shows every option's default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text.lower() or action.required or action.default in (None, False, argparse.SUPPRESS, [], ()):
            return text
        if not action.option_strings and action.nargs not in ("?", "*"):
            return text
        return f"{text} (default: %(default)s)".strip()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dexego",
        description="Learn dexterous robot manipulation from egocentric human data.",
    )
    parser.add_argument("--version", action="version", version=f"dexego {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in GROUPS:
        importlib.import_module(f"dexego.cli.{name}").register(subparsers)
    _finish(parser, "")
    return parser


def _finish(parser: argparse.ArgumentParser, path: str) -> None:
    """Every parser of the tree: the shared formatter, a description (its one-line help when it had none) and its
    example from :mod:`dexego.cli.examples` at the end of ``--help``."""
    from dexego.cli.examples import EXAMPLES

    parser.formatter_class = HelpFormatter
    example = EXAMPLES.get(path)
    if example:
        parser.epilog = (parser.epilog + "\n\n" if parser.epilog else "") + f"example:\n  {example}"
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                if not sub.description:
                    sub.description = helps.get(name)
                _finish(sub, f"{path} {name}".strip())


def subcommand_paths(
    parser: argparse.ArgumentParser | None = None, path: str = ""
) -> dict[str, argparse.ArgumentParser]:
    """Every command of the tree by its words (``""`` = ``dexego`` itself, ``"sim demos"``, ...)."""
    parser = parser or build_parser()
    found = {path: parser}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.update(subcommand_paths(sub, f"{path} {name}".strip()))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        (getattr(args, "group_parser", None) or parser).print_help(sys.stderr)
        return 2
    try:
        result = handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
    except BrokenPipeError:  # `dexego ... | head`: the reader has gone; stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # nothing more reaches the closed pipe (Python's own exit flush included)
        return 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader went away
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
