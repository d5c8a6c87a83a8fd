"""Human-only tasks and object-size randomisation: what makes the synthetic human data broader than the robot's.

Human-only tasks live in their own registry, so the benchmark's task list
(and its protocol seeds) is untouched: left-hand versions of benchmark tasks
(the scene, layout and expert mirrored through the x-z plane) and a
two-handed task. :func:`get_any_task` finds a task in either registry.
"""

from __future__ import annotations

import numpy as np

from dexego.errors import ConfigError
from dexego.sim import checks
from dexego.sim.scene import TABLE_TOP_Z, SceneObjects
from dexego.sim.tasks import get_task, task_names
from dexego.sim.tasks.base import Task, Waypoint, set_free_pose
from dexego.sim.tasks.short_horizon import (
    CloseDrawer,
    FlipMug,
    PourBalls,
    PushBox,
    StackCan,
    uniform_xy,
)

_HUMAN_ONLY: dict[str, type[Task]] = {}
_MIRROR = np.diag([1.0, -1.0, 1.0])


def register_human_task(cls: type[Task]) -> type[Task]:
    _HUMAN_ONLY[cls.name] = cls
    return cls


def human_task_names() -> list[str]:
    return list(_HUMAN_ONLY)


def is_human_only(name: str) -> bool:
    return _canonical(name) in _HUMAN_ONLY


def all_task_names() -> list[str]:
    """The benchmark's tasks, then the human-only ones."""
    return task_names() + human_task_names()


def _canonical(name: str) -> str | None:
    key = name.lower().replace("_", "-")
    return next((n for n in _HUMAN_ONLY if n.lower() == key), None)


def get_any_task(name: str) -> Task:
    """A benchmark or human-only task by name (case-insensitive; '-' and '_' interchangeable)."""
    found = _canonical(name)
    if found is not None:
        return _HUMAN_ONLY[found]()
    try:
        return get_task(name)
    except ConfigError:
        raise ConfigError(f"unknown task {name!r}; available: {', '.join(all_task_names())}") from None


