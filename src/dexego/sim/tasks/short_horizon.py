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


# --------------------------------------------------------------------------- drawers
class _DrawerTask(Task):
    """A cabinet on the table with one drawer sliding towards the robot (joint 0 = closed)."""

    timestep = 1 / 240
    horizon = 300
    subtasks = ("reach", "move", "success")
    object_bodies = ("cabinet", "drawer")
    object_joints = ("drawer_slide",)
    sites = ("drawer_handle",)
    RANGE = 0.14
    CENTRE = (0.56, -0.06)
    DEPTH, WIDTH, HEIGHT = 0.22, 0.24, 0.15
    HANDLE_GAP = 0.045  # between the handle bar and the drawer front
    initial_open: float = 0.0

    def scene(self) -> SceneObjects:
        d, w, h = self.DEPTH / 2, self.WIDTH / 2, self.HEIGHT / 2
        t = 0.01
        wood = 'rgba="0.55 0.4 0.3 1"'
        front = 'rgba="0.75 0.65 0.5 1"'
        g = self.HANDLE_GAP
        return SceneObjects(
            worldbody=f"""    <body name="cabinet" pos="0.56 -0.06 {TABLE_TOP_Z}">
      <geom type="box" pos="0 0 {t / 2}" size="{d} {w} {t / 2}" {wood}/>
      <geom type="box" pos="0 0 {2 * h - t / 2}" size="{d} {w} {t / 2}" {wood}/>
      <geom type="box" pos="0 {w - t / 2} {h}" size="{d} {t / 2} {h}" {wood}/>
      <geom type="box" pos="0 {-w + t / 2} {h}" size="{d} {t / 2} {h}" {wood}/>
      <geom type="box" pos="{d - t / 2} 0 {h}" size="{t / 2} {w} {h}" {wood}/>
      <body name="drawer" pos="0 0 0">
        <joint name="drawer_slide" type="slide" axis="-1 0 0" range="0 {self.RANGE}" damping="3" frictionloss="0.3" armature="0.05"/>
        <geom type="box" pos="{-d + t / 2} 0 {h}" size="{t / 2} {w - t} {h - t}" mass="0.4" {front}/>
        <geom type="box" pos="0 0 {t + 0.004}" size="{d - t} {w - 2 * t} 0.004" mass="0.2" {wood}/>
        <geom type="box" pos="0 {w - 2 * t} {h * 0.6}" size="{d - t} 0.004 {h * 0.5}" mass="0.1" {wood}/>
        <geom type="box" pos="0 {-w + 2 * t} {h * 0.6}" size="{d - t} 0.004 {h * 0.5}" mass="0.1" {wood}/>
        <geom type="box" pos="{d - 2 * t} 0 {h * 0.6}" size="0.004 {w - 2 * t} {h * 0.5}" mass="0.1" {wood}/>
        <geom type="capsule" fromto="{-d - g} -0.075 {h} {-d - g} 0.075 {h}" size="0.008" mass="0.05" rgba="0.8 0.8 0.85 1"/>
        <geom type="box" pos="{-d - g / 2} -0.075 {h}" size="{g / 2} 0.007 0.007" mass="0.01" rgba="0.8 0.8 0.85 1"/>
        <geom type="box" pos="{-d - g / 2} 0.075 {h}" size="{g / 2} 0.007 0.007" mass="0.01" rgba="0.8 0.8 0.85 1"/>
        <site name="drawer_handle" pos="{-d - g} 0 {h}" size="0.005"/>
      </body>
    </body>
""",
            contact='    <exclude body1="cabinet" body2="drawer"/>\n',
        )

    def sample_layout(self, rng):
        return {"cabinet": _uniform_xy(rng, self.CENTRE, 0.05)}

    def apply_layout(self, model, data, layout):
        model.body("cabinet").pos[:2] = layout["cabinet"]
        data.joint("drawer_slide").qpos[0] = self.initial_open

    def fraction(self, state: TaskState) -> float:
        return checks.joint_fraction(state.joint_pos["drawer_slide"], 0.0, self.RANGE)


