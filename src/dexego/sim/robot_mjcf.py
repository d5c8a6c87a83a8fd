"""The humanoid upper body (fixed torso, two 7-DoF arms, two Inspire-like hands) as MJCF.

Numbers from the benchmark spec: shoulders at (0, +-0.148, 0.423) from the
torso origin, upper arm 0.33 m, forearm to hand 0.28 m. At zero joint angles
the arms hang down with the palms facing the body.
"""

from __future__ import annotations

from dexego.sim.hand_mjcf import hand_actuators_xml, hand_body_xml, hand_defaults_xml, hand_equalities_xml
from dexego.sim.mjcf import ego_camera_xyaxes
from dexego.sim.mjcf import numbers as _f

ROBOT_NAME = "h1_inspire"
TORSO_POS = (-0.12, 0.0, 0.98)  # world position of the torso origin; the table top is at z = 1.0
SHOULDER = (0.0, 0.148, 0.423)
UPPER_ARM = 0.33
FOREARM = 0.28
WRIST_JOINTS_FROM_ELBOW = 0.24
ARM_JOINTS = ("shoulder_pitch", "shoulder_roll", "shoulder_yaw", "elbow", "wrist_roll", "wrist_pitch", "wrist_yaw")
# (axis, range) per joint for the LEFT arm; the right arm mirrors roll/yaw ranges.
ARM_JOINT_SPEC = {
    "shoulder_pitch": ((0, 1, 0), (-3.1, 1.5)),
    "shoulder_roll": ((1, 0, 0), (-0.4, 2.8)),
    "shoulder_yaw": ((0, 0, 1), (-2.6, 2.6)),
    "elbow": ((0, 1, 0), (-2.6, 0.3)),
    "wrist_roll": ((0, 0, 1), (-2.8, 2.8)),
    "wrist_pitch": ((0, 1, 0), (-1.6, 1.6)),
    "wrist_yaw": ((1, 0, 0), (-1.6, 1.6)),
}
ARM_KP = {"shoulder_pitch": 500, "shoulder_roll": 500, "shoulder_yaw": 300, "elbow": 400,
          "wrist_roll": 150, "wrist_pitch": 150, "wrist_yaw": 150}  # fmt: skip
# Hand orientation in the forearm frame at zero angles (rotation matrix columns = hand x, y, z).
_HAND_QUAT = {"left": "0.5 0.5 0.5 -0.5", "right": "0.5 -0.5 0.5 0.5"}
HEAD_CAMERA_POS = (0.13, 0.0, 0.66)  # from the torso origin
HEAD_CAMERA_PITCH_DEG = 52.0  # looking down from the horizontal
HEAD_CAMERA_FOVY_DEG = 72.0
ARM_COLOR = "0.15 0.16 0.18 1"
TORSO_COLOR = "0.2 0.22 0.25 1"


def arm_joint_range(side: str, joint: str) -> tuple[float, float]:
    lo, hi = ARM_JOINT_SPEC[joint][1]
    if side == "right" and joint in ("shoulder_roll", "shoulder_yaw", "wrist_roll", "wrist_yaw"):
        lo, hi = -hi, -lo
    return lo, hi


def _joint(side: str, name: str) -> str:
    axis, _ = ARM_JOINT_SPEC[name]
    lo, hi = arm_joint_range(side, name)
    return f'<joint name="{side}_{name}" axis="{_f(*axis)}" range="{_f(lo, hi)}" class="arm"/>'


