"""`dexego demo`: Run the whole story: human pretraining, robot fine-tuning, evaluation, report."""

from __future__ import annotations

import argparse

from dexego.cli import add_group


def register(subparsers: argparse._SubParsersAction) -> None:
    add_group(subparsers, "demo", "Run the whole story: human pretraining, robot fine-tuning, evaluation, report.")