@register_task
class CloseDrawer(_DrawerTask):
    name = "Close-Drawer"
    instruction = "Close the opened drawer"
    initial_open = _DrawerTask.RANGE

    def check(self, state, initial):
        f, f0 = self.fraction(state), self.fraction(initial)
        return (checks.reached(state.fingertips, state.site_pos["drawer_handle"]), f0 - f >= 0.1, f <= 0.05)

    def expert_plan(self, obs, rng):
        handle = self._handle(obs)
        opened = float(obs["object_joint_pos"][0])
        rot = PALM_DOWN  # fingertips push the drawer front above the handle
        front_x = handle[0] + self.HANDLE_GAP
        tip_z = handle[2] + 0.04
        push_from = np.array([front_x - 0.04 - HAND_LENGTH, handle[1] + 0.0095, tip_z]) + _jitter(rng, 0.003)
        push_to = np.array([front_x + opened + 0.012 - HAND_LENGTH, handle[1] + 0.0095, tip_z])
        return _plan(
            [
                (0.9, push_from + [0, 0, 0.06], rot, OPEN),
                (0.5, push_from, rot, OPEN),
                (1.6, push_to, rot, OPEN),
                (0.5, push_to + [-0.06, 0, 0.06], rot, OPEN),
            ],
            rng,
        )

    def _handle(self, obs) -> np.ndarray:
        drawer = np.asarray(obs["object_poses"][1][:3])
        return drawer + [-self.DEPTH / 2 - self.HANDLE_GAP, 0.0, self.HEIGHT / 2]


@register_task
class OpenDrawer(_DrawerTask):
    name = "Open-Drawer"
    instruction = "Open the closed drawer"
    initial_open = 0.0

    def check(self, state, initial):
        f, f0 = self.fraction(state), self.fraction(initial)
        return (checks.reached(state.fingertips, state.site_pos["drawer_handle"]), f - f0 >= 0.1, f >= 0.9)

    def expert_plan(self, obs, rng):
        drawer = np.asarray(obs["object_poses"][1][:3])
        handle = drawer + [-self.DEPTH / 2 - self.HANDLE_GAP, 0.0, self.HEIGHT / 2]
        rot = PALM_DOWN
        mcp = np.array([handle[0] + self.HANDLE_GAP / 2, handle[1] + 0.0095, handle[2] + 0.028]) + _jitter(rng, 0.002)
        hook = mcp - [0.136, 0, 0]
        curl = np.array([0.3, 0.0, 1.3, 1.3, 1.3, 1.3])
        pulled = hook + [-self.RANGE - 0.02, 0, 0.0]
        return _plan(
            [
                (1.0, hook + [0, 0, 0.06], rot, OPEN),
                (0.6, hook, rot, OPEN),
                (0.5, hook, rot, curl),
                (1.8, pulled, rot, curl),
                (0.3, pulled, rot, OPEN),
                (0.5, pulled + [-0.03, 0, 0.06], rot, OPEN),
            ],
            rng,
        )


