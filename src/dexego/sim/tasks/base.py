"""What a benchmark task provides: objects, randomisation, detectors and a scripted expert plan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import mujoco
import numpy as np

from dexego.sim.checks import TaskState
from dexego.sim.scene import SceneObjects

# Object randomisation is inside a 20 cm x 20 cm rectangle around each task's nominal position.
RANDOM_HALF_RANGE = 0.10


@dataclass(frozen=True)
class Waypoint:
    """A wrist/hand key pose reached after ``duration`` seconds (linear in position and hand, slerp in rotation)."""

    duration: float
    pos: np.ndarray  # (2, 3) wrist positions, left then right (world)
    rot: np.ndarray  # (2, 3, 3) wrist rotations (world)
    hand: np.ndarray  # (2, 6) actuated hand joints


class Task:
    """Base class of a benchmark task. Subclasses fill the class variables and the methods."""

    name: ClassVar[str]
    instruction: ClassVar[str]
    horizon: ClassVar[int]  # control steps
    timestep: ClassVar[float]  # physics step (s)
    subtasks: ClassVar[tuple[str, ...]]  # detector names; the last is "success"
    object_bodies: ClassVar[tuple[str, ...]]  # bodies whose poses are observed (in this order)
    object_joints: ClassVar[tuple[str, ...]] = ()  # articulation joints whose positions are observed
    sites: ClassVar[tuple[str, ...]] = ()  # sites the detectors read
    long_horizon: ClassVar[bool] = False
    # > 1: the expert plans in stages, each from the observation at the stage's start (see ``expert_stage_plan``).
    expert_stages: ClassVar[int] = 1

    def scene(self) -> SceneObjects:
        raise NotImplementedError

    def sample_layout(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Random object placement parameters from the episode's generator."""
        raise NotImplementedError

    def apply_layout(self, model: mujoco.MjModel, data: mujoco.MjData, layout: dict[str, np.ndarray]) -> None:
        """Put the objects where ``layout`` says (qpos only; the env runs forward kinematics)."""
        raise NotImplementedError

    def check(self, state: TaskState, initial: TaskState) -> tuple[bool, ...]:
        """Instantaneous subtask flags (same order as ``subtasks``) for this state."""
        raise NotImplementedError

    def expert_plan(self, obs: dict, rng: np.random.Generator) -> list[Waypoint]:
        """Object-relative wrist/hand waypoints from the first observation of an episode (the expert's stage 0).

        The wrists start from their home poses.
        """
        raise NotImplementedError

    def expert_stage_plan(self, stage: int, obs: dict, rng: np.random.Generator, start: Waypoint) -> list[Waypoint]:
        """Waypoints of stage ``stage`` (1 .. ``expert_stages`` - 1), planned from the observation at its start.

        ``start`` is where the previous stage left the wrists and hands (its
        last waypoint), so a stage can aim at where the objects actually are
        now instead of where the first observation predicted them.
        """
        raise NotImplementedError(f"{self.name} plans in one stage")


def set_free_pose(data: mujoco.MjData, joint: str, pos, quat=(1.0, 0.0, 0.0, 0.0)) -> None:
    adr = data.joint(joint)
    adr.qpos[:3] = pos
    adr.qpos[3:7] = quat
    adr.qvel[:] = 0.0


def yaw_quat(angle: float) -> np.ndarray:
    return np.array([np.cos(angle / 2), 0.0, 0.0, np.sin(angle / 2)])


def rotation_from_axes(x: np.ndarray | list, z: np.ndarray | list) -> np.ndarray:
    """Rotation whose columns are x, y = z cross x, z (z is orthogonalised against x)."""
    x = np.asarray(x, dtype=np.float64)
    x = x / np.linalg.norm(x)
    z = np.asarray(z, dtype=np.float64)
    z = z - z.dot(x) * x
    z = z / np.linalg.norm(z)
    return np.stack([x, np.cross(z, x), z], axis=1)
