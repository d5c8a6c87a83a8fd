"""Scripted experts: a task's object-relative waypoints, interpolated and executed through the env's IK.

An expert is a simulator policy like any other (``reset(seed)``,
``act(observation) -> action``). It plans from the first observation of an
episode (object poses are in the observation), then follows the waypoints
closed-loop through the env's IK at 30 Hz. A task with ``expert_stages > 1``
is planned in stages: when one stage's waypoints are done, the next stage is
planned from the observation of that moment (where the objects really are),
starting from the previous stage's last waypoint.
"""

from __future__ import annotations

import numpy as np

from dexego.geometry import matrix_to_rot6d, rot6d_to_matrix, slerp_matrix
from dexego.sim.tasks import get_task
from dexego.sim.tasks.base import Waypoint

CONTROL_HZ = 30.0


class WaypointFollower:
    """Turns a list of waypoints into per-step 30-D end-effector actions (smooth-step timing)."""

    def __init__(self, start: Waypoint, waypoints: list[Waypoint], hz: float = CONTROL_HZ):
        self.segments = [(start, waypoints[0])] + list(zip(waypoints[:-1], waypoints[1:]))
        self.steps = [max(1, int(round(w.duration * hz))) for w in waypoints]
        self.total = sum(self.steps)
        self.final = waypoints[-1]

    def at(self, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        for (a, b), n in zip(self.segments, self.steps):
            if step < n:
                s = (step + 1) / n
                s = s * s * (3 - 2 * s)
                pos = a.pos + (b.pos - a.pos) * s
                rot = np.stack([slerp_matrix(a.rot[h], b.rot[h], s) for h in range(2)])
                hand = a.hand + (b.hand - a.hand) * s
                return pos, rot, hand
            step -= n
        last = self.segments[-1][1]
        return last.pos, last.rot, last.hand


class ScriptedExpert:
    """The scripted expert of one task (a simulator policy)."""

    uses_images = False  # the evaluation runner may skip rendering for this policy

    def __init__(self, task: str, noise: bool = True):
        self.task = get_task(task)
        self.noise = noise
        self.rng = np.random.default_rng(0)
        self._follower: WaypointFollower | None = None
        self._step = 0
        self._stage = 0

    def reset(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)
        self._follower = None
        self._step = 0
        self._stage = 0

    def _rng(self, stage: int) -> np.random.Generator:
        return self.rng if self.noise else np.random.default_rng(stage)

    def act(self, observation: dict) -> np.ndarray:
        if self._follower is None:
            ee = np.asarray(observation["ee_pose"], dtype=np.float64)
            start = Waypoint(
                0.0,
                ee[:, :3].copy(),
                rot6d_to_matrix(ee[:, 3:]),
                np.asarray(observation["hand_joint_pos"], dtype=np.float64).copy(),
            )
            self._stage = 0
            self._follower = WaypointFollower(start, self.task.expert_plan(observation, self._rng(0)))
        elif self._step >= self._follower.total and self._stage + 1 < self.task.expert_stages:
            self._stage += 1
            start = self._follower.final
            self._follower = WaypointFollower(
                start, self.task.expert_stage_plan(self._stage, observation, self._rng(self._stage), start)
            )
            self._step = 0
        pos, rot, hand = self._follower.at(self._step)
        self._step += 1
        return np.concatenate([pos, matrix_to_rot6d(rot), hand], axis=1).ravel()
