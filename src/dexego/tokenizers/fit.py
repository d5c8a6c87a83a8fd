"""Fitting an action tokenizer on action chunks, and reporting its round-trip error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from dexego.config import load_config
from dexego.errors import ConfigError
from dexego.tokenizers.base import ActionTokenizer, check_chunks

TokenizerKind = Literal["rvq", "fast"]


@dataclass(frozen=True)
class RoundTripReport:
    rmse: float  # over all values, in the units of the chunks given (normalised actions)
    max_abs: float
    mean_tokens: float  # tokens per chunk
    max_tokens: int

    def summary(self) -> str:
        return (f"round trip: RMSE {self.rmse:.4f}, max |error| {self.max_abs:.4f}, "
                f"{self.mean_tokens:.1f} tokens per chunk (max {self.max_tokens})")  # fmt: skip


def fit_tokenizer(kind: str, chunks: np.ndarray, config: "dict[str, Any] | None" = None,
                  overrides: list[str] | None = None, progress=None) -> ActionTokenizer:  # fmt: skip
    """Fit a ``kind`` ("rvq" or "fast") tokenizer on normalised chunks (N, H, D)."""
    from dexego.tokenizers.fast import FASTConfig, FASTTokenizer
    from dexego.tokenizers.rvq import RVQConfig, RVQTokenizer

    chunks = check_chunks(chunks)
    if kind == "rvq":
        return RVQTokenizer.fit(chunks, load_config(RVQConfig, config, overrides), progress=progress)
    if kind == "fast":
        return FASTTokenizer.fit(chunks, load_config(FASTConfig, config, overrides))
    raise ConfigError(f"unknown tokenizer kind {kind!r}; known: rvq, fast")


def round_trip_report(tokenizer: ActionTokenizer, chunks: np.ndarray) -> RoundTripReport:
    chunks = check_chunks(chunks)
    tokens = tokenizer.encode(chunks)
    error = tokenizer.decode(tokens) - chunks
    lengths = [len(t) for t in tokens]
    return RoundTripReport(float(np.sqrt(np.mean(error**2))), float(np.abs(error).max()), float(np.mean(lengths)), max(lengths))
