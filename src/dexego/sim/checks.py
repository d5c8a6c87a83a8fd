"""Success and subtask detectors: pure functions of a :class:`TaskState`, each testable on its own.

Thresholds follow the benchmark spec (EgoVLA appendix 6.6).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

REACH_DISTANCE = 0.12
LIFT_HEIGHT = 0.06


@dataclass
class TaskState:
    """What the detectors look at, read from the simulation (or built by hand in tests)."""

    fingertips: np.ndarray  # (2, 5, 3) world positions, left then right
    body_pos: dict[str, np.ndarray] = field(default_factory=dict)
    body_quat: dict[str, np.ndarray] = field(default_factory=dict)  # w, x, y, z
    joint_pos: dict[str, float] = field(default_factory=dict)
    site_pos: dict[str, np.ndarray] = field(default_factory=dict)


def hand_distance(fingertips: np.ndarray, target: np.ndarray) -> float:
    """Distance from the target to the nearer hand's mean fingertip position."""
    centres = np.asarray(fingertips).reshape(2, 5, 3).mean(axis=1)
    return float(np.min(np.linalg.norm(centres - np.asarray(target)[None], axis=-1)))


def reached(fingertips: np.ndarray, target: np.ndarray, threshold: float = REACH_DISTANCE) -> bool:
    return hand_distance(fingertips, target) < threshold


def lifted(z_now: float, z_initial: float, height: float = LIFT_HEIGHT) -> bool:
    return float(z_now) - float(z_initial) >= height


def within_xy(point: np.ndarray, centre: np.ndarray, radius: float) -> bool:
    return float(np.linalg.norm(np.asarray(point)[:2] - np.asarray(centre)[:2])) < radius


def up_axis_z(quat_wxyz: np.ndarray) -> float:
    """World z component of the body's local z axis (1 upright, 0 lying, -1 upside down)."""
    w, x, y, z = np.asarray(quat_wxyz, dtype=np.float64) / np.linalg.norm(quat_wxyz)
    return float(1.0 - 2.0 * (x * x + y * y))


def upright(quat_wxyz: np.ndarray, threshold: float = 0.5) -> bool:
    return up_axis_z(quat_wxyz) > threshold


def joint_fraction(q: float, closed: float, opened: float) -> float:
    """Where a joint is between its closed (0) and open (1) positions."""
    return (float(q) - closed) / (opened - closed)


def count_inside_cylinder(points: np.ndarray, centre: np.ndarray, radius: float, z_low: float, z_high: float) -> int:
    """How many points lie inside a vertical cylinder (e.g. balls inside a bowl)."""
    points = np.asarray(points).reshape(-1, 3)
    radial = np.linalg.norm(points[:, :2] - np.asarray(centre)[:2], axis=-1)
    return int(np.sum((radial < radius) & (points[:, 2] > z_low) & (points[:, 2] < z_high)))


def stacked(bottom_z: float, top_z: float, xy_a: np.ndarray, xy_b: np.ndarray, radius: float, gap: float) -> bool:
    """Object a (bottom at ``bottom_z``) sits within ``radius`` of b in x-y and ``gap`` of b's top surface ``top_z``."""
    return within_xy(xy_a, xy_b, radius) and abs(float(bottom_z) - float(top_z)) < gap


class Progress:
    """Monotone subtask bookkeeping: a subtask counts once it has held at any step."""

    def __init__(self, names: tuple[str, ...]):
        if not names or names[-1] != "success":
            raise ValueError(f"the last subtask must be 'success', got {names}")
        self.names = names
        self.done = np.zeros(len(names), dtype=bool)

    def update(self, flags: tuple[bool, ...] | np.ndarray) -> None:
        flags = np.asarray(flags, dtype=bool)
        if flags.shape != self.done.shape:
            raise ValueError(f"expected {len(self.names)} subtask flags {self.names}, got {flags.shape}")
        self.done |= flags

    @property
    def success(self) -> bool:
        return bool(self.done[-1])

    @property
    def fraction(self) -> float:
        """Completed subtasks / total subtasks (the per-rollout term of PSR)."""
        return float(self.done.mean())

    def as_dict(self) -> dict[str, bool]:
        return {n: bool(d) for n, d in zip(self.names, self.done)}


def subtask_plan(name: str) -> str:
    """A subtask detector's name as the plan text a policy learns to say ("reach_drawer" -> "reach drawer")."""
    return "finish the task" if name == "success" else name.replace("_", " ")


def plan_segments(progress: list[dict[str, bool]]) -> list[list]:
    """Per-step subtask progress (done flags before each step) -> [start, end, text] segments of the active
    subtask (the first not yet done): what the episode's plan was at every step."""
    active = []
    for flags in progress:
        pending = [name for name, done in flags.items() if not done]
        active.append(subtask_plan(pending[0]) if pending else subtask_plan("success"))
    segments: list[list] = []
    for t, text in enumerate(active):
        if segments and segments[-1][2] == text:
            segments[-1][1] = t + 1
        else:
            segments.append([t, t + 1, text])
    return segments
