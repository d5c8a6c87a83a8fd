"""A LeRobot dataset's joint columns -> a robot description's joints -> hands by forward kinematics.

``dexego convert lerobot IN OUT --robot ROBOT.yaml --map MAP.toml``. The map file says which value of
the dataset's state (and action) column is which joint of the robot description, and where the camera
is; the converter then computes each frame's hands (21 keypoints, hence ``ego48``) by forward kinematics
of the arms (wrist pose) and hands (keypoints), and keeps the joint columns named by the robot's joints,
so the robot action spaces (:mod:`dexego.actions.robot`) find them::

    # MAP.toml
    [state]
    column = "observation.state"          # default
    joints = ["left_shoulder_pitch", ..., "right_little_proximal"]   # one robot joint per value; "" = not a joint
    unit = "rad"                          # or "deg"
    [action]                              # optional; default: the state's joints, for the "action" column
    column = "action"
    joints = [...]
    [camera]
    key = "observation.images.cam_high"   # the video kept (default: --camera, else the first)
    base_from_camera = [[...], [...], [...], [...]]   # 4x4, the camera in the arms' root frame, OpenCV axes
    # or: from_description = true         # the robot description's (fixed) camera
    fov_x_deg = 69.4                      # or intrinsics = [fx, fy, cx, cy] at the video's size

Without a camera pose the camera is assumed at the arms' root frame (identity) and the episode metadata
marks the pose assumed, as without a map. The camera must be fixed relative to the arms' root (a head
camera on a fixed torso); a moving camera is not supported by the map.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dexego.errors import ConfigError, InputError
from dexego.geometry.transforms import apply_transform

MAP_KEYS = {"state", "action", "camera"}
COLUMN_KEYS = {"column", "joints", "unit"}
CAMERA_KEYS = {"key", "base_from_camera", "from_description", "fov_x_deg", "intrinsics"}
UNITS = {"rad": 1.0, "deg": math.pi / 180.0}


@dataclass(frozen=True)
class ColumnMap:
    column: str
    joints: tuple[str, ...]  # one per value of the column ("" = not a robot joint)
    scale: float = 1.0  # to radians


@dataclass(frozen=True)
class RobotMap:
    path: Path
    state: ColumnMap
    action: ColumnMap | None
    camera_key: str | None = None
    base_from_camera: np.ndarray | None = None  # (4, 4)
    camera_from_description: bool = False
    fov_x_deg: float | None = None
    intrinsics: tuple[float, float, float, float] | None = None


def read_map(path: str | Path) -> RobotMap:
    path = Path(path)
    if not path.is_file():
        raise InputError(path, None, "joint map file not found")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise InputError(path, None, f"not valid TOML: {exc}") from None
    _known(data, MAP_KEYS, path, "")
    if "state" not in data:
        raise InputError(path, "state", "missing: the map must name the joints of the state column")
    state = _column(data["state"], "observation.state", path, "state")
    action = (
        _column(data["action"], "action", path, "action")
        if "action" in data
        else ColumnMap("action", state.joints, state.scale)
    )
    camera = data.get("camera", {})
    _known(camera, CAMERA_KEYS, path, "camera.")
    pose = None
    if "base_from_camera" in camera:
        pose = np.asarray(camera["base_from_camera"], dtype=np.float64)
        if pose.shape != (4, 4) or not np.isfinite(pose).all() or not np.allclose(pose[3], [0, 0, 0, 1]):
            raise InputError(
                path, "camera.base_from_camera", "expected a finite 4x4 rigid transform (last row 0 0 0 1)"
            )
        rot = pose[:3, :3]
        if not np.allclose(rot @ rot.T, np.eye(3), atol=1e-4) or np.linalg.det(rot) < 0:
            raise InputError(path, "camera.base_from_camera", "the rotation part is not a rotation matrix")
    from_description = bool(camera.get("from_description", False))
    if pose is not None and from_description:
        raise InputError(path, "camera", "give base_from_camera or from_description, not both")
    intrinsics = camera.get("intrinsics")
    if intrinsics is not None and (len(intrinsics) != 4 or min(intrinsics[:2]) <= 0):
        raise InputError(path, "camera.intrinsics", "expected [fx, fy, cx, cy] with positive focal lengths")
    return RobotMap(path, state, action, camera.get("key"), pose, from_description, camera.get("fov_x_deg"),
                    tuple(float(x) for x in intrinsics) if intrinsics is not None else None)  # fmt: skip


def _known(table: dict, keys: set[str], path: Path, prefix: str) -> None:
    if not isinstance(table, dict):
        raise InputError(path, prefix.rstrip(".") or None, "expected a table")
    unknown = sorted(set(table) - keys)
    if unknown:
        raise InputError(path, f"{prefix}{unknown[0]}", f"unknown key; valid keys: {', '.join(sorted(keys))}")


def _column(table: dict, default: str, path: Path, name: str) -> ColumnMap:
    _known(table, COLUMN_KEYS, path, f"{name}.")
    joints = table.get("joints")
    if not isinstance(joints, list) or not all(isinstance(j, str) for j in joints) or not joints:
        raise InputError(path, f"{name}.joints", "expected a list of joint names, one per value of the column")
    named = [j for j in joints if j]
    if len(set(named)) != len(named):
        raise InputError(path, f"{name}.joints", "a joint is named twice")
    unit = table.get("unit", "rad")
    if unit not in UNITS:
        raise InputError(path, f"{name}.unit", f"expected one of {', '.join(UNITS)}, got {unit!r}")
    return ColumnMap(str(table.get("column", default)), tuple(joints), UNITS[unit])


class RobotKinematics:
    """The robot's arms and hands, and which joints of a mapped column drive them."""

    def __init__(self, robot_file: str, mapping: RobotMap):
        from dexego.retarget.robots import load_robot, resolve

        self.robot = load_robot(robot_file, dtype=torch.float64)
        self.file = resolve(robot_file)
        self.map = mapping
        known = set()
        for side in ("left", "right"):
            if side in self.robot.hands:
                known |= set(self.robot.hands[side].joint_names)
            if side in self.robot.arms:
                known |= set(self.robot.arms[side].joint_names)
        for column in (mapping.state, mapping.action):
            if column is None:
                continue
            field = "state" if column is mapping.state else "action"
            stranger = [j for j in column.joints if j and j not in known]
            if stranger:
                raise InputError(mapping.path, f"{field}.joints", f"{stranger[0]!r} is not a joint of the robot {self.robot.name!r} "
                                 f"({self.file})")  # fmt: skip
        self.sides = [s for s in ("left", "right") if s in self.robot.hands and s in self.robot.arms]
        if not self.sides:
            raise InputError(
                self.file, "arms", "forward kinematics of the hands needs at least one side with an arm and a hand"
            )
        for side in self.sides:
            needed = list(self.robot.arms[side].joint_names) + list(self.robot.hands[side].joint_names)
            missing = [j for j in needed if j not in mapping.state.joints]
            if missing:
                raise InputError(mapping.path, "state.joints", f"the {side} arm and hand need joint {missing[0]!r}, which the map "
                                 f"does not name ({len(missing)} missing)")  # fmt: skip
        if mapping.camera_from_description and self.robot.base_from_camera is None:
            raise InputError(mapping.path, "camera.from_description", f"{self.file} names no camera")

    def check_columns(self, features: dict, root: Path) -> None:
        """Each mapped column exists with as many values as the map names joints."""
        for field, column in (("state", self.map.state), ("action", self.map.action)):
            if column is None:
                continue
            feature = features.get(column.column)
            if feature is None:
                raise InputError(
                    root, column.column, f"the dataset has no column {column.column!r} (the map's {field}.column)"
                )
            width = int(np.prod(feature.get("shape") or [1]))
            if width != len(column.joints):
                raise InputError(self.map.path, f"{field}.joints", f"{len(column.joints)} names for column {column.column!r} "
                                 f"of {width} values in {root}")  # fmt: skip

    def base_from_camera(self) -> tuple[np.ndarray, bool]:
        """(the camera in the arms' root frame, whether it is assumed)."""
        if self.map.base_from_camera is not None:
            return self.map.base_from_camera, False
        if self.map.camera_from_description:
            return self.robot.base_from_camera.double().numpy(), False
        return np.eye(4), True

    def joints(self, values: np.ndarray, column: ColumnMap) -> dict[str, np.ndarray]:
        return {name: values[:, i] * column.scale for i, name in enumerate(column.joints) if name}

    def named_column(
        self, values: np.ndarray, column: ColumnMap, names: list[str] | None
    ) -> tuple[np.ndarray, list[str]]:
        """The column with its joints in radians, named by the robot's joints (other values keep the dataset's name)."""
        out = np.asarray(values, dtype=np.float32).copy()
        labels = []
        for i, joint in enumerate(column.joints):
            if joint:
                out[:, i] = values[:, i] * column.scale
                labels.append(joint)
            else:
                labels.append(f"unmapped.{names[i] if names else i}")
        return out, labels

    def hands(self, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """State rows (T, W) -> world (arms' root frame) keypoints (T, 2, 21, 3) and hand validity (T, 2)."""
        joints = self.joints(state, self.map.state)
        n = len(state)
        keypoints = np.full((n, 2, 21, 3), np.nan)
        valid = np.zeros((n, 2), dtype=bool)
        for h, side in enumerate(("left", "right")):
            if side not in self.sides:
                continue
            arm, hand = self.robot.arms[side], self.robot.hands[side]
            q_arm = torch.as_tensor(np.stack([joints[j] for j in arm.joint_names], -1))
            q_hand = torch.as_tensor(np.stack([joints[j] for j in hand.joint_names], -1))
            world_from_wrist = arm.wrist_pose(q_arm)  # (T, 4, 4)
            local = hand.keypoints21(
                q_hand.to(hand.dtype)
            ).double()  # (T, 21, 3) in the wrist frame, NaN where unmapped
            keypoints[:, h] = apply_transform(world_from_wrist, local).numpy()
            valid[:, h] = np.isfinite(keypoints[:, h][:, [0, 5, 9, 17]]).all(axis=(-1, -2))
        return keypoints.astype(np.float32), valid


def require(options) -> None:
    if bool(options.robot) != bool(options.joint_map):
        raise ConfigError(
            "lerobot: --robot and --map go together (the robot description and the joint map of the dataset)"
        )
