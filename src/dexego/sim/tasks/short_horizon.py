"""The seven short-horizon tasks: Push-Box, Flip-Mug, Pour-Balls, Close-Drawer, Open-Drawer, Open-Laptop, Stack-Can.

Objects are built from primitives. Each task's expert works with the right
hand (the left one holds its home pose) through object-relative waypoints.
"""

from __future__ import annotations

import numpy as np

from dexego.sim import checks
from dexego.sim.checks import TaskState
from dexego.sim.scene import TABLE_TOP_Z, SceneObjects
from dexego.sim.tasks import register_task
from dexego.sim.tasks.base import RANDOM_HALF_RANGE, Task, Waypoint, rotation_from_axes, set_free_pose, yaw_quat

HOME_LEFT_POS = np.array([0.18, 0.22, 1.17])
PALM_DOWN = rotation_from_axes([1, 0, 0], [0, 0, -1])
OPEN = np.zeros(6)
HAND_LENGTH = 0.2  # wrist to extended fingertip


def _uniform_xy(rng: np.random.Generator, centre, half=RANDOM_HALF_RANGE) -> np.ndarray:
    return np.asarray(centre, dtype=np.float64) + rng.uniform(-half, half, 2)


def _plan(steps: list[tuple[float, np.ndarray, np.ndarray, np.ndarray]], rng: np.random.Generator) -> list[Waypoint]:
    """Right-hand waypoints (duration, pos, rot, hand); the left hand stays home. Durations get +-10% noise."""
    out = []
    for duration, pos, rot, hand in steps:
        out.append(
            Waypoint(
                duration=float(duration * rng.uniform(0.92, 1.08)),
                pos=np.stack([HOME_LEFT_POS, pos]),
                rot=np.stack([PALM_DOWN, rot]),
                hand=np.stack([OPEN, hand]),
            )
        )
    return out


def _jitter(rng: np.random.Generator, scale: float = 0.004) -> np.ndarray:
    return rng.normal(0.0, scale, 3)


def _obj(obs: dict, index: int) -> tuple[np.ndarray, np.ndarray]:
    pose = np.asarray(obs["object_poses"][index])
    return pose[:3], pose[3:]


# --------------------------------------------------------------------------- Push-Box
@register_task
class PushBox(Task):
    name = "Push-Box"
    instruction = "Push box to the marker"
    horizon = 300
    timestep = 1 / 120
    subtasks = ("reach", "success")
    object_bodies = ("box", "goal")
    BOX_HALF = 0.035
    PUSH = 0.16  # marker offset towards -y (the robot's right)
    CENTRE = (0.42, -0.02)

    def scene(self) -> SceneObjects:
        h = self.BOX_HALF
        return SceneObjects(
            worldbody=f"""    <body name="box" pos="0.42 0 {TABLE_TOP_Z + h}">
      <freejoint name="box"/>
      <geom type="box" size="{h} {h} {h}" mass="0.15" rgba="0.85 0.35 0.2 1" friction="0.5 0.01 0.001"/>
    </body>
    <body name="goal" mocap="true" pos="0.42 -0.16 {TABLE_TOP_Z + 0.0005}">
      <geom type="cylinder" size="0.04 0.0005" rgba="0.1 0.75 0.2 1" contype="0" conaffinity="0"/>
    </body>
"""
        )

    def sample_layout(self, rng):
        xy = _uniform_xy(rng, self.CENTRE)
        return {"box": xy, "box_yaw": rng.uniform(-0.2, 0.2)}

    def apply_layout(self, model, data, layout):
        x, y = layout["box"]
        set_free_pose(data, "box", [x, y, TABLE_TOP_Z + self.BOX_HALF], yaw_quat(layout["box_yaw"]))
        data.mocap_pos[model.body("goal").mocapid[0]] = [x, y - self.PUSH, TABLE_TOP_Z + 0.0005]

    def check(self, state, initial):
        box, goal = state.body_pos["box"], state.body_pos["goal"]
        return (checks.reached(state.fingertips, box, 0.13), checks.within_xy(box, goal, 0.08))

    def expert_plan(self, obs, rng):
        box, _ = _obj(obs, 0)
        goal, _ = _obj(obs, 1)
        rot = rotation_from_axes([0, 0, -1], [0, -1, 0])  # fingers down, palm facing -y
        hand = np.array([1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
        tip_z = TABLE_TOP_Z + 0.018
        wrist_z = tip_z + HAND_LENGTH
        side = self.BOX_HALF + 0.03
        start = np.array([box[0] - 0.01, box[1] + side, wrist_z]) + _jitter(rng)
        end = np.array([goal[0] - 0.01, goal[1] + side - 0.01, wrist_z])
        return _plan(
            [
                (1.0, start + [0, 0.03, 0.12], rot, hand),
                (0.7, start, rot, hand),
                (2.0, end, rot, hand),
                (0.6, end + [0, 0.05, 0.1], rot, hand),
            ],
            rng,
        )
