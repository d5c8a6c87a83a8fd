"""The Inspire-like dexterous hand as MJCF, written from the numbers in the benchmark spec.

Hand frame (the body frame of ``<side>_hand``): origin at the wrist, x
distal along the palm, z out of the palm (palmar side), y = z cross x.
The index, middle and little finger bases (MCP sites) lie in the z = 0
plane with the middle MCP on the x axis, so ``dexego.hands.hand_frame``
applied to the robot's keypoints gives exactly this body frame (see
:mod:`dexego.sim.robot_keypoints`).

Per side: 6 actuated joints (thumb yaw, thumb pitch, four finger proximals)
and 6 coupled joints (thumb intermediate = 1.6 x pitch, thumb distal = 2.4 x
pitch, each finger intermediate = 1.0 x its proximal), coupled through
equality constraints.
"""

from __future__ import annotations

import math

from dexego.sim.mjcf import numbers as _f

SIDES = ("left", "right")
FINGERS = ("index", "middle", "ring", "little")
# Actuated joints in action order (per hand).
HAND_ACTUATED = ("thumb_yaw", "thumb_pitch", "index_proximal", "middle_proximal", "ring_proximal", "little_proximal")
HAND_COUPLED = (
    ("thumb_intermediate", "thumb_pitch", 1.6),
    ("thumb_distal", "thumb_pitch", 2.4),
    ("index_intermediate", "index_proximal", 1.0),
    ("middle_intermediate", "middle_proximal", 1.0),
    ("ring_intermediate", "ring_proximal", 1.0),
    ("little_intermediate", "little_proximal", 1.0),
)
HAND_RANGES = {
    "thumb_yaw": (-0.1, 1.3),
    "thumb_pitch": (-0.1, 0.6),
    "index_proximal": (0.0, 1.7),
    "middle_proximal": (0.0, 1.7),
    "ring_proximal": (0.0, 1.7),
    "little_proximal": (0.0, 1.7),
}
FINGERTIP_ORDER = ("thumb", "index", "middle", "ring", "little")  # = dexego.hands.FINGERTIPS order

MCP_X = 0.136  # proximal joints along the palm from the wrist
# Lateral finger offsets towards the thumb side (multiplied by the side's thumb sign).
FINGER_Y = {"index": 0.019, "middle": 0.0, "ring": -0.019, "little": -0.038}
FINGER_SEGMENTS = {"index": (0.034, 0.032), "middle": (0.036, 0.034), "ring": (0.034, 0.032), "little": (0.030, 0.028)}
THUMB_BASE = (0.035, 0.028, 0.006)
THUMB_SEGMENTS = (0.042, 0.030, 0.026)
THUMB_SPLAY = math.radians(68)  # thumb direction at zero: this far from the palm's x axis towards the thumb side
FINGER_RADIUS = 0.0085
ARMATURE = 0.001
DAMPING = 0.05
FINGER_KP = 3.0
FINGER_FORCE = 3.0

HAND_COLOR = "0.82 0.83 0.86 1"
FINGER_COLOR = "0.25 0.27 0.3 1"


def thumb_sign(side: str) -> float:
    """+1 when the thumb lies on +y of the hand frame (left hand), -1 for the right hand."""
    if side not in SIDES:
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    return 1.0 if side == "left" else -1.0


def _finger(side: str, finger: str, indent: str) -> str:
    t = thumb_sign(side)
    p = f"{side}_{finger}"
    prox, inter = FINGER_SEGMENTS[finger]
    lo, hi = HAND_RANGES[f"{finger}_proximal"]
    r = FINGER_RADIUS
    return f"""{indent}<body name="{p}_proximal" pos="{_f(MCP_X, t * FINGER_Y[finger], 0)}">
{indent}  <site name="{p}_mcp" size="0.004" rgba="1 0 0 0.5" group="4"/>
{indent}  <joint name="{p}_proximal" axis="0 -1 0" range="{_f(lo, hi)}" class="finger"/>
{indent}  <geom name="{p}_proximal" type="capsule" fromto="{_f(0, 0, 0, prox, 0, 0)}" size="{r}" class="finger_col"/>
{indent}  <body name="{p}_intermediate" pos="{_f(prox, 0, 0)}">
{indent}    <joint name="{p}_intermediate" axis="0 -1 0" range="{_f(lo, hi)}" class="finger"/>
{indent}    <geom name="{p}_intermediate" type="capsule" fromto="{_f(0, 0, 0, inter, 0, 0)}" size="{r * 0.95}" class="finger_col"/>
{indent}    <site name="{p}_tip" pos="{_f(inter + r * 0.6, 0, 0)}" size="0.004" rgba="0 1 0 0.5" group="4"/>
{indent}  </body>
{indent}</body>
"""


