"""The files of a saved tokenizer (and policy) directory: atomic publication, JSON description.

The atomic writes and checked reads are dexego.data.files'; this module keeps the
names tokenizers and policies save and load with.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from dexego.data.files import atomic_directory
from dexego.data.files import read_json as _read_json

__all__ = ["atomic_directory", "read_json", "write_json"]


def read_json(path: str | os.PathLike, what: str) -> dict:
    """The JSON object in ``path`` (``what`` says what the file is, for the error when it is missing)."""
    return _read_json(path, what, expect=dict)


def write_json(path: Path, data: dict) -> None:
    """Write into a directory that ``atomic_directory`` publishes (no rename of its own)."""
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
