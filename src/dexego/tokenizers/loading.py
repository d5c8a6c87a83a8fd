"""Loading a saved action tokenizer of any kind (the kind is read from its tokenizer.json)."""

from __future__ import annotations

import os
from pathlib import Path

from dexego.errors import InputError
from dexego.tokenizers.base import TOKENIZER_FILE, ActionTokenizer
from dexego.tokenizers.fast import FASTTokenizer
from dexego.tokenizers.motion import MotionTokenizer
from dexego.tokenizers.rvq import RVQTokenizer
from dexego.utils.files import read_json

KINDS: dict[str, type] = {"rvq": RVQTokenizer, "fast": FASTTokenizer, "motion": MotionTokenizer}


def load_tokenizer(directory: str | os.PathLike) -> ActionTokenizer:
    """Load a tokenizer saved by ``save`` (its kind is read from tokenizer.json)."""
    directory = Path(directory)
    kind = read_json(directory / TOKENIZER_FILE, "action tokenizer description", expect=dict).get("kind")
    if kind not in KINDS:
        raise InputError(
            directory / TOKENIZER_FILE, "kind", f"unknown tokenizer kind {kind!r}; known: {', '.join(KINDS)}"
        )
    return KINDS[kind].load(directory)
