"""``Episode``: one recording handed to the dataset writer (the cross-package contract)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dexego.actions import get_space
from dexego.data.features import STORED_SPACE, mano_hand_dim
from dexego.errors import InputError
from dexego.geometry import Intrinsics


@dataclass
class Episode:
    """A recording: video, world-frame hands, camera poses and instructions.

    ``intrinsics`` is one :class:`Intrinsics` or per-frame (T, 4) fx, fy, cx, cy,
    at the size of ``frames``. ``instructions`` are (start, end_exclusive, text)
    segments; frames outside every segment get the empty task "".
    """

    keypoints_world: np.ndarray  # (T, 2, 21, 3) float32, NaN where unknown
    hand_valid: np.ndarray  # (T, 2) bool
    world_from_camera: np.ndarray  # (T, 4, 4)
    intrinsics: Intrinsics | np.ndarray
    frames: np.ndarray | None = None  # (T, H, W, 3) uint8 RGB
    fps: float = 30.0
    instructions: list[tuple[int, int, str]] = field(default_factory=list)
    source: str = "unknown"
    embodiment: str = "human"
    robot_state: np.ndarray | None = None  # (T, S)
    robot_action: np.ndarray | None = None  # (T, A)
    robot_state_names: list[str] | None = None
    robot_action_names: list[str] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    # (T, 2, 24) float32 MANO hands in the world frame (dexego.data.features: observation.hands.mano), NaN where invalid
    hand_mano: np.ndarray | None = None

    @property
    def length(self) -> int:
        return int(np.shape(self.keypoints_world)[0])

    def intrinsics_array(self) -> np.ndarray:
        """Per-frame (T, 4) fx, fy, cx, cy."""
        if isinstance(self.intrinsics, Intrinsics):
            return np.broadcast_to(self.intrinsics.vector.astype(np.float32), (self.length, 4)).copy()
        return np.asarray(self.intrinsics, dtype=np.float32)

    def check(self, where: str) -> None:
        """Raise :class:`InputError` naming ``where`` and the field for the first problem found."""
        n = self.length
        if n < 1:
            raise InputError(where, "keypoints_world", "an episode needs at least one frame")
        _shape(where, "keypoints_world", self.keypoints_world, (n, 2, 21, 3))
        _shape(where, "hand_valid", self.hand_valid, (n, 2))
        _shape(where, "world_from_camera", self.world_from_camera, (n, 4, 4))
        if not np.isfinite(self.world_from_camera).all():
            bad = int(np.nonzero(~np.isfinite(self.world_from_camera).reshape(n, -1).all(1))[0][0])
            raise InputError(where, "world_from_camera", f"NaN or inf camera pose at frame {bad}")
        intr = self.intrinsics_array()
        _shape(where, "intrinsics", intr, (n, 4))
        if not np.isfinite(intr).all() or (intr[:, :2] <= 0).any():
            raise InputError(where, "intrinsics", "intrinsics must be finite with fx, fy > 0")
        valid = np.asarray(self.hand_valid, dtype=bool)
        needed = np.asarray(self.keypoints_world)[:, :, list(get_space(STORED_SPACE).required_keypoints)]
        bad = valid & ~np.isfinite(needed).all(axis=(-1, -2))
        if bad.any():
            t, h = (int(v) for v in np.argwhere(bad)[0])
            raise InputError(
                where,
                "keypoints_world",
                f"NaN or inf keypoints of the {('left', 'right')[h]} hand marked valid at frame {t}",
            )
        if self.hand_mano is not None:
            _check_mano(where, self.hand_mano, valid)
        if self.frames is not None:
            frames = self.frames
            if frames.ndim != 4 or frames.shape[0] != n or frames.shape[-1] != 3:
                raise InputError(where, "frames", f"expected shape ({n}, H, W, 3), got {tuple(frames.shape)}")
            if frames.dtype != np.uint8:
                raise InputError(where, "frames", f"expected uint8 RGB, got {frames.dtype}")
        if not (self.fps > 0 and np.isfinite(self.fps)):
            raise InputError(where, "fps", f"must be positive, got {self.fps}")
        for name in ("robot_state", "robot_action"):
            value = getattr(self, name)
            if value is not None:
                value = np.asarray(value)
                if value.ndim != 2 or value.shape[0] != n:
                    raise InputError(where, name, f"expected shape ({n}, dim), got {tuple(value.shape)}")
                if not np.isfinite(value).all():
                    raise InputError(where, name, "contains NaN or inf")
        for i, seg in enumerate(self.instructions):
            if len(seg) != 3:
                raise InputError(where, f"instructions[{i}]", "expected (start, end_exclusive, text)")
            start, end, text = seg
            if not (0 <= start < end <= n) or not isinstance(text, str):
                raise InputError(
                    where, f"instructions[{i}]", f"segment ({start}, {end}) is outside 0..{n} or text is not a string"
                )
        task_of_frame(self.instructions, n, where)

    def task_per_frame(self) -> list[str]:
        return task_of_frame(self.instructions, self.length, "episode")


NO_INSTRUCTION = ""  # a frame nobody described: no language conditioning (the actions still train)
LEGACY_PLACEHOLDERS = frozenset({"<uncaptioned>"})  # texts older annotate runs stored for uncaptioned segments


def instruction_text(text: str) -> str:
    """The instruction a model is given for a stored task text (placeholders of older datasets become empty)."""
    return NO_INSTRUCTION if text.strip() in LEGACY_PLACEHOLDERS else text


def task_of_frame(instructions, n: int, where: str) -> list[str]:
    tasks = [""] * n
    covered = np.zeros(n, dtype=bool)
    for i, (start, end, text) in enumerate(instructions):
        if covered[start:end].any():
            raise InputError(where, f"instructions[{i}]", f"segment ({start}, {end}) overlaps an earlier segment")
        covered[start:end] = True
        tasks[start:end] = [text] * (end - start)
    return tasks


def _check_mano(where: str, mano, valid: np.ndarray) -> None:
    n, k = len(valid), mano_hand_dim()
    if tuple(np.shape(mano)) != (n, 2, k):
        raise InputError(
            where,
            "hand_mano",
            f"expected shape ({n}, 2, {k}) (wrist position 3, rot6d 6, 15 PCA per hand), got {tuple(np.shape(mano))}",
        )
    bad = valid & ~np.isfinite(np.asarray(mano, dtype=np.float64)).all(axis=-1)
    if bad.any():
        t, h = (int(v) for v in np.argwhere(bad)[0])
        raise InputError(
            where,
            "hand_mano",
            f"NaN or inf MANO parameters of the {('left', 'right')[h]} hand marked valid at frame {t}",
        )


def _shape(where: str, name: str, value, shape: tuple[int, ...]) -> None:
    got = tuple(np.shape(value))
    if got != shape:
        raise InputError(where, name, f"expected shape {shape}, got {got}")
