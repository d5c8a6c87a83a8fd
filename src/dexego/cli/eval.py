"""`dexego eval`: Evaluate policies: human motion prediction, benchmark tables, scaling fits, reports."""

from __future__ import annotations

import argparse

from dexego.cli import add_group


def register(subparsers: argparse._SubParsersAction) -> None:
    add_group(subparsers, "eval", "Evaluate policies: human motion prediction, benchmark tables, scaling fits, reports.")
