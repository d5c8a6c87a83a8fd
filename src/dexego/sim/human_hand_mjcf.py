"""Two free-floating articulated human hands and a head camera, as MJCF fragments for :func:`dexego.sim.scene.scene_xml`.

Hand frame (body ``<side>_hand``): origin at the wrist, x distal along the
palm, z out of the palm (palmar side), y = z cross x -- the same convention
as the robot hand, so ``dexego.hands.hand_frame`` of the 21 keypoint sites
is exactly the body frame (index, middle and little MCPs lie in z = 0 with
the middle MCP on the x axis).

Proportions of an adult hand (wrist to middle fingertip ~0.185 m, palm
~0.085 m wide). Per hand 20 position-actuated joints with human ranges:
thumb CMC opposition + flexion, MCP, IP; each finger MCP abduction + flexion,
PIP, DIP. Collision geometry is capsules only. Each wrist follows a mocap
body through a weld constraint (``<side>_hand_target``); the ego camera sits
on a mocap ``head`` body, so head motion is set per frame.
"""

from __future__ import annotations

import math

import numpy as np

from dexego.geometry import euler_to_matrix, matrix_to_quat
from dexego.sim.hand_mjcf import FINGERTIP_ORDER, SIDES, thumb_sign
from dexego.sim.mjcf import ego_camera_xyaxes
from dexego.sim.mjcf import numbers as _f
from dexego.sim.scene import EmbodimentXML

HUMAN_EMBODIMENT = "human"
FINGERS = ("index", "middle", "ring", "little")
# MCP positions in the hand frame (x along the palm, y towards the thumb; multiplied by the side's thumb sign).
MCP_POS = {"index": (0.088, 0.024), "middle": (0.092, 0.0), "ring": (0.086, -0.020), "little": (0.078, -0.038)}
# Proximal, middle and distal phalanx lengths (m).
PHALANGES = {
    "index": (0.040, 0.024, 0.019),
    "middle": (0.044, 0.027, 0.020),
    "ring": (0.041, 0.026, 0.020),
    "little": (0.033, 0.019, 0.018),
}
FINGER_RADII = {"index": 0.0088, "middle": 0.009, "ring": 0.0085, "little": 0.0076}
THUMB_CMC = (0.024, 0.021, 0.011)
THUMB_BONES = (0.044, 0.032, 0.026)  # metacarpal, proximal, distal
THUMB_RADIUS = 0.0105
THUMB_SPLAY = math.radians(70)  # metacarpal direction from the palm's x axis towards the thumb side
THUMB_TILT = math.radians(20)  # and towards the palmar side
TIP_OUT = 0.7  # fingertip keypoint: this many radii beyond the distal bone's end

# Joint names per hand (actuator order) and their ranges (rad).
THUMB_JOINTS = ("thumb_cmc_opp", "thumb_cmc_flex", "thumb_mcp", "thumb_ip")
FINGER_JOINT_KINDS = ("abd", "mcp", "pip", "dip")
HUMAN_JOINTS: tuple[str, ...] = THUMB_JOINTS + tuple(f"{f}_{k}" for f in FINGERS for k in FINGER_JOINT_KINDS)
HUMAN_RANGES: dict[str, tuple[float, float]] = {
    "thumb_cmc_opp": (-0.2, 1.4),
    "thumb_cmc_flex": (-0.35, 0.8),
    "thumb_mcp": (-0.2, 1.0),
    "thumb_ip": (-0.35, 1.4),
    **{f"{f}_abd": (-0.35, 0.35) for f in FINGERS},
    **{f"{f}_mcp": (-0.35, 1.57) for f in FINGERS},
    **{f"{f}_pip": (0.0, 1.9) for f in FINGERS},
    **{f"{f}_dip": (-0.1, 1.4) for f in FINGERS},
}
NUM_HAND_JOINTS = len(HUMAN_JOINTS)

# keypoint index (dexego.hands.KEYPOINT_NAMES order) -> site suffix
KEYPOINT_SITES: tuple[str, ...] = (
    "wrist",
    "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip",
    *(f"{f}_{k}" for f in FINGERS for k in ("mcp", "pip", "dip", "tip")),
)  # fmt: skip

