"""A deterministic, resumable sampler over a weighted mixture of datasets.

The order of an epoch is a pure function of (seed, epoch), so a resumed run
draws exactly the samples the interrupted one would have drawn: the trainer
sets the epoch and the number of samples already consumed in it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch


class MixtureSampler(torch.utils.data.Sampler[int]):
    """Indices into the concatenation of datasets of ``sizes``, each drawn in proportion to its weight.

    Without weights, an epoch is every sample once.
    An epoch has ``num_samples`` indices (default: the total size). Source i
    contributes ``round(num_samples * w_i / sum(w))`` of them: a random
    subset of its samples, or whole shuffled passes plus a subset when it is
    up-weighted beyond its size. The result is shuffled. With several
    processes, each takes every ``world_size``-th index from ``rank`` (the
    tail that does not divide evenly is dropped), like DistributedSampler.
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
        natural = weights is None
        weights = [1.0] * len(sizes) if natural else list(weights)
        if len(weights) != len(sizes) or any(not w > 0 for w in weights):
            raise ValueError("one positive weight per dataset is needed")
        self.sizes = [int(s) for s in sizes]
        self.seed = seed
        self.num_samples = int(num_samples) if num_samples else sum(self.sizes)
        total = sum(weights)
        if natural and num_samples is None:
            self.counts = list(self.sizes)  # no weights: every sample once per epoch
        else:
            self.counts = [round(self.num_samples * w / total) for w in weights]
            self.num_samples = sum(self.counts)
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
