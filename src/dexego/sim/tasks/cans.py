"""Cans, open containers and their detectors, shared by the long-horizon tasks; one-hand pick/place waypoints.

A can is an upright free cylinder. A container is a static open box (body
origin at the centre of its bottom, on the table) whose inside may be split
into slots along y. Detector thresholds follow the benchmark spec (EgoVLA
appendix 6.6): reach 0.12 m, lift 0.06 m, "upright" as Flip-Mug.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dexego.geometry import slerp_matrix
from dexego.sim import checks
from dexego.sim.scene import TABLE_TOP_Z
from dexego.sim.tasks.base import Waypoint, rotation_from_axes

CAN_R, CAN_H, CAN_MASS = 0.03, 0.11, 0.08
SPRITE_RGBA, SPRITE_BAND = "0.15 0.6 0.25 1", "0.85 0.9 0.85 1"
FANTA_RGBA, FANTA_BAND = "0.95 0.5 0.08 1", "0.15 0.3 0.75 1"
PLAIN_RGBA, PLAIN_BAND = "0.75 0.1 0.12 1", "0.9 0.9 0.9 1"
RESTING_TOLERANCE = 0.02  # a can "stands on" a surface when its bottom is within this of it


def can_xml(name: str, rgba: str = PLAIN_RGBA, band: str = PLAIN_BAND) -> str:
    """A free upright can (a label band around its middle, visual only)."""
    return f"""    <body name="{name}" pos="0.4 0 {TABLE_TOP_Z + CAN_H / 2}">
      <freejoint name="{name}"/>
      <geom type="cylinder" size="{CAN_R} {CAN_H / 2}" mass="{CAN_MASS}" rgba="{rgba}" friction="1.2 0.02 0.001" condim="4"/>
      <geom type="cylinder" size="{CAN_R + 0.0008} {CAN_H * 0.18}" rgba="{band}" contype="0" conaffinity="0" mass="0"/>
    </body>
