"""Inference-only cache of per-frame patch features (opt-in: ``Policy.set_frame_cache``).

At inference a policy is queried at consecutive steps; the history frames of
one query were the current frames of earlier queries. The tiny backbone's
patch features of a frame (resize + patch embedding + spatial position)
depend only on that frame and the weights, so they can be reused. Frames are
found by content: a hash of their bytes picks the candidates and a full
comparison confirms a hit, so a hit is never a different frame. The cache
empties itself when the embedding weights change (training, loading).
Features computed for one frame or for a batch of frames agree up to float
rounding.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch


class FrameFeatureCache:
    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[tuple, list[tuple[torch.Tensor, torch.Tensor]]] = OrderedDict()
        self._count = 0
        self._weights_key: tuple = ()

    def __len__(self) -> int:
        return self._count

    def clear(self) -> None:
        self._entries.clear()
        self._count = 0

    def features(self, frames: torch.Tensor, embed: Callable[[torch.Tensor], torch.Tensor],
                 weights: tuple[torch.Tensor, ...]) -> torch.Tensor:  # fmt: skip
        """``frames`` (N, 3, H, W) -> ``embed(frames)`` (N, P, W), computing only the frames not seen before."""
        weights_key = tuple((w.data_ptr(), w._version) for w in weights)
        if weights_key != self._weights_key:
            self.clear()
            self._weights_key = weights_key
        keys = [self._key(frame) for frame in frames]
        found = [self._lookup(key, frame) for key, frame in zip(keys, frames)]
        missing = [i for i, f in enumerate(found) if f is None]
        self.hits += len(frames) - len(missing)
        self.misses += len(missing)
        if missing:
            computed = embed(frames[missing])
            for j, i in enumerate(missing):
                found[i] = computed[j]
                self._store(keys[i], frames[i], computed[j])
        return torch.stack(found)

    @staticmethod
    def _key(frame: torch.Tensor) -> tuple:
        data = frame.contiguous().cpu().numpy().tobytes()
        return (hash(data), tuple(frame.shape), frame.dtype)

    def _lookup(self, key: tuple, frame: torch.Tensor) -> torch.Tensor | None:
        for stored, features in self._entries.get(key, ()):
            if torch.equal(stored, frame):
                self._entries.move_to_end(key)
                return features
        return None

    def _store(self, key: tuple, frame: torch.Tensor, features: torch.Tensor) -> None:
        self._entries.setdefault(key, []).append((frame.clone(), features))
        self._entries.move_to_end(key)
        self._count += 1
        while self._count > self.capacity:
            _, dropped = self._entries.popitem(last=False)
            self._count -= len(dropped)