# --------------------------------------------------------------------------- Open-Laptop
@register_task
class OpenLaptop(Task):
    name = "Open-Laptop"
    instruction = "Open the laptop"
    horizon = 300
    timestep = 1 / 120
    subtasks = ("move_lid", "success")
    object_bodies = ("laptop", "laptop_lid")
    object_joints = ("laptop_hinge",)
    RANGE = 2.0
    DEPTH, WIDTH, BASE_H, LID_H, LIP = 0.2, 0.28, 0.035, 0.01, 0.03
    CENTRE = (0.45, -0.08)

    def scene(self) -> SceneObjects:
        d, w = self.DEPTH, self.WIDTH / 2
        return SceneObjects(
            worldbody=f"""    <body name="laptop" pos="0.45 -0.08 {TABLE_TOP_Z}">
      <geom type="box" pos="0 0 {self.BASE_H / 2}" size="{d / 2} {w} {self.BASE_H / 2}" rgba="0.3 0.3 0.33 1" friction="1 0.01 0.001"/>
      <body name="laptop_lid" pos="{d / 2} 0 {self.BASE_H}">
        <joint name="laptop_hinge" axis="0 1 0" range="0 {self.RANGE}" damping="0.3" frictionloss="0.12" armature="0.01"/>
        <geom type="box" pos="{-d / 2} 0 {self.LID_H / 2}" size="{d / 2} {w} {self.LID_H / 2}" mass="0.3" rgba="0.55 0.56 0.6 1"/>
        <geom type="box" pos="{-d - self.LIP / 2} 0 {self.LID_H * 0.7}" size="{self.LIP / 2} 0.07 {self.LID_H * 0.3}" mass="0.02" rgba="0.55 0.56 0.6 1"/>
      </body>
    </body>
""",
            contact='    <exclude body1="laptop" body2="laptop_lid"/>\n',
        )

    def sample_layout(self, rng):
        return {"laptop": _uniform_xy(rng, self.CENTRE)}

    def apply_layout(self, model, data, layout):
        model.body("laptop").pos[:2] = layout["laptop"]
        data.joint("laptop_hinge").qpos[0] = 0.0

    def check(self, state, initial):
        f = checks.joint_fraction(state.joint_pos["laptop_hinge"], 0.0, self.RANGE)
        return (f >= 0.15, f >= 0.7)

    def expert_plan(self, obs, rng):
        base = np.asarray(obs["object_poses"][0][:3])
        hinge = base + [self.DEPTH / 2, 0.0, self.BASE_H]
        radius = self.DEPTH + self.LIP - 0.012
        rot = PALM_DOWN
        steps = []
        start_tip = np.array([hinge[0] - radius, hinge[1], TABLE_TOP_Z + 0.017]) + _jitter(rng, 0.002)
        steps.append((0.9, start_tip + [-0.06 - HAND_LENGTH, 0, 0.01], rot, OPEN))
        steps.append((0.6, start_tip - [HAND_LENGTH, 0, 0], rot, OPEN))
        for theta in (0.3, 0.6, 0.9, 1.2, 1.5, 1.75):
            tip = hinge + [-radius * np.cos(theta), 0.0, radius * np.sin(theta) - 0.012]
            steps.append((0.45, tip - [HAND_LENGTH, 0, 0], rot, OPEN))
        last = steps[-1][1]
        steps.append((0.5, last + [-0.1, 0, 0.0], rot, OPEN))
        return _plan(steps, rng)


# --------------------------------------------------------------------------- grasping helpers
SIDE_GRASP = rotation_from_axes([1, 0, 0], [0, 1, 0])  # fingers forward, palm facing +y (left)
GRASP_CLOSED = np.array([1.3, 0.35, 1.25, 1.25, 1.25, 1.25])
GRASP_PRESHAPE = np.array([1.3, 0.0, 0.2, 0.2, 0.2, 0.2])


def side_grasp_wrist(centre: np.ndarray, radius: float, z: float) -> np.ndarray:
    """Wrist position for a side grasp (palm on the object's right) of an upright cylinder."""
    return np.array([centre[0] - 0.105, centre[1] - radius - 0.012, z])


def _cylinder_free(name: str, radius: float, height: float, mass: float, rgba: str, extra: str = "") -> str:
    return f"""    <body name="{name}" pos="0.4 0 {TABLE_TOP_Z + height / 2}">
      <freejoint name="{name}"/>
      <geom type="cylinder" size="{radius} {height / 2}" mass="{mass}" rgba="{rgba}" friction="1.2 0.02 0.001" condim="4"/>
{extra}    </body>
"""