"""


@dataclass(frozen=True)
class Container:
    """An open box: inner size (x, y), wall height and thickness, ``slots`` equal compartments along y."""

    inner_x: float
    inner_y: float
    wall_h: float
    wall: float = 0.01
    floor: float = 0.006
    slots: int = 1
    rgba: str = "0.6 0.45 0.3 1"

    @property
    def inner_half(self) -> np.ndarray:
        return np.array([self.inner_x / 2, self.inner_y / 2])

    @property
    def outer_half(self) -> np.ndarray:
        return self.inner_half + self.wall

    def slot_offsets(self) -> np.ndarray:
        """(slots, 2) slot centres from the container origin (slot 0 at -y, i.e. the robot's right)."""
        pitch = (self.inner_y + self.wall) / self.slots
        y = -self.inner_y / 2 - self.wall / 2 + pitch * (np.arange(self.slots) + 0.5)
        return np.stack([np.zeros(self.slots), y], axis=1)

    def xml(self, name: str) -> str:
        hx, hy = self.inner_half
        t, h, f = self.wall, self.wall_h, self.floor
        ox, oy = hx + t, hy + t
        g = f'rgba="{self.rgba}" friction="0.8 0.01 0.001"'
        walls = [
            f'      <geom type="box" pos="0 0 {f / 2}" size="{ox} {oy} {f / 2}" {g}/>\n',
            f'      <geom type="box" pos="{hx + t / 2} 0 {h / 2}" size="{t / 2} {oy} {h / 2}" {g}/>\n',
            f'      <geom type="box" pos="{-hx - t / 2} 0 {h / 2}" size="{t / 2} {oy} {h / 2}" {g}/>\n',
            f'      <geom type="box" pos="0 {hy + t / 2} {h / 2}" size="{hx} {t / 2} {h / 2}" {g}/>\n',
            f'      <geom type="box" pos="0 {-hy - t / 2} {h / 2}" size="{hx} {t / 2} {h / 2}" {g}/>\n',
        ]
        pitch = (self.inner_y + t) / self.slots
        for k in range(1, self.slots):
            y = -hy - t / 2 + pitch * k
            walls.append(f'      <geom type="box" pos="0 {y:.5f} {h / 2}" size="{hx} {t / 2} {h / 2}" {g}/>\n')
        return f'    <body name="{name}" pos="0.45 0 {TABLE_TOP_Z}">\n{"".join(walls)}    </body>\n'

    def contains(self, can_pos: np.ndarray, origin: np.ndarray, tolerance: float = RESTING_TOLERANCE) -> bool:
        """The can's centre is over the inside and its bottom is down at the floor (inserted / put in)."""
        d = np.abs(np.asarray(can_pos)[:2] - np.asarray(origin)[:2])
        bottom = float(can_pos[2]) - CAN_H / 2
        return bool(np.all(d < self.inner_half)) and bottom < float(origin[2]) + self.floor + tolerance

    def insert_height(self, origin: np.ndarray, tolerance: float = RESTING_TOLERANCE) -> float:
        """World z below which a can's centre counts as inserted."""
        return float(origin[2]) + self.floor + tolerance + CAN_H / 2

    def outside(self, point: np.ndarray, origin: np.ndarray) -> bool:
        d = np.abs(np.asarray(point)[:2] - np.asarray(origin)[:2])
        return bool(np.any(d >= self.outer_half))


def standing_on_table(can_pos: np.ndarray, can_quat: np.ndarray) -> bool:
    """Upright (as Flip-Mug) with its bottom on the table top (not in the air, not fallen off the table)."""
    bottom = float(can_pos[2]) - CAN_H / 2
    return checks.upright(can_quat) and TABLE_TOP_Z - 0.005 < bottom < TABLE_TOP_Z + RESTING_TOLERANCE


def unloaded(can_pos: np.ndarray, can_quat: np.ndarray, container: Container, origin: np.ndarray) -> bool:
    return container.outside(can_pos, origin) and standing_on_table(can_pos, can_quat)


def hand_reached(
    fingertips: np.ndarray, side: int, target: np.ndarray, threshold: float = checks.REACH_DISTANCE
) -> bool:
    """One given hand's (0 left, 1 right) mean fingertip is within ``threshold`` of the target."""
    centre = np.asarray(fingertips).reshape(2, 5, 3)[side].mean(axis=0)
    return float(np.linalg.norm(centre - np.asarray(target))) < threshold


def per_can_subtasks(stages: tuple[str, ...], cans: tuple[str, ...]) -> tuple[str, ...]:
    """Subtask names stage_can for every stage and can (stage-major), then "success"."""
    return tuple(f"{s}_{c}" for s in stages for c in cans) + ("success",)


# --------------------------------------------------------------------------- one-hand grasp waypoints
HOME = {0: np.array([0.18, 0.22, 1.17]), 1: np.array([0.18, -0.22, 1.17])}
PALM_DOWN = rotation_from_axes([1, 0, 0], [0, 0, -1])
# Fingers forward, palm towards the can from the outside: the right hand's palm faces +y, the left's -y.
SIDE_GRASP = {0: rotation_from_axes([1, 0, 0], [0, -1, 0]), 1: rotation_from_axes([1, 0, 0], [0, 1, 0])}
OPEN = np.zeros(6)
GRASP_CLOSED = np.array([1.3, 0.35, 1.25, 1.25, 1.25, 1.25])
GRASP_PRESHAPE = np.array([1.3, 0.0, 0.2, 0.2, 0.2, 0.2])
WRIST_BEHIND = 0.105  # wrist behind the can centre (x) in the side grasp
PALM_GAP = 0.012  # palm to can surface (y) before closing
GRASP_HEIGHT = 0.05  # wrist above the can bottom in the side grasp
HAND_BELOW_WRIST = 0.047  # the lowest point of the sideways hand below the wrist
Step = tuple  # (duration, pos, rot, hand)


def outward(side: int) -> float:
    """+1 for the left hand (its outside is +y), -1 for the right."""
    return 1.0 if side == 0 else -1.0


def grasp_wrist(
    can: np.ndarray, side: int, bottom_z: float, height: float = GRASP_HEIGHT, palm_gap: float = PALM_GAP
) -> np.ndarray:
    return np.array([can[0] - WRIST_BEHIND, can[1] + outward(side) * (CAN_R + palm_gap), bottom_z + height])


def pick_and_place(
    side: int,
    can: np.ndarray,
    can_bottom: float,
    target: np.ndarray,
    target_bottom: float,
    rng: np.random.Generator,
    grasp_height: float = GRASP_HEIGHT,
    carry: float = 0.13,
    clearance: float = 0.07,
    approach_high: bool = False,
    palm_gap: float = PALM_GAP,
    pull: float = 0.0,
) -> list[Step]:
    """Side-grasp a can at ``can`` (x, y) and release it with its centre over ``target`` and its bottom at ``target_bottom``.

    After the release the hand rises to the carrying height; ``approach_high`` also comes in from that height
    (so the hand passes above cans that are already standing somewhere). ``pull`` is how far closing the fingers
    draws the can back towards the palm (x); the place pose makes up for it.
    """
    rot, s = SIDE_GRASP[side], outward(side)
    grasp = grasp_wrist(can, side, can_bottom, grasp_height, palm_gap) + rng.normal(0.0, 0.003, 3)
    offset = grasp - np.array([can[0], can[1], can_bottom])  # wrist relative to the can bottom, kept while carrying
    place = np.array([target[0] + pull, target[1], target_bottom]) + offset
    top = max(grasp[2], place[2]) + carry
    lift = np.array([grasp[0], grasp[1], top])
    above = np.array([place[0], place[1], top])
    back = np.array([0, s * clearance, 0.0])  # the palm comes in sideways from this far out
    high = [(0.8, np.array([grasp[0], grasp[1] + back[1], top]), rot, GRASP_PRESHAPE)] if approach_high else []
    return high + [
        (0.9, grasp + back + [0, 0, 0.04], rot, GRASP_PRESHAPE),
        (0.6, grasp + back, rot, GRASP_PRESHAPE),
        (0.6, grasp, rot, GRASP_PRESHAPE),
        (0.5, grasp, rot, GRASP_CLOSED),
        (0.7, lift, rot, GRASP_CLOSED),
        (1.1, above, rot, GRASP_CLOSED),
        (0.7, place, rot, GRASP_CLOSED),
        (0.5, place, rot, OPEN),  # the thumb swings back too, or it keeps the can pinched against the palm
        (0.4, place + back * 0.6, rot, OPEN),  # sideways first, so the palm does not drag the can up
        (0.5, np.array([place[0], place[1] + back[1], top]), rot, OPEN),
    ]


def hold(pos: np.ndarray, rot: np.ndarray, hand: np.ndarray, duration: float) -> list[Step]:
    return [(duration, np.asarray(pos, dtype=np.float64), rot, hand)]


def home(side: int, duration: float = 0.8) -> list[Step]:
    return hold(HOME[side], PALM_DOWN, OPEN, duration)


def two_hand_waypoints(left: list[Step], right: list[Step], rng: np.random.Generator, start=None) -> list:
    """Merge the two hands' step lists on one timeline (each hand interpolated at the other's key times).

    The hands start from ``start`` (a :class:`Waypoint`; default: their home
    poses). Durations get +-8% noise per merged segment.
    """

    def times(steps):
        return np.cumsum([d for d, *_ in steps])

    def at(steps, ends, t, start):
        prev_t, prev = 0.0, start
        for end, step in zip(ends, steps):
            if t <= end + 1e-9:
                s = 1.0 if end - prev_t < 1e-9 else (t - prev_t) / (end - prev_t)
                _, pos, rot, hand = step
                p0, r0, h0 = prev
                return p0 + (pos - p0) * s, slerp_matrix(r0, rot, s), h0 + (hand - h0) * s
            prev_t, prev = end, step[1:]
        return steps[-1][1:]

    if start is None:
        starts = {h: (HOME[h], PALM_DOWN, OPEN) for h in (0, 1)}
    else:
        starts = {h: (start.pos[h], start.rot[h], start.hand[h]) for h in (0, 1)}
    sides = {0: left or home(0), 1: right or home(1)}
    ends = {h: times(sides[h]) for h in (0, 1)}
    key_times = np.unique(np.round(np.concatenate([ends[0], ends[1]]), 6))
    out, prev_t = [], 0.0
    for t in key_times:
        poses = [at(sides[h], ends[h], t, starts[h]) for h in (0, 1)]
        out.append(
            Waypoint(
                duration=float((t - prev_t) * rng.uniform(0.92, 1.08)),
                pos=np.stack([np.asarray(p[0], dtype=np.float64) for p in poses]),
                rot=np.stack([p[1] for p in poses]),
                hand=np.stack([np.asarray(p[2], dtype=np.float64) for p in poses]),
            )
        )
        prev_t = t
    return out


def sequence(*parts: list[Step]) -> list[Step]:
    return [s for p in parts for s in p]


def idle_for(steps: list[Step], side: int) -> list[Step]:
    """The given hand holds its home pose for as long as ``steps`` take."""
    return hold(HOME[side], PALM_DOWN, OPEN, float(sum(d for d, *_ in steps)))
