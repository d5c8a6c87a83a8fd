"""Dataset mixtures: the entries, the mixture file reader, and the one sampling rule.

A mixture is a list of datasets, each with either

- ``weight``: its share of the drawn samples relative to the other datasets' weights, whatever
  its size (a per-dataset probability: a sample comes from dataset i with probability
  ``w_i / sum(w)``); give a weight to every dataset or to none; or
- ``scale`` (default 1): a multiplier on its natural share. Every sample of dataset i is drawn
  ``scale_i`` times per epoch in expectation (a per-sample rate), so EgoVLA's "HoloAssist at
  1/10" is ``scale = 0.1`` beside the others at 1.

An epoch draws ``round(N * q_i / sum(q))`` samples from dataset i, where ``q`` are the
:func:`epoch_quotas` (``scale_i * n_i`` or ``sum(n) * w_i / sum(w)`` for datasets of ``n_i``
samples) and ``N`` defaults to ``round(sum(q))``: whole shuffled passes over a dataset, then a
random part of one. Without weight or scale that is every sample once. :class:`MixtureSampler`
realises it for map-style datasets (deterministic, resumable, sharded across processes), and
``dexego.data.loader.SampleStream`` for the block-sequential stream.

Mixture files (TOML; relative paths are relative to the file, or to ``root`` when given,
itself relative to the file)::

    root = "../../data"      # optional
    [[datasets]]
    path = "hoi4d"
    [[datasets]]
    path = "holoassist"
    scale = 0.1
    name = "holoassist"      # optional; the default is the folder name (it seeds the split)
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch

from dexego.errors import ConfigError, InputError


@dataclass(frozen=True)
class MixtureEntry:
    """One dataset of a mixture: ``weight`` (share relative to the others) or ``scale`` (x its natural share)."""

    path: str
    weight: float | None = None
    name: str | None = None  # defaults to the folder name (it seeds the train/validation split)
    scale: float | None = None

    def __post_init__(self):
        if not self.path:
            raise ValueError("path must not be empty")
        if self.weight is not None and self.scale is not None:
            raise ValueError("give weight or scale, not both")
        for key in ("weight", "scale"):
            value = getattr(self, key)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{key} must be > 0, got {value} (leave a dataset out to exclude it)")

    @property
    def label(self) -> str:
        return self.name or Path(self.path).name


def check_entries(entries: Sequence[MixtureEntry]) -> None:
    """Rules across the entries of one mixture (``ValueError``)."""
    weighted = [e.weight is not None for e in entries]
    if any(weighted) and not all(weighted):  # so weight and scale never mix either
        raise ValueError("give a weight to every dataset of the mixture, or to none (and scale the natural shares)")


def epoch_quotas(entries: Sequence[MixtureEntry], sizes: Sequence[int]) -> np.ndarray:
    """Expected samples per epoch from each dataset, given their sample counts ``sizes``."""
    check_entries(entries)
    if len(entries) != len(sizes):
        raise ValueError(f"{len(entries)} mixture entries but {len(sizes)} dataset sizes")
    sizes_ = np.asarray(sizes, dtype=np.float64)
    if entries and entries[0].weight is not None:
        weights = np.array([e.weight for e in entries], dtype=np.float64)
        return sizes_.sum() * weights / weights.sum()
    return sizes_ * np.array([1.0 if e.scale is None else e.scale for e in entries])


def epoch_counts(quotas: Sequence[float], num_samples: int | None = None) -> list[int]:
    """Samples drawn from each dataset in an epoch of ``num_samples`` (default, or 0: the quotas' sum)."""
    quotas_ = [float(q) for q in quotas]
    total = sum(quotas_)
    if not total > 0:
        raise ConfigError("mixture weights sum to zero")
    n = int(num_samples) if num_samples else round(total)
    return [round(n * q / total) for q in quotas_]


class MixtureSampler(torch.utils.data.Sampler[int]):
    """Indices into the concatenation of datasets of ``sizes``, each drawn in proportion to its weight.

    ``weights`` are relative shares (``None``: every sample once). ``num_samples`` sets the
    epoch length (default: the total size). Dataset i contributes
    ``round(num_samples * w_i / sum(w))`` indices: whole shuffled passes, then a random part of
    one. The result is shuffled, and is a pure function of (seed, epoch), so a resumed run draws
    what the interrupted one would have. With several processes, each takes every
    ``world_size``-th index from ``rank`` (the tail that does not divide evenly is dropped),
    like DistributedSampler.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        weights: Sequence[float] | None = None,
        seed: int = 0,
        num_samples: int | None = None,
        rank: int = 0,
        world_size: int = 1,
    ):
        if not sizes or any(s < 1 for s in sizes):
            raise ValueError(f"every dataset of the mixture needs at least one sample, got sizes {list(sizes)}")
        self.sizes = [int(s) for s in sizes]
        if weights is None:
            quotas = np.asarray(self.sizes, dtype=np.float64)
        else:
            weights = list(weights)
            if len(weights) != len(sizes) or any(not w > 0 for w in weights):
                raise ValueError("one positive weight per dataset is needed")
            quotas = sum(self.sizes) * np.asarray(weights, dtype=np.float64) / sum(weights)
        self.counts = epoch_counts(quotas, num_samples if num_samples else sum(self.sizes))
        self.num_samples = sum(self.counts)
        self.seed = seed
        self.offsets = [sum(self.sizes[:i]) for i in range(len(self.sizes))]
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.start = 0

    def set_start(self, start: int) -> None:
        """Skip this process's first ``start`` indices of the current epoch (consumed before a restart)."""
        self.start = start

    def epoch_indices(self, epoch: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        parts = []
        for size, count, offset in zip(self.sizes, self.counts, self.offsets):
            passes = [torch.randperm(size, generator=generator) for _ in range(-(-count // size))]
            parts.append(torch.cat(passes)[:count] + offset if passes else torch.empty(0, dtype=torch.long))
        indices = torch.cat(parts)
        return indices[torch.randperm(len(indices), generator=generator)]

    @property
    def per_process(self) -> int:
        """Indices each process gets in a full epoch."""
        return self.num_samples // self.world_size

    def __iter__(self) -> Iterator[int]:
        indices = self.epoch_indices(self.epoch)[: self.per_process * self.world_size]
        return iter(indices[self.rank :: self.world_size][self.start :].tolist())

    def __len__(self) -> int:
        return self.per_process - self.start


_ENTRY_KEYS = tuple(f.name for f in fields(MixtureEntry))
_TOP_KEYS = ("datasets", "root")


def read_mixture(path: str | Path) -> tuple[MixtureEntry, ...]:
    """The entries of a mixture file, with paths made absolute; errors name the file and the field."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(path, None, "mixture file not found") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(path, None, f"cannot read the mixture file: {exc}") from None
    unknown = sorted(set(data) - set(_TOP_KEYS))
    if unknown:
        raise InputError(path, unknown[0], f"unknown key; valid: {', '.join(_TOP_KEYS)}")
    root = data.get("root", ".")
    if not isinstance(root, str):
        raise InputError(path, "root", f"expected a folder path, got {root!r}")
    base = path.parent / root
    tables = data.get("datasets")
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise InputError(path, "datasets", "expected [[datasets]] tables with a path (and weight or scale)")
    entries = []
    for i, table in enumerate(tables):
        field = f"datasets[{i}]"
        unknown = sorted(set(table) - set(_ENTRY_KEYS))
        if unknown:
            raise InputError(path, f"{field}.{unknown[0]}", f"unknown key; valid: {', '.join(_ENTRY_KEYS)}")
        if not isinstance(table.get("path"), str):
            raise InputError(path, f"{field}.path", "expected a dataset folder path")
        for key in ("weight", "scale"):
            if key in table and (isinstance(table[key], bool) or not isinstance(table[key], (int, float))):
                raise InputError(path, f"{field}.{key}", f"expected a number, got {table[key]!r}")
        dataset = Path(table["path"])
        try:
            entries.append(MixtureEntry(**{**table, "path": str(dataset if dataset.is_absolute() else base / dataset)}))
        except (TypeError, ValueError) as exc:
            raise InputError(path, field, str(exc)) from None
    try:
        check_entries(entries)
    except ValueError as exc:
        raise InputError(path, "datasets", str(exc)) from None
    return tuple(entries)


def check_dataset_paths(entries: Sequence[MixtureEntry], field: str, mixture_file: str | Path | None = None) -> None:
    """Every dataset exists; errors name ``field[i].path`` and the mixture file (else the dataset's path)."""
    for i, entry in enumerate(entries):
        dataset = Path(entry.path)
        origin, detail = (dataset, "") if mixture_file is None else (mixture_file, f": {dataset}")
        if not dataset.is_dir():
            raise InputError(origin, f"{field}[{i}].path", f"dataset not found{detail}")
        if not (dataset / "meta" / "info.json").is_file():
            raise InputError(origin, f"{field}[{i}].path", f"not a dataset (meta/info.json is missing){detail}")
