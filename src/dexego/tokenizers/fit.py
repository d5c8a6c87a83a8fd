"""Fitting an action tokenizer on action chunks, and reporting its round-trip error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from dexego.config import load_config
from dexego.errors import ConfigError
from dexego.tokenizers.base import ActionTokenizer, check_chunks
from dexego.utils.files import atomic_directory

TokenizerKind = Literal["rvq", "fast"]


@dataclass(frozen=True)
class RoundTripReport:
    """How well chunks survive tokenise + detokenise: RMSE, largest error, tokens per chunk."""

    rmse: float  # over all values, in the units of the chunks given (normalised actions)
    max_abs: float
    mean_tokens: float  # tokens per chunk
    max_tokens: int

    def summary(self) -> str:
        return (f"round trip: RMSE {self.rmse:.4f}, max |error| {self.max_abs:.4f}, "
                f"{self.mean_tokens:.1f} tokens per chunk (max {self.max_tokens})")  # fmt: skip


def fit_tokenizer(kind: str, chunks: np.ndarray, config: dict[str, Any] | None = None,
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
    return RoundTripReport(
        float(np.sqrt(np.mean(error**2))), float(np.abs(error).max()), float(np.mean(lengths)), max(lengths)
    )


def chunk_stats(chunks: np.ndarray, valid: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-dimension statistics of chunk values (N, H, D) over valid hand-steps (valid (N, H, 2))."""
    flat = chunks.reshape(-1, chunks.shape[-1]).astype(np.float64)
    if valid is not None:
        mask = np.repeat(valid.reshape(-1, 2), chunks.shape[-1] // 2, axis=-1)
        flat = np.where(mask, flat, np.nan)
    with np.errstate(all="ignore"):
        stats = {"mean": np.nanmean(flat, 0), "std": np.nanstd(flat, 0), "min": np.nanmin(flat, 0), "max": np.nanmax(flat, 0),
                 "q01": np.nanquantile(flat, 0.01, axis=0), "q99": np.nanquantile(flat, 0.99, axis=0)}  # fmt: skip
    return {k: np.nan_to_num(v, nan=0.0) for k, v in stats.items()}


def dataset_chunks(path: str, horizon: int = 30, action_space: str = "ego48", max_chunks: int | None = None,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Action chunks (N, H, D) and their hand validity (N, H, 2) read through the data package's samples."""
    from dexego.data import SampleConfig
    from dexego.data.loader import SampleSource

    if horizon < 1:
        raise ConfigError(f"horizon must be at least 1, got {horizon}")
    source = SampleSource(path, SampleConfig(horizon=horizon, action_space=action_space, image_size=(16, 16)))
    longest = int(max(source.dataset.episode_lengths, default=0))
    if horizon > longest:
        raise ConfigError(
            f"{path}: horizon {horizon} is longer than the longest episode ({longest} frames): every chunk would be padding"
        )
    items = [(ep, int(a)) for ep, anchors in source.anchors.items() for a in anchors]
    if max_chunks is not None and len(items) > max_chunks:
        pick = np.random.default_rng(seed).choice(len(items), max_chunks, replace=False)
        items = [items[i] for i in sorted(pick)]
    chunks, valid = [], []
    for episode in sorted({ep for ep, _ in items}):
        anchors = [a for ep, a in items if ep == episode]
        for sample in source.samples(episode, anchors):
            chunks.append(sample["actions"])
            valid.append(sample["action_valid"])
    if not chunks:
        raise ConfigError(f"{path}: the dataset yields no samples to fit a tokenizer on")
    return np.stack(chunks).astype(np.float32), np.stack(valid).astype(bool)


STATS_FILE = "action_stats.json"


def fit_dataset_tokenizer(dataset: str, kind: str, out: str, horizon: int = 30, action_space: str = "ego48",
                          normalization: str = "mean_std", max_chunks: int | None = None,
                          overrides: list[str] | None = None, log=print) -> RoundTripReport:  # fmt: skip
    """Read chunks, normalise them with their own statistics, fit, save (tokenizer + action_stats.json), report.

    The statistics are saved beside the tokenizer: build the token-head policy with the same ones
    (``load_action_stats(out)``) so that its normalised chunks are the ones the tokenizer saw.
    """
    import json

    from dexego.actions import Normalizer, get_space

    if max_chunks is not None and max_chunks < 1:
        raise ConfigError(f"max_chunks must be at least 1, got {max_chunks}")
    log(f"reading action chunks from {dataset} ...")
    chunks, valid = dataset_chunks(dataset, horizon, action_space, max_chunks)
    stats = chunk_stats(chunks, valid)
    skip = get_space(action_space).part_mask("wrist_rot6d")
    normalised = Normalizer(stats, normalization, skip=skip).normalize(chunks.astype(np.float64)).astype(np.float32)
    normalised = np.where(np.repeat(valid, chunks.shape[-1] // 2, axis=-1), normalised, 0.0)
    log(f"fitting a {kind} tokenizer on {len(chunks)} chunks of shape {chunks.shape[1:]} ...")
    last = [0]

    def progress(step: int, loss: float) -> None:
        if step - last[0] >= 250:
            last[0] = step
            log(f"  step {step}: loss {loss:.4f}")

    tokenizer = fit_tokenizer(kind, normalised, overrides=overrides, progress=progress)
    report = round_trip_report(tokenizer, normalised)
    stats_json = {"normalization": normalization, "stats": {k: v.tolist() for k, v in stats.items()}}
    with atomic_directory(out) as tmp:  # the tokenizer and its statistics appear together or not at all
        tokenizer.save(tmp)
        (tmp / STATS_FILE).write_text(json.dumps(stats_json))
    log(f"saved {out}: vocabulary {tokenizer.vocab_size}; {report.summary()} (normalised units)")
    return report


def load_action_stats(directory: str) -> dict[str, np.ndarray]:
    """The action statistics a tokenizer was fitted with (written by ``fit_dataset_tokenizer``)."""
    from pathlib import Path

    from dexego.utils.files import read_json

    data = read_json(Path(directory) / STATS_FILE, "action statistics of the tokenizer", expect=dict)
    return {k: np.asarray(v, dtype=np.float64) for k, v in data.get("stats", {}).items()}
