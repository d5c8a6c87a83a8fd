"""`dexego train`: Train a policy from a stage config."""

from __future__ import annotations

import argparse

from dexego.cli import add_group


def register(subparsers: argparse._SubParsersAction) -> None:
    add_group(subparsers, "train", "Train a policy from a stage config.")
