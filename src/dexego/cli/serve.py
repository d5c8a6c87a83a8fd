"""`dexego serve`: Serve a policy over the websocket protocol."""

from __future__ import annotations

import argparse

from dexego.cli import add_group


def register(subparsers: argparse._SubParsersAction) -> None:
    add_group(subparsers, "serve", "Serve a policy over the websocket protocol.")