def _thumb(side: str, indent: str) -> str:
    t = thumb_sign(side)
    p = f"{side}_thumb"
    bx, by, bz = THUMB_BASE
    a = THUMB_SPLAY * t  # rotate local x about z towards the thumb side
    quat = _f(math.cos(a / 2), 0, 0, math.sin(a / 2))
    l1, l2, l3 = THUMB_SEGMENTS
    r = FINGER_RADIUS
    ylo, yhi = HAND_RANGES["thumb_yaw"]
    plo, phi = HAND_RANGES["thumb_pitch"]
    return f"""{indent}<body name="{p}_base" pos="{_f(bx, t * by, bz)}">
{indent}  <joint name="{p}_yaw" axis="{_f(t, 0, 0)}" range="{_f(ylo, yhi)}" class="finger"/>
{indent}  <geom type="sphere" size="{r * 1.2}" class="finger_col"/>
{indent}  <body name="{p}_proximal" quat="{quat}">
{indent}    <joint name="{p}_pitch" axis="0 -1 0" range="{_f(plo, phi)}" class="finger"/>
{indent}    <geom name="{p}_proximal" type="capsule" fromto="{_f(0, 0, 0, l1, 0, 0)}" size="{r * 1.1}" class="finger_col"/>
{indent}    <body name="{p}_intermediate" pos="{_f(l1, 0, 0)}">
{indent}      <joint name="{p}_intermediate" axis="0 -1 0" range="{_f(1.6 * plo, 1.6 * phi)}" class="finger"/>
{indent}      <geom name="{p}_intermediate" type="capsule" fromto="{_f(0, 0, 0, l2, 0, 0)}" size="{r}" class="finger_col"/>
{indent}      <body name="{p}_distal" pos="{_f(l2, 0, 0)}">
{indent}        <joint name="{p}_distal" axis="0 -1 0" range="{_f(2.4 * plo, 2.4 * phi)}" class="finger"/>
{indent}        <geom name="{p}_distal" type="capsule" fromto="{_f(0, 0, 0, l3, 0, 0)}" size="{r * 0.95}" class="finger_col"/>
{indent}        <site name="{p}_tip" pos="{_f(l3 + r * 0.6, 0, 0)}" size="0.004" rgba="0 1 0 0.5" group="4"/>
{indent}      </body>
{indent}    </body>
{indent}  </body>
{indent}</body>
"""


def hand_body_xml(side: str, pos: str = "0 0 0", quat: str = "1 0 0 0", indent: str = "") -> str:
    """The ``<side>_hand`` body (palm, thumb, four fingers, sites)."""
    t = thumb_sign(side)
    palm_y = t * (FINGER_Y["index"] + FINGER_Y["little"]) / 2
    fingers = "".join(_finger(side, f, indent + "  ") for f in FINGERS)
    return f"""{indent}<body name="{side}_hand" pos="{pos}" quat="{quat}" gravcomp="1">
{indent}  <inertial pos="0.07 0 0" mass="0.35" diaginertia="0.0004 0.0006 0.0008"/>
{indent}  <site name="{side}_wrist" size="0.006" rgba="0 0 1 0.5" group="4"/>
{indent}  <site name="{side}_palm" pos="{_f(0.08, palm_y, 0.012)}" size="0.006" rgba="1 1 0 0.5" group="4"/>
{indent}  <geom name="{side}_palm" type="box" pos="{_f(0.075, palm_y, -0.004)}" size="{_f(0.068, 0.04, 0.013)}" class="palm_col"/>
{indent}  <geom type="capsule" fromto="{_f(-0.02, 0, -0.004, 0.01, 0, -0.004)}" size="0.025" class="palm_col"/>
{fingers}{_thumb(side, indent + "  ")}{indent}</body>
"""


def hand_defaults_xml() -> str:
    """The default classes the hand uses (put inside ``<default>``)."""
    return f"""    <default class="finger">
      <joint armature="{ARMATURE}" damping="{DAMPING}" limited="true"/>
      <position kp="{FINGER_KP}" forcerange="-{FINGER_FORCE} {FINGER_FORCE}"/>
    </default>
    <default class="finger_col">
      <geom condim="4" contype="2" conaffinity="1" friction="1.5 0.02 0.001" rgba="{FINGER_COLOR}" mass="0.01" solref="0.005 1" solimp="0.95 0.99 0.001"/>
    </default>
    <default class="palm_col">
      <geom condim="4" contype="2" conaffinity="1" friction="1.5 0.02 0.001" rgba="{HAND_COLOR}" mass="0" solref="0.005 1"/>
    </default>
"""


def hand_actuators_xml(side: str) -> str:
    lines = []
    for joint in HAND_ACTUATED:
        lo, hi = HAND_RANGES[joint]
        lines.append(
            f'    <position name="{side}_{joint}" joint="{side}_{joint}" class="finger" ctrlrange="{_f(lo, hi)}"/>'
        )
    return "\n".join(lines) + "\n"


def hand_equalities_xml(side: str) -> str:
    lines = []
    for joint, driver, ratio in HAND_COUPLED:
        lines.append(
            f'    <joint joint1="{side}_{joint}" joint2="{side}_{driver}" polycoef="0 {ratio:g} 0 0 0" solref="0.01 1"/>'
        )
    return "\n".join(lines) + "\n"


def hand_model_xml(side: str) -> str:
    """A standalone model of one hand, its wrist fixed at the world origin (for retargeting and tests)."""
    return f"""<mujoco model="inspire_hand_{side}">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{1 / 240:.8f}" integrator="implicitfast" cone="elliptic" impratio="10" gravity="0 0 0"/>
  <default>
{hand_defaults_xml()}  </default>
  <worldbody>
    <light pos="0 0 1" dir="0 0 -1"/>
{hand_body_xml(side, indent="    ")}  </worldbody>
  <equality>
{hand_equalities_xml(side)}  </equality>
  <actuator>
{hand_actuators_xml(side)}  </actuator>
</mujoco>
"""
