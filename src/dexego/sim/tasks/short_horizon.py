"""The seven short-horizon tasks: Push-Box, Flip-Mug, Pour-Balls, Close-Drawer, Open-Drawer, Open-Laptop, Stack-Can.

Objects are built from primitives. Each task's expert works with the right
hand (the left one holds its home pose) through object-relative waypoints.
"""

from __future__ import annotations

import numpy as np

from dexego.sim import checks
from dexego.sim.checks import TaskState
from dexego.sim.scene import TABLE_TOP_Z, SceneObjects
from dexego.sim.tasks.base import RANDOM_HALF_RANGE, Task, Waypoint, rotation_from_axes, set_free_pose, yaw_quat
from dexego.sim.tasks.registry import register_task

HOME_LEFT_POS = np.array([0.18, 0.22, 1.17])
PALM_DOWN = rotation_from_axes([1, 0, 0], [0, 0, -1])
OPEN = np.zeros(6)
HAND_LENGTH = 0.2  # wrist to extended fingertip


def uniform_xy(rng: np.random.Generator, centre, half=RANDOM_HALF_RANGE) -> np.ndarray:
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
    CENTRE = (0.40, -0.02)

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
        xy = uniform_xy(rng, self.CENTRE)
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
        finger_dir = np.array([0.5, 0.0, -np.sqrt(0.75)])  # fingers down and 30 deg forward, palm facing -y
        rot = rotation_from_axes(finger_dir, [0, -1, 0])
        hand = np.array([1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
        tip_z = TABLE_TOP_Z + 0.018
        side = self.BOX_HALF + 0.03
        tip_start = np.array([box[0] + 0.01, box[1] + side, tip_z])
        tip_end = np.array([goal[0] + 0.01, goal[1] + side - 0.01, tip_z])
        start = tip_start - finger_dir * HAND_LENGTH + _jitter(rng)
        end = tip_end - finger_dir * HAND_LENGTH
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
class DrawerTask(Task):
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
    HANDLE_GAP = 0.07  # between the handle bar and the drawer front
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
        return {"cabinet": uniform_xy(rng, self.CENTRE, 0.05)}

    def apply_layout(self, model, data, layout):
        model.body("cabinet").pos[:2] = layout["cabinet"]
        data.joint("drawer_slide").qpos[0] = self.initial_open

    def fraction(self, state: TaskState) -> float:
        return checks.joint_fraction(state.joint_pos["drawer_slide"], 0.0, self.RANGE)


@register_task
class CloseDrawer(DrawerTask):
    name = "Close-Drawer"
    instruction = "Close the opened drawer"
    initial_open = DrawerTask.RANGE

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
class OpenDrawer(DrawerTask):
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
        # Pre-curled fingers come down between the bar and the drawer front, curl further, then pull.
        mcp = np.array([handle[0] + 0.021, handle[1] + 0.0095, handle[2] + 0.035]) + _jitter(rng, 0.002)
        hook = mcp - [0.136, 0, 0]
        precurl = np.array([0.3, 0.0, 0.8, 0.8, 0.8, 0.8])
        curl = np.array([0.3, 0.0, 1.4, 1.4, 1.4, 1.4])
        pulled = hook + [-self.RANGE - 0.05, 0, 0.0]
        return _plan(
            [
                (0.8, hook + [0, 0, 0.08], rot, OPEN),
                (0.3, hook + [0, 0, 0.08], rot, precurl),
                (0.6, hook, rot, precurl),
                (0.4, hook, rot, curl),
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
        return {"laptop": uniform_xy(rng, self.CENTRE)}

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
        a, b = uniform_xy(rng, a_centre, 0.06), uniform_xy(rng, b_centre, 0.06)
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
        above_plate = np.array([plate[0], plate[1], TABLE_TOP_Z + self.PLATE_H + self.CAN_H / 2 + 0.12]) + offset * [
            1,
            1,
            0,
        ]
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


def _vessel_geoms(radius: float, height: float, wall: float, staves: int, mass: float, rgba: str) -> str:
    """An open cylinder (cup, mug, bowl) from a bottom disc and wall staves; local z is its up axis."""
    per = mass / (staves + 2)
    half_width = radius * np.sin(np.pi / staves) + 0.002
    out = [
        f'      <geom type="cylinder" pos="0 0 {-height / 2 + 0.003}" size="{radius} 0.003" mass="{per * 2:.5f}" rgba="{rgba}"/>\n'
    ]
    for i in range(staves):
        a = 2 * np.pi * i / staves
        r = radius - wall / 2
        out.append(
            f'      <geom type="box" pos="{r * np.cos(a):.5f} {r * np.sin(a):.5f} 0" size="{wall / 2} {half_width:.5f} {height / 2}"'
            f' euler="0 0 {a:.5f}" mass="{per:.5f}" rgba="{rgba}"/>\n'
        )
    return "".join(out)


def _rotation_about(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def _quat_to_matrix(q: np.ndarray) -> np.ndarray:
    import mujoco

    m = np.zeros(9)
    mujoco.mju_quat2Mat(m, np.asarray(q, dtype=np.float64))
    return m.reshape(3, 3)


# --------------------------------------------------------------------------- Flip-Mug
@register_task
class FlipMug(Task):
    name = "Flip-Mug"
    instruction = "Flip the mug"
    horizon = 300
    timestep = 1 / 240
    subtasks = ("reach", "success")
    object_bodies = ("mug",)
    R, H, WALL = 0.05, 0.09, 0.005
    CENTRE = (0.45, -0.1)

    def scene(self) -> SceneObjects:
        return SceneObjects(
            worldbody=f"""    <body name="mug" pos="0.45 -0.1 {TABLE_TOP_Z + self.R}">
      <freejoint name="mug"/>
{_vessel_geoms(self.R, self.H, self.WALL, 12, 0.12, "0.9 0.85 0.3 1")}      <geom type="capsule" fromto="{self.R + 0.01} 0 -0.025 {self.R + 0.01} 0 0.025" size="0.006" mass="0.01" rgba="0.9 0.85 0.3 1"/>
    </body>
"""
        )

    def sample_layout(self, rng):
        return {"mug": uniform_xy(rng, self.CENTRE), "yaw": rng.uniform(-0.2, 0.2)}

    def apply_layout(self, model, data, layout):
        lying = np.array(
            [np.cos(-np.pi / 4), 0.0, np.sin(-np.pi / 4), 0.0]
        )  # up axis -> -x (opening towards the robot)
        import mujoco

        q = np.zeros(4)
        mujoco.mju_mulQuat(q, yaw_quat(layout["yaw"]), lying)
        set_free_pose(data, "mug", [*layout["mug"], TABLE_TOP_Z + self.R + 0.002], q)

    def check(self, state, initial):
        return (checks.reached(state.fingertips, state.body_pos["mug"]), checks.upright(state.body_quat["mug"]))

    def expert_plan(self, obs, rng):
        centre, quat = _obj(obs, 0)
        axis = _quat_to_matrix(quat)[:, 2]
        axis[2] = 0.0
        axis /= np.linalg.norm(axis)  # points out of the opening, towards the robot
        opening = centre + axis * self.H / 2
        pivot = centre - axis * self.H / 2
        pivot[2] = TABLE_TOP_Z
        rot0 = rotation_from_axes(-axis, [0, 0, -1])
        tip = opening - axis * 0.05 + [0, 0, 0.014]
        wrist0 = tip + axis * HAND_LENGTH + _jitter(rng, 0.002)
        spin = np.cross(axis, [0, 0, 1.0])
        steps = [(0.9, wrist0 + axis * 0.1 + [0, 0, 0.03], rot0, OPEN), (0.8, wrist0, rot0, OPEN)]
        for deg in (20, 40, 60, 80, 100):
            r = _rotation_about(spin, np.radians(deg))
            steps.append((0.4, pivot + r @ (wrist0 - pivot), r @ rot0, OPEN))
        r = _rotation_about(spin, np.radians(100))
        last = pivot + r @ (wrist0 - pivot)
        steps.append((0.6, last + [0, 0, 0.12], r @ rot0, OPEN))
        return _plan(steps, rng)


# --------------------------------------------------------------------------- Pour-Balls
@register_task
class PourBalls(Task):
    name = "Pour-Balls"
    instruction = "Pour balls in cup into bowl"
    horizon = 360
    timestep = 1 / 240
    NUM_BALLS = 8
    subtasks = ("reach", "lift", "success")
    object_bodies = ("cup", "bowl") + tuple(f"ball{i}" for i in range(NUM_BALLS))
    CUP_R, CUP_H = 0.035, 0.1
    BOWL_R, BOWL_H = 0.09, 0.04
    BALL_R = 0.011
    CUP_CENTRE, BOWL_CENTRE = (0.40, -0.16), (0.42, 0.06)

    def scene(self) -> SceneObjects:
        balls = "".join(
            f"""    <body name="ball{i}" pos="0.4 0 1.2">
      <freejoint name="ball{i}"/>
      <geom type="sphere" size="{self.BALL_R}" mass="0.004" rgba="0.9 0.2 0.3 1" friction="0.4 0.005 0.0001"/>
    </body>
"""
            for i in range(self.NUM_BALLS)
        )
        return SceneObjects(
            worldbody=f"""    <body name="cup" pos="0.4 -0.16 {TABLE_TOP_Z + self.CUP_H / 2}">
      <freejoint name="cup"/>
{_vessel_geoms(self.CUP_R, self.CUP_H, 0.004, 12, 0.08, "0.3 0.5 0.85 1")}    </body>
    <body name="bowl" pos="0.42 0.06 {TABLE_TOP_Z + self.BOWL_H / 2}">
{_vessel_geoms(self.BOWL_R, self.BOWL_H, 0.006, 16, 0.3, "0.85 0.85 0.8 1")}    </body>
{balls}"""
        )

    def sample_layout(self, rng):
        cup, bowl = _separated(rng, self.CUP_CENTRE, self.BOWL_CENTRE, 0.19)
        return {"cup": cup, "bowl": bowl}

    def apply_layout(self, model, data, layout):
        set_free_pose(data, "cup", [*layout["cup"], TABLE_TOP_Z + self.CUP_H / 2])
        model.body("bowl").pos[:2] = layout["bowl"]
        bottom = TABLE_TOP_Z + 0.006 + self.BALL_R + 0.001
        for i in range(self.NUM_BALLS):
            layer, k = divmod(i, 4)
            dx, dy = (0.013 if k in (0, 1) else -0.013), (0.013 if k in (0, 2) else -0.013)
            set_free_pose(
                data,
                f"ball{i}",
                [layout["cup"][0] + dx, layout["cup"][1] + dy, bottom + layer * (2 * self.BALL_R + 0.002)],
            )

    def balls_in_bowl(self, state: TaskState) -> int:
        balls = np.stack([state.body_pos[f"ball{i}"] for i in range(self.NUM_BALLS)])
        bowl = state.body_pos["bowl"]
        bottom = bowl[2] - self.BOWL_H / 2
        return checks.count_inside_cylinder(balls, bowl, self.BOWL_R - 0.006, bottom, bottom + self.BOWL_H + 0.02)

    def check(self, state, initial):
        cup = state.body_pos["cup"]
        return (
            checks.reached(state.fingertips, cup),
            checks.lifted(cup[2], initial.body_pos["cup"][2]),
            self.balls_in_bowl(state) >= 3,
        )

    def expert_plan(self, obs, rng):
        cup, _ = _obj(obs, 0)
        bowl, _ = _obj(obs, 1)
        z = TABLE_TOP_Z + 0.06
        grasp = side_grasp_wrist(cup, self.CUP_R, z) + _jitter(rng, 0.003)
        offset = grasp - cup
        cup_pour = np.array([bowl[0], bowl[1] - 0.05, TABLE_TOP_Z + self.BOWL_H + self.CUP_H / 2 + 0.1])
        carry = cup_pour + offset
        steps = [
            (0.9, grasp + [0, -0.07, 0.04], SIDE_GRASP, GRASP_PRESHAPE),
            (0.6, grasp + [0, -0.07, 0.0], SIDE_GRASP, GRASP_PRESHAPE),
            (0.6, grasp, SIDE_GRASP, GRASP_PRESHAPE),
            (0.5, grasp, SIDE_GRASP, GRASP_CLOSED),
            (0.8, grasp + [0, 0, 0.16], SIDE_GRASP, GRASP_CLOSED),
            (1.2, carry, SIDE_GRASP, GRASP_CLOSED),
        ]
        for deg in (40, 80, 115, 130):
            r = _rotation_about([1.0, 0.0, 0.0], -np.radians(deg))
            steps.append((0.45, cup_pour + r @ offset, r @ SIDE_GRASP, GRASP_CLOSED))
        steps.append((1.0, cup_pour + r @ offset, r @ SIDE_GRASP, GRASP_CLOSED))
        return _plan(steps, rng)
