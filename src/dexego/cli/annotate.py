"""`dexego annotate`: Turn raw egocentric video into a dataset: 3D hands, atomic segments, instructions."""

from __future__ import annotations

import argparse

from dexego.cli import add_group


def register(subparsers: argparse._SubParsersAction) -> None:
    add_group(subparsers, "annotate", "Turn raw egocentric video into a dataset: 3D hands, atomic segments, instructions.")
