"""Torch datasets and loaders over one dataset or a weighted mixture.

Two paths:

- ``SampleDataset``: map-style random access (one sample per index). ``dexego train`` uses it (built by
  ``dexego.train.build.build_stage_data``) because a resumed run addresses exactly the samples it has not
  seen; its samples read the decoded-frame cache (``dexego.data.frame_cache``), and decoders stay open and
  decode forward when requests are close together.
- ``SampleStream`` (``make_loader``, for loops of your own): an IterableDataset that plans each
  epoch as a deterministic shuffled list of *blocks* (a few seconds of one
  episode). A worker decodes a block's frames in one forward sweep of an open
  decoder and builds all its samples, which pass through a shuffle buffer.
  No per-sample seek: decoding cost is that of the footage itself.

Mixtures (``dexego.data.mixtures``): each dataset gets a weight or a scale; an
epoch draws its quota of samples from each (over- or under-sampling blocks).
Train/validation splits are by episode, from a stable hash of (seed, dataset name, episode).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from torch.utils.data import DataLoader, IterableDataset, get_worker_info
from torch.utils.data import Dataset as TorchDataset

from dexego.data import features as F
from dexego.data.augment import FlipConfig, flip_signs
from dexego.data.episode import instruction_text
from dexego.data.frame_cache import FrameCache, prepare_frame_cache
from dexego.data.mixtures import MixtureEntry, MixtureSampler, epoch_counts, epoch_quotas
from dexego.data.reader import Dataset
from dexego.data.samples import (
    SampleConfig,
    anchor_frames,
    build_samples,
    future_frame_index,
    history_frames,
    plan_at,
    require_action_space,
    require_dexego,
)
from dexego.errors import ConfigError, InputError


@dataclass(frozen=True)
class LoaderConfig:
    """Datasets (a mixture), sample options, validation split and batching of :func:`make_loader`."""

    datasets: tuple[MixtureEntry, ...] = ()
    sample: SampleConfig = field(default_factory=SampleConfig)
    val_fraction: float = 0.05
    seed: int = 0
    batch_size: int = 32
    num_workers: int = 2
    mode: Literal["stream", "random"] = "stream"
    block_seconds: float = 10.0  # footage decoded in one sweep by the stream path
    shuffle_buffer: int = 256
    samples_per_epoch: int | None = None  # None: every anchor of the selected episodes once


def split_episodes(
    num_episodes: int, val_fraction: float, seed: int = 0, name: str = ""
) -> tuple[list[int], list[int]]:
    """(train, validation) episode indices; stable when episodes are appended later."""
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}")
    keys = [_unit_hash(f"{seed}:{name}:{ep}") for ep in range(num_episodes)]
    val = [ep for ep, k in enumerate(keys) if k < val_fraction]
    if val_fraction > 0 and not val and num_episodes >= 2:
        val = [int(np.argmin(keys))]
    val_set = set(val)
    return [ep for ep in range(num_episodes) if ep not in val_set], val


def _unit_hash(text: str) -> float:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") / 2**64


class SampleSource:
    """One dataset opened for sampling, restricted to some episodes."""

    def __init__(
        self,
        path: str | Path,
        config: SampleConfig,
        episodes: list[int] | None = None,
        name: str | None = None,
        flip: FlipConfig | None = None,
        dataset: Dataset | None = None,
    ):
        """``dataset``: the dataset at ``path`` already open at ``config.image_size`` (shared by the sources of one
        dataset, so that it is opened once); default: opened here."""
        self.path = Path(path)
        self.flip = flip or FlipConfig()  # training sources only: validation never flips
        if self.flip.probability > 0.0:
            try:
                flip_signs(config.action_space)
            except ValueError as exc:
                raise ConfigError(f"flip augmentation of {self.path}: {exc}") from None
        self.epoch = 0  # set by the sampler's owner (set_epoch) so that flips differ between epochs
        self.name = name or self.path.name
        self.config = config
        if dataset is not None and tuple(dataset.image_size or ()) != tuple(config.image_size):
            raise ConfigError(
                f"{self.path}: the dataset is open at image size {dataset.image_size}, the samples need {config.image_size}"
            )
        self.dataset = dataset if dataset is not None else Dataset(self.path, image_size=config.image_size)
        require_dexego(self.dataset.features, self.path / "meta/info.json")
        require_action_space(self.dataset.features, config.action_space, self.path)
        self.episodes = list(range(self.dataset.num_episodes)) if episodes is None else list(episodes)
        self.dataset.check_files(self.episodes)  # the checks of `dexego data validate`, before any sample is drawn
        self.fps = float(self.dataset.fps)
        self.anchors = {
            ep: anchor_frames(int(self.dataset.episode_lengths[ep]), self.fps, config.samples_per_second)
            for ep in self.episodes
        }
        video = self.dataset.features.get(F.VIDEO_KEY)
        self.stored_size = tuple(video["shape"][:2]) if video else None
        self._meta: dict[int, dict] = {}
        self.frame_cache: FrameCache | None = None

    def prepare_frame_cache(self, progress: bool = True) -> FrameCache | None:
        """Decode the episodes' frames once into the cache (per ``config.frame_cache``); samples then read it."""
        c = self.config
        self.frame_cache = prepare_frame_cache(
            self.dataset, self.episodes, c.frame_cache, c.frame_cache_max_gib, c.frame_cache_dir, progress
        )
        return self.frame_cache

    @property
    def num_samples(self) -> int:
        return int(sum(len(a) for a in self.anchors.values()))

    def _episode_meta(self, episode: int) -> dict:
        if episode not in self._meta:
            meta = self.dataset.episode_meta(episode)
            meta["episode_index"] = episode
            for key, feature in (("robot_state_names", F.ROBOT_STATE), ("robot_action_names", F.ROBOT_ACTION)):
                meta[key] = self.dataset.features.get(feature, {}).get("names")
            self._meta[episode] = meta
        return self._meta[episode]

    def samples(self, episode: int, anchors) -> list[dict]:
        """Samples at ``anchors`` of one episode; their frames are decoded in one forward sweep."""
        columns = self.dataset.episode_columns(episode)
        plans = [history_frames(int(a), self.fps, self.config) for a in anchors]
        images: list = [None] * len(plans)
        future: list = []
        if self.config.future_frame:
            if not self.dataset.video_keys:
                raise InputError(
                    self.path, F.VIDEO_KEY, "future frames (visual-dynamics tokens) need the dataset's video"
                )
            length = int(self.dataset.episode_lengths[episode])
            future = [future_frame_index(int(a), length, self.fps, self.config) for a in anchors]
        if self.dataset.video_keys:
            needed = np.unique(np.concatenate([p[0] for p in plans] + [np.asarray(future, dtype=np.int64)]))
            # Channels-first once per decoded frame; each frame serves several samples.
            cache = self.frame_cache if self.frame_cache is not None and episode in self.frame_cache else self.dataset
            block = np.ascontiguousarray(cache.frames(episode, needed).transpose(0, 3, 1, 2))
            images = [block[np.searchsorted(needed, indices)] for indices, _ in plans]
        tasks = [instruction_text(self.dataset.tasks[int(columns[F.TASK_INDEX][a])]) for a in anchors]
        where = f"{self.path} (episode {episode})"
        samples = build_samples(
            columns, images, anchors, self.fps, self.config, self.stored_size, self._episode_meta(episode), tasks, where
        )
        for sample, index in zip(samples, future):
            sample["future_image"] = block[np.searchsorted(needed, index)]
        if self.config.plan:
            meta = self._episode_meta(episode)
            for sample, anchor, task in zip(samples, anchors, tasks):
                sample["plan"] = plan_at(meta, int(anchor), task)
        if self.flip.probability > 0.0:
            try:
                samples = [self.flip.apply(s, self.config.action_space, self.name, self.epoch) for s in samples]
            except ValueError as exc:
                raise ConfigError(f"flip augmentation of {where}: {exc}") from None
        return samples

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)