def _arm(side: str) -> str:
    y = SHOULDER[1] if side == "left" else -SHOULDER[1]
    j = lambda n: _joint(side, n)  # noqa: E731
    hand = hand_body_xml(
        side, pos=_f(0, 0, -(FOREARM - WRIST_JOINTS_FROM_ELBOW)), quat=_HAND_QUAT[side], indent="              "
    )
    return f"""      <body name="{side}_shoulder" pos="{_f(SHOULDER[0], y, SHOULDER[2])}" gravcomp="1">
        <inertial pos="0 0 0" mass="0.8" diaginertia="0.002 0.002 0.002"/>
        {j("shoulder_pitch")}
        <geom type="sphere" size="0.05" class="arm_vis"/>
        <body name="{side}_shoulder_roll_link" gravcomp="1">
          <inertial pos="0 0 0" mass="0.5" diaginertia="0.001 0.001 0.001"/>
          {j("shoulder_roll")}
          <body name="{side}_upper_arm" gravcomp="1">
            <inertial pos="0 0 -0.15" mass="1.5" diaginertia="0.015 0.015 0.002"/>
            {j("shoulder_yaw")}
            <geom type="capsule" fromto="0 0 -0.04 0 0 {-UPPER_ARM + 0.04:.4f}" size="0.042" class="arm_col"/>
            <body name="{side}_forearm" pos="0 0 {-UPPER_ARM}" gravcomp="1">
              <inertial pos="0 0 -0.12" mass="1.0" diaginertia="0.008 0.008 0.001"/>
              {j("elbow")}
              {j("wrist_roll")}
              <geom type="sphere" size="0.042" class="arm_vis"/>
              <geom type="capsule" fromto="0 0 -0.03 0 0 {-WRIST_JOINTS_FROM_ELBOW + 0.03:.4f}" size="0.034" class="arm_col"/>
              <body name="{side}_wrist_link" pos="0 0 {-WRIST_JOINTS_FROM_ELBOW}" gravcomp="1">
                <inertial pos="0 0 -0.02" mass="0.3" diaginertia="0.0004 0.0004 0.0004"/>
                {j("wrist_pitch")}
                {j("wrist_yaw")}
                <geom type="sphere" size="0.03" class="arm_vis"/>
{hand}              </body>
            </body>
          </body>
        </body>
      </body>
"""


def robot_defaults_xml() -> str:
    return f"""{hand_defaults_xml()}    <default class="arm">
      <joint armature="0.05" damping="8" limited="true"/>
    </default>
    <default class="arm_col">
      <geom rgba="{ARM_COLOR}" condim="3" mass="0" contype="2" conaffinity="1"/>
    </default>
    <default class="arm_vis">
      <geom rgba="{ARM_COLOR}" contype="0" conaffinity="0" mass="0"/>
    </default>
"""


def robot_body_xml() -> str:
    return f"""    <body name="torso" pos="{_f(*TORSO_POS)}">
      <geom type="box" pos="-0.02 0 0.2" size="0.09 0.13 0.26" rgba="{TORSO_COLOR}" contype="0" conaffinity="0"/>
      <geom type="box" pos="-0.02 0 0.43" size="0.07 0.19 0.04" rgba="{TORSO_COLOR}" contype="0" conaffinity="0"/>
      <geom type="capsule" fromto="-0.02 0 0.47 -0.02 0 0.53" size="0.035" rgba="{TORSO_COLOR}" contype="0" conaffinity="0"/>
      <geom type="sphere" pos="0.0 0 0.62" size="0.1" rgba="{TORSO_COLOR}" contype="0" conaffinity="0" group="3"/>
      <camera name="ego" pos="{_f(*HEAD_CAMERA_POS)}" xyaxes="{_f(*ego_camera_xyaxes(HEAD_CAMERA_PITCH_DEG))}" fovy="{HEAD_CAMERA_FOVY_DEG}"/>
{_arm("left")}{_arm("right")}    </body>
"""


def robot_actuators_xml() -> str:
    lines = []
    for side in ("left", "right"):
        for joint in ARM_JOINTS:
            lo, hi = arm_joint_range(side, joint)
            lines.append(
                f'    <position name="{side}_{joint}" joint="{side}_{joint}" kp="{ARM_KP[joint]}" ctrlrange="{_f(lo, hi)}"/>'
            )
    arms = "\n".join(lines) + "\n"
    return arms + hand_actuators_xml("left") + hand_actuators_xml("right")


def robot_equalities_xml() -> str:
    return hand_equalities_xml("left") + hand_equalities_xml("right")
