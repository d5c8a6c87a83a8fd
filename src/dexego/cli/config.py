"""`dexego config`: the configurations shipped inside the package (stage configs, mixtures, demo profiles)."""

from __future__ import annotations

import argparse
import sys

from dexego.cli import add_group


def register(subparsers: argparse._SubParsersAction) -> None:
    group = add_group(subparsers, "config", "List and print the configurations shipped inside the package.")
    p = group.add_parser("list", help="List the built-in configs (stage configs, mixtures, demo profile files).")
    p.set_defaults(handler=_list)
    p = group.add_parser("show", help="Print a built-in config's TOML, e.g. to start your own from it.")
    p.add_argument("name", help="a name from `dexego config list`, e.g. cpu/pretrain")
    p.set_defaults(handler=_show)


def _list(args: argparse.Namespace) -> int:
    import tomllib

    from dexego.configs import config_names, config_path

    for name in config_names():
        text = config_path(name).read_text(encoding="utf-8")
        first = next((line.lstrip("# ").strip() for line in text.splitlines() if line.startswith("#")), "")
        if not first:
            first = str(tomllib.loads(text).get("description", ""))
        first = first.split(". ")[0].split(": ")[0]
        print(f"{name:24s} {first[:90]}".rstrip())
    return 0


def _show(args: argparse.Namespace) -> int:
    from dexego.configs import config_text

    sys.stdout.write(config_text(args.name))
    return 0
