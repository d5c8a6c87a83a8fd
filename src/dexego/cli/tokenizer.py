"""`dexego tokenizer`: Fit action tokenizers (residual VQ, FAST) for the motion-token head."""

from __future__ import annotations

import argparse

from dexego.cli import add_group


def register(subparsers: argparse._SubParsersAction) -> None:
    add_group(subparsers, "tokenizer", "Fit action tokenizers (residual VQ, FAST) for the motion-token head.")
