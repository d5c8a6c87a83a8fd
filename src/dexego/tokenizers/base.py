"""The action tokenizer interface shared by residual VQ and FAST, and loading by kind."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from dexego.errors import InputError

TOKENIZER_FILE = "tokenizer.json"


class ActionTokenizer(Protocol):
    """Turns normalised action chunks (N, H, D) into token id sequences and back."""

    kind: str
    horizon: int
    dim: int

    @property
    def vocab_size(self) -> int: ...

    @property
    def max_tokens(self) -> int: ...

    def encode(self, chunks: np.ndarray) -> list[list[int]]: ...

    def decode(self, tokens: Sequence[Sequence[int]]) -> np.ndarray: ...

    def save(self, directory: str | os.PathLike) -> None: ...


def check_chunks(chunks: np.ndarray, horizon: int | None = None, dim: int | None = None) -> np.ndarray:
    chunks = np.asarray(chunks, dtype=np.float32)
    if chunks.ndim != 3:
        raise InputError(None, "chunks", f"expected an array (N, H, D), got shape {chunks.shape}")
    if horizon is not None and chunks.shape[1:] != (horizon, dim):
        raise InputError(None, "chunks", f"expected chunks of shape (N, {horizon}, {dim}), got {chunks.shape}")
    if not np.isfinite(chunks).all():
        raise InputError(None, "chunks", "contain NaN or inf")
    return chunks
