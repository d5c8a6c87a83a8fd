"""`dexego sim`: The MuJoCo humanoid dexterous manipulation benchmark: tasks, demonstrations, evaluation."""

from __future__ import annotations

import argparse

from dexego.cli import add_group


def register(subparsers: argparse._SubParsersAction) -> None:
    add_group(subparsers, "sim", "The MuJoCo humanoid dexterous manipulation benchmark: tasks, demonstrations, evaluation.")
