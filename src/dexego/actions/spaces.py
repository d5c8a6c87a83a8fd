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
    # Robot action spaces (dexego.actions.robot): the robot, the hand space a padded space builds on ("" for none),
    # and per dimension of the ``joints`` part (left, then right) the joint name ("" = padding), limits and
    # whether the robot has it. ``human_parts``: the parts a human sample carries (None: every part).
    robot: str = ""
    hand_space: str = ""
    joint_names: tuple[str, ...] = ()
    joint_lower: tuple[float, ...] = ()
    joint_upper: tuple[float, ...] = ()
    joint_carried: tuple[bool, ...] = ()
    human_parts: tuple[str, ...] | None = None

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
        """One name per dimension, e.g. ``left.wrist_pos.0`` (LeRobot's ``names`` field); joints by their names."""
        out = []
        for h, side in enumerate(SIDES):
            for part, size in self.parts:
                for i in range(size):
                    joint = self.joint_names[h * size + i] if part == "joints" and self.joint_names else ""
                    out.append(f"{side}.{part}.{joint or i}")
        return out

    @property
    def is_robot(self) -> bool:
        return bool(self.robot)

    @property
    def masked(self) -> bool:
        """Whether samples of this space carry a per-dimension mask (robot spaces)."""
        return self.is_robot

    def joint_index(self) -> np.ndarray:
        """Indices (in the full vector) of the ``joints`` part, left then right (empty for hand spaces)."""
        if "joints" not in self.part_names:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([np.arange(self.dim)[self.part_slice("joints", h)] for h in range(2)])

    def carried(self, robot: bool) -> np.ndarray:
        """Boolean (dim,) mask of the dimensions a robot (True) or a human (False) sample carries."""
        if robot:
            mask = np.ones(self.dim, dtype=bool)
            if self.joint_carried:
                mask[self.joint_index()] = np.asarray(self.joint_carried, dtype=bool)
            return mask
        if self.human_parts is None:
            return np.ones(self.dim, dtype=bool)
        return self.part_mask(*self.human_parts) if self.human_parts else np.zeros(self.dim, dtype=bool)

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
# Hand spaces a padded space can be built on (the MANO space needs a MANO file to decode, it works the same).
HAND_SPACES = ("ego48", "kp21", "mano")
ROBOT_PREFIX = "robot:"  # robot action spaces (dexego.actions.robot): "robot:NAME" and "HAND+robot:NAME"


def split_space_name(name: str) -> tuple[str, str] | None:
    """``"ego48+robot:X"`` -> ("ego48", "X"); ``"robot:X"`` -> ("", "X"); a hand-space name -> None."""
    hand, sep, robot = name.rpartition(ROBOT_PREFIX)
    if not sep:
        return None
    hand = hand.removesuffix("+")
    if hand and hand not in HAND_SPACES:
        raise ConfigError(f"action space {name!r}: {hand!r} is not a hand space ({', '.join(HAND_SPACES)})")
    if not robot:
        raise ConfigError(f"action space {name!r} names no robot")
    return hand, robot


def get_space(name: str | ActionSpace) -> ActionSpace:
    if isinstance(name, ActionSpace):
        return name
    try:
        return SPACES[name]
    except KeyError:
        pass
    if split_space_name(name) is not None:
        raise ConfigError(f"robot action space {name!r} is not declared: give the robot's description (model.robot) "
                          "so its joints are known") from None  # fmt: skip
    raise ConfigError(
        f"unknown action space {name!r}; known: {', '.join(SPACES)}, robot:NAME, ego48+robot:NAME"
    ) from None