ARMATURE = 0.001
DAMPING = 0.05
FINGER_KP = 3.0
FINGER_FORCE = 3.0
WELD_SOLREF = "0.01 1"
SKIN_COLOR = (0.87, 0.68, 0.56)
SLEEVE_COLOR = (0.22, 0.28, 0.42)
FOREARM_LENGTH = 0.24
HEAD_FOVY_DEG = 72.0


def _quat_of(matrix: np.ndarray) -> str:
    return _f(*matrix_to_quat(np.asarray(matrix, dtype=np.float64)))


def _joint(side: str, name: str, axis: tuple[float, float, float]) -> str:
    lo, hi = HUMAN_RANGES[name]
    return f'<joint name="{side}_{name}" axis="{_f(*axis)}" range="{_f(lo, hi)}" class="human_finger"/>'


def _site(side: str, name: str, pos: tuple[float, float, float] = (0, 0, 0)) -> str:
    return f'<site name="{side}_{name}" pos="{_f(*pos)}" size="0.004" rgba="0 1 0 0.5" group="4"/>'


def _finger(side: str, finger: str, ind: str) -> str:
    t = thumb_sign(side)
    x, y = MCP_POS[finger]
    l1, l2, l3 = PHALANGES[finger]
    r = FINGER_RADII[finger]
    spread = t if finger in ("index", "middle") else -t  # abduction: away from the middle finger
    flex = (0, -1, 0)  # positive flexion curls towards +z (palmar)
    p = f"{side}_{finger}"
    return f"""{ind}<body name="{p}_proximal" pos="{_f(x, t * y, 0)}">
{ind}  {_site(side, f"{finger}_mcp")}
{ind}  {_joint(side, f"{finger}_abd", (0, 0, spread))}
{ind}  {_joint(side, f"{finger}_mcp", flex)}
{ind}  <geom name="{p}_proximal" type="capsule" fromto="{_f(0, 0, 0, l1, 0, 0)}" size="{r}" class="human_col"/>
{ind}  <body name="{p}_middle" pos="{_f(l1, 0, 0)}">
{ind}    {_site(side, f"{finger}_pip")}
{ind}    {_joint(side, f"{finger}_pip", flex)}
{ind}    <geom name="{p}_middle" type="capsule" fromto="{_f(0, 0, 0, l2, 0, 0)}" size="{r * 0.95:.5f}" class="human_col"/>
{ind}    <body name="{p}_distal" pos="{_f(l2, 0, 0)}">
{ind}      {_site(side, f"{finger}_dip")}
{ind}      {_joint(side, f"{finger}_dip", flex)}
{ind}      <geom name="{p}_distal" type="capsule" fromto="{_f(0, 0, 0, l3, 0, 0)}" size="{r * 0.9:.5f}" class="human_col"/>
{ind}      {_site(side, f"{finger}_tip", (l3 + TIP_OUT * r * 0.9, 0, 0))}
{ind}    </body>
{ind}  </body>
{ind}</body>
"""


