"""Scenes: a room, a table at z = 1.0 m, lights, the robot and a task's objects, as one MJCF model.

The 5 room and 5 table appearances are procedural textures compiled into
every model; a visual configuration (room, table) is chosen at reset by
switching the materials of the room and table geoms, so one compiled model
serves all 25 configurations. Rendering is set up for speed: no shadows, no
reflections, no multisampling.
"""

from __future__ import annotations

from dataclasses import dataclass

from dexego.sim.robot_mjcf import (
    ROBOT_NAME,
    robot_actuators_xml,
    robot_body_xml,
    robot_defaults_xml,
    robot_equalities_xml,
)

TABLE_TOP_Z = 1.0
TABLE_CENTER = (0.55, 0.0)
TABLE_HALF = (0.35, 0.6)
NUM_ROOMS = 5
NUM_TABLES = 5
Look = tuple[int, int]  # (room, table), 1-based as in the paper: one of the 25 visual configurations
ALL_CONFIGS: tuple[Look, ...] = tuple((r, t) for r in range(1, NUM_ROOMS + 1) for t in range(1, NUM_TABLES + 1))
# The look protocol (DESIGN.md, "Benchmark protocol for learned policies"): the 25 looks split three ways.
# Robot demonstrations use ROBOT_LOOKS (evaluation split "seen"); human demonstrations use HUMAN_LOOKS
# (split "human"); EVAL_LOOKS (split "unseen": every look of room 5 or table 5, so no training frame
# shows that room or that table at all) appear in no demonstration.
ROBOT_LOOKS: tuple[Look, ...] = ((1, 1), (2, 1), (3, 1))
EVAL_LOOKS: tuple[Look, ...] = tuple(c for c in ALL_CONFIGS if c[0] == NUM_ROOMS or c[1] == NUM_TABLES)
HUMAN_LOOKS: tuple[Look, ...] = tuple(c for c in ALL_CONFIGS if c not in ROBOT_LOOKS and c not in EVAL_LOOKS)
LOOK_SPLITS: dict[str, tuple[Look, ...]] = {"seen": ROBOT_LOOKS, "human": HUMAN_LOOKS, "unseen": EVAL_LOOKS}
SEEN_CONFIGS = ROBOT_LOOKS

# (builtin, mark, rgb1, rgb2) for floor and walls of each room; tables likewise.
_ROOMS = (
    (("checker", "none", "0.55 0.45 0.35", "0.45 0.36 0.28"), ("flat", "random", "0.85 0.83 0.78", "0.7 0.7 0.7")),
    (("checker", "edge", "0.3 0.32 0.36", "0.22 0.23 0.26"), ("gradient", "none", "0.55 0.65 0.75", "0.8 0.85 0.9")),
    (("flat", "random", "0.6 0.55 0.5", "0.3 0.3 0.3"), ("checker", "none", "0.75 0.7 0.55", "0.7 0.65 0.5")),
    (("checker", "cross", "0.2 0.35 0.25", "0.15 0.25 0.2"), ("flat", "random", "0.55 0.35 0.3", "0.9 0.9 0.9")),
    (("gradient", "random", "0.8 0.8 0.82", "0.4 0.4 0.45"), ("checker", "edge", "0.35 0.3 0.45", "0.5 0.45 0.6")),
)
_TABLES = (
    ("flat", "random", "0.62 0.47 0.32", "0.5 0.38 0.25"),
    ("checker", "none", "0.9 0.9 0.9", "0.75 0.75 0.75"),
    ("gradient", "none", "0.25 0.25 0.28", "0.4 0.4 0.45"),
    ("checker", "edge", "0.55 0.65 0.5", "0.45 0.55 0.4"),
    ("flat", "random", "0.78 0.72 0.6", "0.2 0.2 0.2"),
)


@dataclass(frozen=True)
class SceneObjects:
    """What a task adds to the scene: MJCF fragments."""

    assets: str = ""
    worldbody: str = ""
    equality: str = ""
    defaults: str = ""
    contact: str = ""  # <exclude .../> lines, e.g. between a fixed cabinet and its drawer


@dataclass(frozen=True)
class EmbodimentXML:
    """Who acts in the scene (the robot, or the human hands with a head camera): MJCF fragments."""

    name: str
    defaults: str
    body: str
    equality: str
    actuators: str


def robot_embodiment_xml() -> EmbodimentXML:
    return EmbodimentXML(
        ROBOT_NAME, robot_defaults_xml(), robot_body_xml(), robot_equalities_xml(), robot_actuators_xml()
    )


def _texture(name: str, spec: tuple[str, str, str, str], size: int = 128) -> str:
    builtin, mark, rgb1, rgb2 = spec
    extra = (
        ' random="0.08" markrgb="0.2 0.2 0.2"'
        if mark == "random"
        else (' markrgb="0.1 0.1 0.1"' if mark != "none" else "")
    )
    return (
        f'    <texture name="{name}" type="2d" builtin="{builtin}" mark="{mark}" rgb1="{rgb1}" rgb2="{rgb2}"'
        f' width="{size}" height="{size}"{extra}/>\n'
    )