def open_sources(
    config: LoaderConfig, split: Literal["train", "val", "all"] = "train"
) -> tuple[list[SampleSource], np.ndarray]:
    """The datasets' sources and their quotas (expected samples per epoch, ``dexego.data.mixtures.epoch_quotas``)."""
    if not config.datasets:
        raise ConfigError("the loader config names no datasets (datasets = [{path = ..., weight = ...}])")
    sources = []
    for entry in config.datasets:
        probe = Dataset(entry.path)
        train, val = split_episodes(probe.num_episodes, config.val_fraction, config.seed, entry.label)
        episodes = {"train": train, "val": val, "all": None}[split]
        sources.append(SampleSource(entry.path, config.sample, episodes, entry.label))
    try:
        return sources, epoch_quotas(config.datasets, [s.num_samples for s in sources])
    except ValueError as exc:
        raise ConfigError(f"loader datasets: {exc}") from None


class SampleStream(IterableDataset):
    """Block-sequential decoding + shuffle buffer; deterministic for a given (seed, epoch, num_workers).

    ``quotas``: each source's expected samples per epoch (from :func:`open_sources`); the epoch
    has ``config.samples_per_epoch`` samples or, by default, the quotas' sum.
    """

    def __init__(self, sources: list[SampleSource], quotas: np.ndarray, config: LoaderConfig):
        self.sources, self.config = sources, config
        self.counts = epoch_counts(quotas, config.samples_per_epoch)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        for source in self.sources:
            source.set_epoch(epoch)

    def __len__(self) -> int:
        return sum(self.counts)

    def plan(self, epoch: int | None = None) -> list[tuple[int, int, np.ndarray]]:
        """The epoch's blocks (source, episode, anchors) in order."""
        rng = np.random.default_rng([self.config.seed, self.epoch if epoch is None else epoch])
        per_block = max(1, int(round(self.config.block_seconds * self.config.sample.samples_per_second)))
        blocks = []
        for sid, (source, target) in enumerate(zip(self.sources, self.counts)):
            own = [
                (sid, ep, a[i : i + per_block]) for ep, a in source.anchors.items() for i in range(0, len(a), per_block)
            ]
            if not own or target == 0:
                continue
            taken = 0
            while taken < target:
                for k in rng.permutation(len(own)):
                    sid_, ep, anchors = own[k]
                    anchors = anchors[: target - taken]
                    blocks.append((sid_, ep, anchors))
                    taken += len(anchors)
                    if taken >= target:
                        break
        order = rng.permutation(len(blocks))
        return [blocks[i] for i in order]

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        blocks = self.plan()[worker::workers]
        rng = np.random.default_rng([self.config.seed, self.epoch, worker, 7])
        buffer: list[dict] = []
        for sid, episode, anchors in blocks:
            buffer.extend(self.sources[sid].samples(episode, anchors))
            while len(buffer) >= self.config.shuffle_buffer:
                yield buffer.pop(int(rng.integers(len(buffer))))
        while buffer:
            yield buffer.pop(int(rng.integers(len(buffer))))


