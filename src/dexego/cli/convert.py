"""`dexego convert`: Convert an external dataset (EgoDex, HOT3D, HOI4D, TACO, HoloAssist, ARCTIC, DexYCB, LeRobot) into a dexego dataset."""

from __future__ import annotations

import argparse

from dexego.cli import add_group


def register(subparsers: argparse._SubParsersAction) -> None:
    add_group(subparsers, "convert", "Convert an external dataset (EgoDex, HOT3D, HOI4D, TACO, HoloAssist, ARCTIC, DexYCB, LeRobot) into a dexego dataset.")