def _thumb(side: str, ind: str) -> str:
    t = thumb_sign(side)
    bx, by, bz = THUMB_CMC
    # Metacarpal direction: splayed towards the thumb side, tilted towards the palm (mirrored for the left hand).
    orient = euler_to_matrix(np.array([t * THUMB_SPLAY, -THUMB_TILT, 0.0]), "ZYX")  # about z, then the new y
    l1, l2, l3 = THUMB_BONES
    r = THUMB_RADIUS
    flex = (0, -1, 0)
    p = f"{side}_thumb"
    return f"""{ind}<body name="{p}_base" pos="{_f(bx, t * by, bz)}">
{ind}  {_site(side, "thumb_cmc")}
{ind}  <inertial pos="0 0 0" mass="0.005" diaginertia="1e-6 1e-6 1e-6"/>
{ind}  {_joint(side, "thumb_cmc_opp", (t, 0, 0))}
{ind}  <body name="{p}_metacarpal" quat="{_quat_of(orient)}">
{ind}    {_joint(side, "thumb_cmc_flex", flex)}
{ind}    <geom name="{p}_metacarpal" type="capsule" fromto="{_f(0, 0, 0, l1, 0, 0)}" size="{r * 1.15:.5f}" class="human_col"/>
{ind}    <body name="{p}_proximal" pos="{_f(l1, 0, 0)}">
{ind}      {_site(side, "thumb_mcp")}
{ind}      {_joint(side, "thumb_mcp", flex)}
{ind}      <geom name="{p}_proximal" type="capsule" fromto="{_f(0, 0, 0, l2, 0, 0)}" size="{r:.5f}" class="human_col"/>
{ind}      <body name="{p}_distal" pos="{_f(l2, 0, 0)}">
{ind}        {_site(side, "thumb_ip")}
{ind}        {_joint(side, "thumb_ip", flex)}
{ind}        <geom name="{p}_distal" type="capsule" fromto="{_f(0, 0, 0, l3, 0, 0)}" size="{r * 0.92:.5f}" class="human_col"/>
{ind}        {_site(side, "thumb_tip", (l3 + TIP_OUT * r * 0.92, 0, 0))}
{ind}      </body>
{ind}    </body>
{ind}  </body>
{ind}</body>
"""


def _palm(side: str, ind: str) -> str:
    """Metacarpal capsules (palm), a wrist capsule and a thenar capsule; skin-coloured; a visual sleeved forearm."""
    t = thumb_sign(side)
    out = []
    for finger in FINGERS:
        x, y = MCP_POS[finger]
        out.append(
            f'{ind}<geom name="{side}_{finger}_metacarpal" type="capsule" fromto="{_f(0.012, t * y * 0.55, -0.001, x - 0.009, t * y, -0.001)}"'
            f' size="0.0125" class="human_col"/>\n'
        )
    out.append(
        f'{ind}<geom name="{side}_wrist" type="capsule" fromto="{_f(0.0, t * 0.02, -0.002, 0.0, -t * 0.022, -0.002)}" size="0.016" class="human_col"/>\n'
    )
    bx, by, bz = THUMB_CMC
    out.append(
        f'{ind}<geom name="{side}_thenar" type="capsule" fromto="{_f(0.012, t * 0.008, 0.002, bx + 0.02, t * (by + 0.004), bz - 0.002)}" size="0.0135" class="human_col"/>\n'
    )
    out.append(
        f'{ind}<geom name="{side}_forearm" type="capsule" fromto="{_f(-0.03, 0, -0.004, -FOREARM_LENGTH, 0, -0.02)}" size="0.024"'
        f' class="human_vis" rgba="{_f(*SKIN_COLOR, 1)}"/>\n'
    )
    out.append(
        f'{ind}<geom name="{side}_sleeve" type="capsule" fromto="{_f(-0.13, 0, -0.012, -FOREARM_LENGTH - 0.1, 0, -0.03)}" size="0.034"'
        f' class="human_vis" rgba="{_f(*SLEEVE_COLOR, 1)}"/>\n'
    )
    return "".join(out)


def human_hand_body_xml(side: str, pos: tuple[float, float, float] = (0.2, 0.2, 1.2), indent: str = "    ") -> str:
    """The free-floating ``<side>_hand`` body (palm, thumb, four fingers, the 21 keypoint sites)."""
    ind = indent + "  "
    fingers = "".join(_finger(side, f, ind) for f in FINGERS)
    return f"""{indent}<body name="{side}_hand" pos="{_f(*pos)}" gravcomp="1">
{ind}<freejoint name="{side}_hand_free"/>
{ind}<inertial pos="0.05 0 0" mass="0.4" diaginertia="0.0005 0.0008 0.001"/>
{ind}{_site(side, "wrist")}
{ind}<site name="{side}_palm" pos="{_f(0.06, thumb_sign(side) * -0.005, 0.012)}" size="0.006" rgba="1 1 0 0.5" group="4"/>
{_palm(side, ind)}{fingers}{_thumb(side, ind)}{indent}</body>
{indent}<body name="{side}_hand_target" mocap="true" pos="{_f(*pos)}"/>
"""