def _scene_assets() -> str:
    out = []
    for i, (floor, wall) in enumerate(_ROOMS, start=1):
        out.append(_texture(f"room{i}_floor", floor))
        out.append(_texture(f"room{i}_wall", wall))
        out.append(f'    <material name="room{i}_floor" texture="room{i}_floor" texrepeat="6 6" reflectance="0"/>\n')
        out.append(f'    <material name="room{i}_wall" texture="room{i}_wall" texrepeat="4 2" reflectance="0"/>\n')
    for i, spec in enumerate(_TABLES, start=1):
        out.append(_texture(f"table{i}", spec))
        out.append(f'    <material name="table{i}" texture="table{i}" texrepeat="3 3" reflectance="0"/>\n')
    return "".join(out)


def _room_and_table() -> str:
    cx, cy = TABLE_CENTER
    hx, hy = TABLE_HALF
    thick = 0.03
    legs = "".join(
        f'      <geom type="box" pos="{cx + sx * (hx - 0.04):.3f} {cy + sy * (hy - 0.04):.3f} {(TABLE_TOP_Z - thick) / 2:.3f}"'
        f' size="0.03 0.03 {(TABLE_TOP_Z - thick) / 2:.3f}" rgba="0.3 0.3 0.3 1" contype="0" conaffinity="0"/>\n'
        for sx in (-1, 1)
        for sy in (-1, 1)
    )
    return f"""    <geom name="floor" type="plane" size="4 4 0.1" material="room1_floor" contype="1" conaffinity="1"/>
    <geom name="wall_front" type="box" pos="2.2 0 1.5" size="0.05 3 1.5" material="room1_wall" contype="0" conaffinity="0"/>
    <geom name="wall_left" type="box" pos="0.5 2.2 1.5" size="3 0.05 1.5" material="room1_wall" contype="0" conaffinity="0"/>
    <geom name="wall_right" type="box" pos="0.5 -2.2 1.5" size="3 0.05 1.5" material="room1_wall" contype="0" conaffinity="0"/>
    <body name="table" pos="0 0 0">
      <geom name="table_top" type="box" pos="{cx} {cy} {TABLE_TOP_Z - thick / 2}" size="{hx} {hy} {thick / 2}" material="table1"
            friction="0.8 0.01 0.001" condim="3"/>
{legs}    </body>
"""


ROOM_GEOMS = ("floor",)
WALL_GEOMS = ("wall_front", "wall_left", "wall_right")
TABLE_GEOMS = ("table_top",)


def scene_xml(
    objects: SceneObjects, timestep: float, name: str = "scene", embodiment: EmbodimentXML | None = None
) -> str:
    """The complete model: room, table, the embodiment (default: the robot) and the task's objects."""
    who = embodiment or robot_embodiment_xml()
    return f"""<mujoco model="{who.name}_{name}">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{timestep:.8f}" integrator="implicitfast" cone="elliptic" impratio="10"/>
  <visual>
    <quality shadowsize="0" offsamples="0"/>
    <global offwidth="640" offheight="640"/>
    <headlight ambient="0.35 0.35 0.35" diffuse="0.45 0.45 0.45" specular="0 0 0"/>
  </visual>
  <default>
{who.defaults}{objects.defaults}  </default>
  <asset>
{_scene_assets()}{objects.assets}  </asset>
  <worldbody>
    <light name="key" pos="0.3 0.5 2.6" dir="0.1 -0.2 -1" diffuse="0.5 0.5 0.5" castshadow="false"/>
{_room_and_table()}{who.body}{objects.worldbody}  </worldbody>
  <equality>
{who.equality}{objects.equality}  </equality>
  <contact>
{objects.contact}  </contact>
  <actuator>
{who.actuators}  </actuator>
</mujoco>
"""


def check_visual_config(room: int, table: int) -> None:
    if not (1 <= room <= NUM_ROOMS and 1 <= table <= NUM_TABLES):
        raise ValueError(
            f"visual configuration (room, table) must be in 1..{NUM_ROOMS} x 1..{NUM_TABLES}, got ({room}, {table})"
        )


def apply_visual_config(model, room: int, table: int) -> None:
    """Switch the room and table materials of a compiled scene model (takes effect at the next render)."""
    import mujoco

    check_visual_config(room, table)

    def mat(name: str) -> int:
        return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_MATERIAL, name)

    for geom in ROOM_GEOMS:
        model.geom(geom).matid = mat(f"room{room}_floor")
    for geom in WALL_GEOMS:
        model.geom(geom).matid = mat(f"room{room}_wall")
    for geom in TABLE_GEOMS:
        model.geom(geom).matid = mat(f"table{table}")
