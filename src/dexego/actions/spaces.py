"""Action-space layouts: named slices of the unified hand action vector.

Every vector holds the left hand, then the right hand; each hand is a
sequence of named parts. ``ego48`` is the default (DESIGN.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dexego.errors import ConfigError
from dexego.hands.layout import FINGERTIPS, SIDES, side_index


@dataclass(frozen=True)
class ActionSpace:
    """A per-hand layout repeated for (left, right)."""

    name: str
    parts: tuple[tuple[str, int], ...]  # (part name, size) in order, for one hand
    description: str
    # Keypoints a source must provide (finite) to encode this space from keypoints; () if it cannot.
    required_keypoints: tuple[int, ...] = ()

    @property
    def hand_dim(self) -> int:
        return sum(size for _, size in self.parts)

    @property
    def dim(self) -> int:
        return 2 * self.hand_dim

    @property
    def part_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.parts)

    def part_slice(self, part: str, side: str | int) -> slice:
        """The slice of ``part`` of one hand ("left"/"right" or 0/1) in the full vector."""
        hand = side if isinstance(side, int) else side_index(side)
        offset = hand * self.hand_dim
        for name, size in self.parts:
            if name == part:
                return slice(offset, offset + size)
            offset += size
        raise KeyError(f"action space {self.name!r} has no part {part!r} (parts: {', '.join(self.part_names)})")

    def hand_slice(self, side: str | int) -> slice:
        hand = side if isinstance(side, int) else side_index(side)
        return slice(hand * self.hand_dim, (hand + 1) * self.hand_dim)

    def part_mask(self, *parts: str) -> np.ndarray:
        """Boolean (dim,) mask selecting ``parts`` of both hands."""
        mask = np.zeros(self.dim, dtype=bool)
        for part in parts:
            for side in SIDES:
                mask[self.part_slice(part, side)] = True
        return mask

    def names(self) -> list[str]:
        """One name per dimension, e.g. ``left.wrist_pos.0`` (LeRobot's ``names`` field)."""
        return [f"{side}.{part}.{i}" for side in SIDES for part, size in self.parts for i in range(size)]

    def dim_mask(self, valid: np.ndarray) -> np.ndarray:
        """Per-hand validity (..., 2) -> per-dimension mask (..., dim)."""
        valid = np.asarray(valid, dtype=bool)
        if valid.shape[-1] != 2:
            raise ValueError(f"hand validity must have shape (..., 2), got {valid.shape}")
        return np.repeat(valid, self.hand_dim, axis=-1)


_WRIST = (("wrist_pos", 3), ("wrist_rot6d", 6))

EGO48 = ActionSpace(
    name="ego48",
    parts=_WRIST + (("fingertips", 15),),
    description="wrist position + rot6d in the current camera frame, 5 fingertips in the wrist frame (24 per hand)",
    required_keypoints=(0, 5, 9, 17) + FINGERTIPS,
)
KP21 = ActionSpace(
    name="kp21",
    parts=_WRIST + (("keypoints", 60),),
    description="wrist position + rot6d in the current camera frame, the 20 other keypoints in the wrist frame (69 per hand)",
    required_keypoints=tuple(range(21)),
)
MANO = ActionSpace(
    name="mano",
    parts=(("wrist_pos", 3), ("wrist_rot6d", 6), ("mano_pca", 15)),
    description="MANO root position + rot6d in the current camera frame, 15 MANO PCA coefficients (24 per hand; needs a MANO file)",
)

SPACES: dict[str, ActionSpace] = {space.name: space for space in (EGO48, KP21, MANO)}


def get_space(name: str | ActionSpace) -> ActionSpace:
    if isinstance(name, ActionSpace):
        return name
    try:
        return SPACES[name]
    except KeyError:
        raise ConfigError(f"unknown action space {name!r}; known: {', '.join(SPACES)}") from None