# --------------------------------------------------------------------------- mirroring
def mirror_pose(pos: np.ndarray, quat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An object pose reflected through the x-z plane (y -> -y), as the proper rotation S R S."""
    w, x, y, z = quat
    return np.asarray(pos) * [1.0, -1.0, 1.0], np.array([w, -x, y, -z])


def mirror_waypoints(waypoints: list[Waypoint]) -> list[Waypoint]:
    """Reflect waypoints through the x-z plane: the left hand does what the right did, and vice versa.

    A reflected right hand is a left hand whose frame (x distal, z palmar,
    y = z x x) is S R diag(1, -1, 1).
    """
    out = []
    for w in waypoints:
        pos = (w.pos * [1.0, -1.0, 1.0])[::-1].copy()
        rot = (_MIRROR @ w.rot @ _MIRROR)[::-1].copy()
        out.append(Waypoint(w.duration, pos, rot, w.hand[::-1].copy()))
    return out


def _mirror_observation(obs: dict) -> dict:
    obs = dict(obs)
    poses = np.array(obs["object_poses"], dtype=np.float64, copy=True)
    for k in range(len(poses)):
        poses[k, :3], poses[k, 3:] = mirror_pose(poses[k, :3], poses[k, 3:])
    obs["object_poses"] = poses
    return obs


def _mirror_layout_value(key: str, value):
    if "yaw" in key:
        return -value
    value = np.asarray(value, dtype=np.float64)
    return value * [1.0, -1.0] if value.shape == (2,) else value


class LeftHanded(Task):
    """Mixin: the base task mirrored left/right (its detectors must be mirror-invariant), done with the left hand."""

    def sample_layout(self, rng):
        return {k: _mirror_layout_value(k, v) for k, v in super().sample_layout(rng).items()}

    def expert_plan(self, obs, rng):
        return mirror_waypoints(super().expert_plan(_mirror_observation(obs), rng))


@register_human_task
class StackCanLeft(LeftHanded, StackCan):
    name = "Stack-Can-Left"
    instruction = "Put the can on the saucer with the left hand"


@register_human_task
class PourBallsLeft(LeftHanded, PourBalls):
    name = "Pour-Balls-Left"
    instruction = "Pour the balls from the cup into the bowl with the left hand"


@register_human_task
class CloseDrawerLeft(LeftHanded, CloseDrawer):
    name = "Close-Drawer-Left"
    instruction = "Close the opened drawer with the left hand"


@register_human_task
class FlipMugLeft(LeftHanded, FlipMug):
    name = "Flip-Mug-Left"
    instruction = "Flip the mug with the left hand"


@register_human_task
class StackTwoCans(StackCan):
    """Both hands at once: each puts its can on the saucer on its side."""

    name = "Stack-Two-Cans"
    instruction = "Put both cans on the saucers, one with each hand"
    horizon = 330
    subtasks = ("place_left", "place_right", "success")
    object_bodies = ("can", "plate", "can_left", "plate_left")
    CAN_CENTRE, PLATE_CENTRE = (0.39, -0.21), (0.47, -0.095)
    SPREAD = 0.025

    def scene(self) -> SceneObjects:
        base = super().scene().worldbody
        left = (
            base.replace('name="can"', 'name="can_left"')
            .replace('name="plate"', 'name="plate_left"')
            .replace("0.2 0.7 0.3 1", "0.85 0.3 0.25 1")
        )
        return SceneObjects(worldbody=base + left)

    def sample_layout(self, rng):
        pick = lambda centre: uniform_xy(rng, centre, self.SPREAD)  # noqa: E731
        right_can, right_plate = pick(self.CAN_CENTRE), pick(self.PLATE_CENTRE)
        left_can, left_plate = pick(self.CAN_CENTRE) * [1, -1], pick(self.PLATE_CENTRE) * [1, -1]
        return {"can": right_can, "plate": right_plate, "can_left": left_can, "plate_left": left_plate}

    def apply_layout(self, model, data, layout):
        for can, plate in (("can", "plate"), ("can_left", "plate_left")):
            set_free_pose(data, can, [*layout[can], TABLE_TOP_Z + self.CAN_H / 2])
            set_free_pose(data, plate, [*layout[plate], TABLE_TOP_Z + self.PLATE_H / 2])

    def _pair_stacked(self, state, can: str, plate: str, gap: float) -> bool:
        c, p = state.body_pos[can], state.body_pos[plate]
        return checks.stacked(c[2] - self.CAN_H / 2, p[2] + self.PLATE_H / 2, c, p, self.PLATE_R, gap)

    def check(self, state, initial):
        left = self._pair_stacked(state, "can_left", "plate_left", 0.05)
        right = self._pair_stacked(state, "can", "plate", 0.05)
        both = self._pair_stacked(state, "can_left", "plate_left", 0.02) and self._pair_stacked(
            state, "can", "plate", 0.02
        )
        return (left, right, both)

    def expert_plan(self, obs, rng):
        poses = np.asarray(obs["object_poses"], dtype=np.float64)
        right = StackCan.expert_plan(self, {**obs, "object_poses": poses[:2]}, rng)
        left = mirror_waypoints(
            StackCan.expert_plan(self, _mirror_observation({**obs, "object_poses": poses[2:]}), rng)
        )
        return [
            Waypoint(
                max(a.duration, b.duration),
                np.stack([b.pos[0], a.pos[1]]),
                np.stack([b.rot[0], a.rot[1]]),
                np.stack([b.hand[0], a.hand[1]]),
            )
            for a, b in zip(right, left)
        ]


# --------------------------------------------------------------------------- object sizes
# Per task family: dimension attribute -> (low, high) in metres, drawn per episode.
SIZE_RANGES: tuple[tuple[type[Task], dict[str, tuple[float, float]]], ...] = (
    (PushBox, {"BOX_HALF": (0.031, 0.04)}),
    (StackCan, {"CAN_R": (0.027, 0.033), "CAN_H": (0.10, 0.12), "PLATE_R": (0.058, 0.072)}),
    (PourBalls, {"CUP_R": (0.033, 0.038), "BOWL_R": (0.085, 0.1)}),
    (FlipMug, {"R": (0.046, 0.053), "H": (0.085, 0.095)}),
)


def randomize_sizes(task: Task, rng: np.random.Generator) -> dict[str, float]:
    """Draw this episode's object dimensions onto the task instance (its scene, layout, detectors and expert use them)."""
    drawn: dict[str, float] = {}
    for family, ranges in SIZE_RANGES:
        if isinstance(task, family):
            for attr, (lo, hi) in ranges.items():
                drawn[attr] = float(rng.uniform(lo, hi))
                setattr(task, attr, drawn[attr])
            break
    return drawn


def human_task(name: str, seed: int | None = None, randomize: bool = True) -> tuple[Task, dict[str, float]]:
    """The task for one human episode, with sizes drawn from ``seed`` when ``randomize``."""
    task = get_any_task(name)
    if not randomize:
        return task, {}
    return task, randomize_sizes(task, np.random.default_rng([0 if seed is None else int(seed), 7]))


__all__ = [
    "LeftHanded",
    "SIZE_RANGES",
    "all_task_names",
    "get_any_task",
    "human_task",
    "human_task_names",
    "is_human_only",
    "mirror_pose",
    "mirror_waypoints",
    "randomize_sizes",
    "register_human_task",
]