def _separated(rng: np.random.Generator, a_centre, b_centre, min_dist: float) -> tuple[np.ndarray, np.ndarray]:
    while True:
        a, b = _uniform_xy(rng, a_centre, 0.06), _uniform_xy(rng, b_centre, 0.06)
        if np.linalg.norm(a - b) >= min_dist:
            return a, b


# --------------------------------------------------------------------------- Stack-Can
@register_task
class StackCan(Task):
    name = "Stack-Can"
    instruction = "Put can on the saucer"
    horizon = 300
    timestep = 1 / 120
    subtasks = ("place", "success")
    object_bodies = ("can", "plate")
    CAN_R, CAN_H = 0.03, 0.11
    PLATE_R, PLATE_H = 0.065, 0.01
    CAN_CENTRE, PLATE_CENTRE = (0.40, -0.14), (0.42, 0.04)

    def scene(self) -> SceneObjects:
        plate = f"""    <body name="plate" pos="0.42 0.05 {TABLE_TOP_Z + self.PLATE_H / 2}">
      <freejoint name="plate"/>
      <geom type="cylinder" size="{self.PLATE_R} {self.PLATE_H / 2}" mass="0.3" rgba="0.92 0.92 0.95 1" friction="1 0.01 0.001"/>
    </body>
"""
        return SceneObjects(worldbody=_cylinder_free("can", self.CAN_R, self.CAN_H, 0.08, "0.2 0.7 0.3 1") + plate)

    def sample_layout(self, rng):
        can, plate = _separated(rng, self.CAN_CENTRE, self.PLATE_CENTRE, 0.15)
        return {"can": can, "plate": plate}

    def apply_layout(self, model, data, layout):
        set_free_pose(data, "can", [*layout["can"], TABLE_TOP_Z + self.CAN_H / 2])
        set_free_pose(data, "plate", [*layout["plate"], TABLE_TOP_Z + self.PLATE_H / 2])

    def _stacked(self, state: TaskState, gap: float) -> bool:
        can, plate = state.body_pos["can"], state.body_pos["plate"]
        return checks.stacked(can[2] - self.CAN_H / 2, plate[2] + self.PLATE_H / 2, can, plate, self.PLATE_R, gap)

    def check(self, state, initial):
        return (self._stacked(state, 0.05), self._stacked(state, 0.02))

    def expert_plan(self, obs, rng):
        can, _ = _obj(obs, 0)
        plate, _ = _obj(obs, 1)
        z = TABLE_TOP_Z + 0.05
        grasp = side_grasp_wrist(can, self.CAN_R, z) + _jitter(rng, 0.003)
        offset = grasp - can  # wrist relative to the can, kept while carrying
        above_plate = np.array([plate[0], plate[1], TABLE_TOP_Z + self.PLATE_H + self.CAN_H / 2 + 0.12]) + offset * [1, 1, 0]
        above_plate[2] = grasp[2] + 0.13
        place = above_plate.copy()
        place[2] = grasp[2] + self.PLATE_H + 0.006
        return _plan(
            [
                (0.9, grasp + [0, -0.07, 0.04], SIDE_GRASP, GRASP_PRESHAPE),
                (0.6, grasp + [0, -0.07, 0.0], SIDE_GRASP, GRASP_PRESHAPE),
                (0.6, grasp, SIDE_GRASP, GRASP_PRESHAPE),
                (0.5, grasp, SIDE_GRASP, GRASP_CLOSED),
                (0.7, grasp + [0, 0, 0.13], SIDE_GRASP, GRASP_CLOSED),
                (1.2, above_plate, SIDE_GRASP, GRASP_CLOSED),
                (0.7, place, SIDE_GRASP, GRASP_CLOSED),
                (0.5, place, SIDE_GRASP, GRASP_PRESHAPE),
                (0.6, place + [0, -0.07, 0.03], SIDE_GRASP, GRASP_PRESHAPE),
            ],
            rng,
        )
