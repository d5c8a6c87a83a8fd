"""Export a robot hand as URDF (for tools that read URDF only, e.g. dex-retargeting).

The URDF's base link is the hand's WRIST FRAME (``hand_frame`` of its palm
sites), so link positions that URDF tools compute in their base frame are
directly comparable with dexego's wrist-frame keypoints. Every mapped
keypoint becomes a fixed link named after it (``thumb_tip``, ...). Linear
couplings become ``<mimic>`` tags. A ``<mujoco>`` block keeps MuJoCo from
fusing the fixed keypoint links when the file is loaded back.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import torch

from dexego.geometry.rotations import quat_to_matrix
from dexego.hands.layout import KEYPOINT_NAMES
from dexego.retarget.chain import HINGE
from dexego.retarget.hand import RobotHand
from dexego.utils.files import write_text_atomic

BASE_LINK = "wrist_frame"


def _rpy(rot: np.ndarray) -> tuple[float, float, float]:
    """URDF roll-pitch-yaw (fixed axes x, y, z) of a rotation matrix."""
    pitch = float(np.arcsin(-np.clip(rot[2, 0], -1.0, 1.0)))
    if abs(np.cos(pitch)) > 1e-9:
        roll = float(np.arctan2(rot[2, 1], rot[2, 2]))
        yaw = float(np.arctan2(rot[1, 0], rot[0, 0]))
    else:  # gimbal lock: put everything in yaw
        roll, yaw = 0.0, float(np.arctan2(-rot[0, 1], rot[1, 1]))
    return roll, pitch, yaw


def _fmt(values) -> str:
    return " ".join(f"{float(v):.9g}" for v in values)


def _origin(parent: ET.Element, rot: np.ndarray, pos: np.ndarray) -> None:
    ET.SubElement(parent, "origin", xyz=_fmt(pos), rpy=_fmt(_rpy(rot)))


def _link(robot: ET.Element, name: str) -> None:
    link = ET.SubElement(robot, "link", name=name)
    inertial = ET.SubElement(link, "inertial")
    ET.SubElement(inertial, "mass", value="0.01")
    ET.SubElement(inertial, "inertia", ixx="1e-6", iyy="1e-6", izz="1e-6", ixy="0", ixz="0", iyz="0")


def hand_to_urdf(hand: RobotHand) -> str:
    chain = hand.chain
    for joint in chain.joints:
        if joint.ref != 0:
            raise ValueError(f"joint {joint.name!r} has a non-zero reference position, which URDF cannot express")
    robot = ET.Element("robot", name=hand.name)
    mj = ET.SubElement(robot, "mujoco")
    ET.SubElement(mj, "compiler", fusestatic="false", discardvisual="false", angle="radian")
    _link(robot, BASE_LINK)
    wrist_from_root = hand.wrist_from_root.double().numpy()
    # Each body's link sits at its last joint's anchor; offset[b] is that anchor in the body frame.
    offset = [np.zeros(3) for _ in chain.bodies]
    link_of = [""] * len(chain.bodies)
    for b, body in enumerate(chain.bodies):
        if body.parent < 0:
            parent_link, rot, pos = BASE_LINK, wrist_from_root[:3, :3], wrist_from_root[:3, 3]
        else:
            parent_link = link_of[body.parent]
            rot = quat_to_matrix(torch.tensor(body.quat)).numpy()
            pos = body.pos - offset[body.parent]
        name = body.name
        if not body.joints:
            _link(robot, name)
            joint = ET.SubElement(robot, "joint", name=f"{name}_fixed", type="fixed")
            ET.SubElement(joint, "parent", link=parent_link)
            ET.SubElement(joint, "child", link=name)
            _origin(joint, rot, pos)
        previous_anchor = np.zeros(3)
        for k, j in enumerate(body.joints):
            spec = chain.joints[j]
            link_name = name if k == len(body.joints) - 1 else f"{name}_{spec.name}_link"
            _link(robot, link_name)
            limited = np.isfinite(spec.lower) and np.isfinite(spec.upper)
            kind = ("revolute" if limited else "continuous") if spec.kind == HINGE else "prismatic"
            joint = ET.SubElement(robot, "joint", name=spec.name, type=kind)
            ET.SubElement(joint, "parent", link=parent_link)
            ET.SubElement(joint, "child", link=link_name)
            if k == 0:
                _origin(joint, rot, pos + rot @ spec.anchor)
            else:
                _origin(joint, np.eye(3), spec.anchor - previous_anchor)
            ET.SubElement(joint, "axis", xyz=_fmt(spec.axis))
            if limited or spec.kind != HINGE:
                ET.SubElement(
                    joint, "limit", lower=f"{spec.lower:.9g}", upper=f"{spec.upper:.9g}", effort="10", velocity="10"
                )
            parent_link, previous_anchor = link_name, spec.anchor
        offset[b] = previous_anchor
        link_of[b] = name
    for coupling in chain.couplings:
        coefficients = list(coupling.coefficients) + [0.0] * 2
        if any(abs(c) > 0 for c in coefficients[2:]):
            raise ValueError(
                f"joint {chain.joints[coupling.joint].name!r} has a nonlinear coupling, which URDF cannot express"
            )
        joint = robot.find(f"joint[@name='{chain.joints[coupling.joint].name}']")
        ET.SubElement(
            joint,
            "mimic",
            joint=chain.joints[coupling.driver].name,
            multiplier=f"{coefficients[1]:.9g}",
            offset=f"{coefficients[0]:.9g}",
        )
    for point in chain.points:
        name = point.name
        _link(robot, name)
        joint = ET.SubElement(robot, "joint", name=f"{name}_fixed", type="fixed")
        ET.SubElement(joint, "parent", link=link_of[point.body])
        ET.SubElement(joint, "child", link=name)
        _origin(joint, quat_to_matrix(torch.tensor(point.quat)).numpy(), point.pos - offset[point.body])
    ET.indent(robot)
    return ET.tostring(robot, encoding="unicode") + "\n"


def export_urdf(hand: RobotHand, path: str | os.PathLike) -> Path:
    """Write the hand's URDF (through a temporary file) and return its path."""
    return write_text_atomic(path, hand_to_urdf(hand))


def urdf_hand_spec(hand: RobotHand, urdf_path: str | os.PathLike) -> dict:
    """A hand-file mapping for the exported URDF (keypoints are the fixed links named after them)."""
    names = [KEYPOINT_NAMES[k] for k in hand.keypoint_indices]
    return {
        "name": f"{hand.name}_urdf",
        "side": hand.side,
        "description": str(urdf_path),
        "root": BASE_LINK,
        "actuated": list(hand.joint_names),
        "keypoints": {n: {"body": n} for n in names},
    }
