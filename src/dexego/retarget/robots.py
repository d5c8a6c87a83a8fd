"""Robots by name or file: built-in descriptions ship in ``retarget/robots/``; any other is a YAML file away.

A hand file (see :mod:`dexego.retarget.hand`) describes one hand. A robot
file names a description, a hand file per side and, optionally, an arm per
side (root body, end-effector site, joints, palm sites for the wrist
calibration).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np
import torch
import yaml

from dexego.actions.robot import RobotActionConfig
from dexego.errors import InputError
from dexego.geometry.transforms import invert_transform, make_transform
from dexego.hands.layout import SIDES
from dexego.retarget.arm import RobotArm
from dexego.retarget.chain import load_model
from dexego.retarget.hand import RobotHand
from dexego.retarget.packaged import resolve_description

BUILTIN_DIR = Path(__file__).parent / "robots"


def builtin_names() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml"))


def resolve(name_or_path: str | os.PathLike) -> Path:
    """A built-in name (``h1_inspire``, ``inspire_hand_right``) or a path to a YAML file."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise InputError(path, None, "robot file not found")
        return path
    builtin = BUILTIN_DIR / f"{name_or_path}.yaml"
    if builtin.is_file():
        return builtin
    raise InputError(
        None,
        "robot",
        f"unknown robot {str(name_or_path)!r}; built-in: {', '.join(builtin_names())}, or give a .yaml file",
    )


@dataclass
class Robot:
    """Hands (left, right; None for a missing side) and arms of one robot."""

    name: str
    hands: dict[str, RobotHand]
    arms: dict[str, RobotArm]
    # The head camera in the arms' root frame, OpenCV convention (x right, y down, z forward); None without one.
    base_from_camera: torch.Tensor | None = None


def load_robot(name_or_path: str | os.PathLike, dtype: torch.dtype = torch.float32) -> Robot:
    """Load a robot file, or a single hand file (a robot with that one hand)."""
    path = resolve(name_or_path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(path, None, f"not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(path, None, "expected a mapping at the top level")
    if "hands" not in data:  # a hand file
        hand = RobotHand.from_yaml(path, dtype=dtype)
        return Robot(hand.name, {hand.side: hand}, {})
    unknown = sorted(set(data) - {"name", "description", "hands", "arms", "camera"})
    if unknown:
        raise InputError(path, unknown[0], "unknown key; valid keys: arms, camera, description, hands, name")
    hands = {}
    for side, hand_file in (data.get("hands") or {}).items():
        if side not in SIDES:
            raise InputError(path, f"hands.{side}", "sides are 'left' and 'right'")
        hand = RobotHand.from_yaml(path.parent / hand_file, dtype=dtype)
        if hand.side != side:
            raise InputError(path, f"hands.{side}", f"{hand_file} describes a {hand.side} hand")
        hands[side] = hand
    arms = {}
    base_from_camera = None
    if data.get("arms"):
        if "description" not in data:
            raise InputError(path, "description", "missing (needed for the arms)")
        description = Path(resolve_description(data["description"], path, path.parent))
        model = load_model(description)
        for side, arm in data["arms"].items():
            if side not in SIDES or not isinstance(arm, dict):
                raise InputError(path, f"arms.{side}", "expected arms.left / arms.right mappings")
            for key in ("root", "end_effector"):
                if key not in arm:
                    raise InputError(path, f"arms.{side}.{key}", "missing")
            arms[side] = RobotArm(
                model,
                arm["root"],
                arm["end_effector"],
                side,
                palm_sites=arm.get("palm_sites"),
                joints=tuple(arm["joints"]) if arm.get("joints") else None,
                source=str(description),
            )
        if data.get("camera"):
            roots = {arm.chain.root for arm in arms.values()}
            if len(roots) != 1:
                raise InputError(path, "camera", "the arms must share one root body to place the head camera")
            base_from_camera = _camera_pose(model, roots.pop(), str(data["camera"]), path)
    return Robot(str(data.get("name", path.stem)), hands, arms, base_from_camera)


def _camera_pose(model: mujoco.MjModel, root: str, camera: str, path: Path) -> torch.Tensor:
    """The camera's pose in the root body's frame, converted from MuJoCo's (-z forward, y up) to OpenCV's."""
    cid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, camera)
    if cid < 0:
        raise InputError(path, "camera", f"no camera named {camera!r} in the robot description")
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    mujoco.mj_camlight(model, data)  # camera poses are not part of mj_kinematics
    body = data.body(root)

    world_from_root = make_transform(body.xmat.reshape(3, 3), body.xpos)
    world_from_camera = make_transform(data.cam_xmat[cid].reshape(3, 3), data.cam_xpos[cid]) @ np.diag(
        [1.0, -1.0, -1.0, 1.0]
    )
    return torch.tensor(invert_transform(world_from_root) @ world_from_camera)


def robot_action_config(name_or_path: str | os.PathLike) -> RobotActionConfig:
    """The robot's action space (:mod:`dexego.actions.robot`): its hand joints per side (the hand files'
    ``actuated`` order) with their limits, named as the robot."""
    robot = load_robot(name_or_path)
    if not robot.hands:
        raise InputError(
            resolve(name_or_path), "hands", "the robot has no hands: its action space would hold no joints"
        )
    fields: dict = {"name": robot.name, "description": str(name_or_path)}
    for side in SIDES:
        hand = robot.hands.get(side)
        if hand is None:
            continue
        fields[f"{side}_joints"] = tuple(hand.joint_names)
        fields[f"{side}_lower"] = tuple(float(x) for x in hand.lower)
        fields[f"{side}_upper"] = tuple(float(x) for x in hand.upper)
    return RobotActionConfig(**fields)