def head_body_xml(
    pos: tuple[float, float, float], pitch_deg: float, fovy_deg: float = HEAD_FOVY_DEG, indent: str = "    "
) -> str:
    """A mocap ``head`` body holding the ``ego`` camera, looking along +x and pitched down."""
    return f"""{indent}<body name="head" mocap="true" pos="{_f(*pos)}">
{indent}  <camera name="ego" xyaxes="{_f(*ego_camera_xyaxes(pitch_deg))}" fovy="{fovy_deg:g}"/>
{indent}</body>
"""


def human_defaults_xml() -> str:
    return f"""    <default class="human_finger">
      <joint armature="{ARMATURE}" damping="{DAMPING}" limited="true"/>
      <position kp="{FINGER_KP}" forcerange="-{FINGER_FORCE} {FINGER_FORCE}"/>
    </default>
    <default class="human_col">
      <geom condim="4" contype="2" conaffinity="1" friction="1.5 0.02 0.001" rgba="{_f(*SKIN_COLOR, 1)}" mass="0.01"
            solref="0.005 1" solimp="0.95 0.99 0.001"/>
    </default>
    <default class="human_vis">
      <geom contype="0" conaffinity="0" mass="0"/>
    </default>
"""


def human_actuators_xml() -> str:
    lines = []
    for side in SIDES:
        for joint in HUMAN_JOINTS:
            lo, hi = HUMAN_RANGES[joint]
            lines.append(
                f'    <position name="{side}_{joint}" joint="{side}_{joint}" class="human_finger" ctrlrange="{_f(lo, hi)}"/>'
            )
    return "\n".join(lines) + "\n"


def human_equalities_xml() -> str:
    return "".join(
        f'    <weld name="{side}_wrist_weld" body1="{side}_hand_target" body2="{side}_hand" relpose="0 0 0 1 0 0 0" solref="{WELD_SOLREF}"/>\n'
        for side in SIDES
    )


HEAD_POS = (-0.04, 0.0, 1.60)  # nominal eye position of a person standing at the table (world)
HEAD_PITCH_DEG = 50.0


def human_embodiment_xml() -> EmbodimentXML:
    """The human embodiment for :func:`dexego.sim.scene.scene_xml`: head camera and both hands."""
    body = (
        head_body_xml(HEAD_POS, HEAD_PITCH_DEG)
        + human_hand_body_xml("left", (0.2, 0.22, 1.2))
        + human_hand_body_xml("right", (0.2, -0.22, 1.2))
    )
    return EmbodimentXML(HUMAN_EMBODIMENT, human_defaults_xml(), body, human_equalities_xml(), human_actuators_xml())


__all__ = [
    "FINGERTIP_ORDER",
    "HUMAN_EMBODIMENT",
    "HUMAN_JOINTS",
    "HUMAN_RANGES",
    "KEYPOINT_SITES",
    "NUM_HAND_JOINTS",
    "human_actuators_xml",
    "human_embodiment_xml",
    "human_defaults_xml",
    "human_equalities_xml",
    "human_hand_body_xml",
]


def human_hand_model_xml(side: str) -> str:
    """A standalone model of one human hand, its wrist free and welded to a mocap target (for tests and tools)."""
    return f"""<mujoco model="human_hand_{side}">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{1 / 240:.8f}" integrator="implicitfast" cone="elliptic" impratio="10" gravity="0 0 0"/>
  <default>
{human_defaults_xml()}  </default>
  <worldbody>
    <light pos="0 0 1" dir="0 0 -1"/>
{human_hand_body_xml(side, (0, 0, 0))}  </worldbody>
  <equality>
{human_equalities_xml().splitlines()[SIDES.index(side)]}
  </equality>
  <actuator>
{chr(10).join(line for line in human_actuators_xml().splitlines() if f'"{side}_' in line)}
  </actuator>
</mujoco>
"""
