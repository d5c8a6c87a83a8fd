"""`dexego data`: Inspect, validate and view datasets (LeRobot v3 layout)."""

from __future__ import annotations

import argparse

from dexego.cli import add_group


def register(subparsers: argparse._SubParsersAction) -> None:
    add_group(subparsers, "data", "Inspect, validate and view datasets (LeRobot v3 layout).")