class SampleDataset(TorchDataset):
    """Map-style: item i is one (source, episode, anchor)."""

    def __init__(self, sources: list[SampleSource]):
        self.sources = sources
        # grouped by source, in order: the layout dexego.data.mixtures.MixtureSampler indexes
        self.items = [
            (sid, ep, int(a)) for sid, s in enumerate(sources) for ep, anchors in s.anchors.items() for a in anchors
        ]

    def __len__(self) -> int:
        return len(self.items)

    def set_epoch(self, epoch: int) -> None:
        """Tell the sources the epoch (flip augmentation draws per epoch)."""
        for source in self.sources:
            source.set_epoch(epoch)

    def __getitem__(self, i: int) -> dict:
        sid, episode, anchor = self.items[i]
        return self.sources[sid].samples(episode, [anchor])[0]


def make_loader(config: LoaderConfig, split: Literal["train", "val", "all"] = "train", epoch: int = 0) -> DataLoader:
    """A DataLoader of training samples (batched by the default collate)."""
    sources, quotas = open_sources(config, split)
    common: dict[str, Any] = dict(
        batch_size=config.batch_size, num_workers=config.num_workers, persistent_workers=False
    )
    if config.mode == "stream":
        stream = SampleStream(sources, quotas, config)
        stream.set_epoch(epoch)
        return DataLoader(stream, **common)
    for source in sources:  # random access: decode each episode once instead of per sample
        source.prepare_frame_cache()
    dataset = SampleDataset(sources)
    sizes = [s.num_samples for s in sources]
    sampler = MixtureSampler(
        sizes, quotas, seed=config.seed, num_samples=sum(epoch_counts(quotas, config.samples_per_epoch))
    )
    sampler.set_epoch(epoch)
    return DataLoader(dataset, sampler=sampler, **common)


def epochs_needed(samples: int, config: LoaderConfig, per_epoch: int) -> int:
    return max(1, math.ceil(samples / max(per_epoch, 1)))
