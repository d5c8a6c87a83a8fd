"""`dexego retarget`: Map human hand motion onto a robot hand and arm."""

from __future__ import annotations

import argparse

from dexego.cli import add_group


def register(subparsers: argparse._SubParsersAction) -> None:
    add_group(subparsers, "retarget", "Map human hand motion onto a robot hand and arm.")
