"""Policy output -> robot commands: the one converter the benchmark (``dexego sim eval``), the serve examples and
``examples/robot_loop.py`` run, so the benchmark tests what a robot runs.

One step of a policy's action (the chunk step being executed, in the camera frame of the current observation)
becomes, per hand (left, then right), the end-effector target position (3) + rotation (rot6d, 6) in the world
frame of the camera pose, then the hand's actuated joints (the hand file's ``actuated`` order):

- wrist: the predicted wrist (hand-frame) pose goes to the world through the camera pose, then to the
  end-effector target through the arm's calibrated ``ee_from_wrist`` (:mod:`dexego.retarget.arm`);
- fingers, by action space:

  * ``ego48``: the five fingertips (wrist frame, scaled by ``fingertip_scale``) -> joints by
    :class:`HandRetargeter`, warm-started from the last command (a streaming solve); a hand whose fingertips
    moved less than ``reuse_tolerance`` keeps its joints without a solve;
  * ``mano``: the MANO hands are decoded to keypoints with the user's MANO files (required), re-encoded as
    ``ego48`` and retargeted as above (human-scale fingertips: ``fingertip_scale=None`` uses the hand's
    robot/human ratio);
  * a robot space (``robot:NAME``, ``HAND+robot:NAME``): the predicted joints, clipped to their limits; no
    retargeting;

- a hand whose prediction is invalid (NaN, or a degenerate wrist rotation, as invalid hands encode to zeros)
  keeps its last command; before any command it holds the robot's current pose.

The environment-specific facts are hooks given at construction: ``camera_pose(observation)`` (world from
camera, or one fixed (4, 4) matrix) and ``current(observation)`` -> (end-effector poses (2, 9) position + rot6d,
hand joints (2, A) in the hand order).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from dexego.actions import action_to_keypoints, get_space, keypoints_to_action
from dexego.errors import ConfigError, InputError
from dexego.geometry import matrix_to_rot6d, rot6d_to_matrix
from dexego.hands import SIDES
from dexego.retarget.robots import Robot, load_robot

MIN_ROT6D_NORM = 0.1  # a blended rot6d column shorter than this is no rotation (invalid hands are zeros)

CameraPoseHook = Callable[[Any], np.ndarray]
CurrentHook = Callable[[Any], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class CommandConfig:
    # Multiplies predicted fingertips (ego48, mano): 1 for robot-scale ego48 (what robot episodes record); None =
    # the hand's robot/human size ratio, for human-scale predictions (mano is always human scale).
    fingertip_scale: float | None = 1.0
    retarget_iterations: int = 2  # Levenberg-Marquardt iterations per step (warm-started from the last command)
    reuse_tolerance: float = 5e-4  # m: fingertips closer than this to the last solved targets are not re-solved

    def __post_init__(self) -> None:
        if self.fingertip_scale is not None and self.fingertip_scale <= 0:
            raise ConfigError(f"fingertip_scale must be positive, got {self.fingertip_scale}")
        if self.retarget_iterations < 1:
            raise ConfigError(f"retarget_iterations must be at least 1, got {self.retarget_iterations}")


def load_mano_pair(mano_dir: str | os.PathLike | None):
    """(left, right) MANO models from ``mano_dir`` (MANO_LEFT.pkl, MANO_RIGHT.pkl); a clear error without one."""
    if not mano_dir:
        raise ConfigError("a 'mano' policy needs the MANO model files to be turned into robot commands: "
                          "give the folder holding MANO_LEFT.pkl and MANO_RIGHT.pkl (--mano-dir)")  # fmt: skip
    from dexego.data import features as F
    from dexego.hands.mano import MANOModel

    return tuple(
        MANOModel.from_dir(mano_dir, side, flat_hand_mean=F.MANO_FLAT_HAND_MEAN, num_pca=F.MANO_NUM_PCA)
        for side in SIDES
    )


class PolicyToRobot:
    """``converter(action, observation)`` -> (2 * (9 + A),) commands; the ``retarget`` hook of ``ChunkedPolicy``."""

    def __init__(self, robot: Robot | str, space: str, camera_pose: CameraPoseHook | np.ndarray, current: CurrentHook,
                 config: CommandConfig = CommandConfig(), mano=None):  # fmt: skip
        """``mano``: the (left, right) MANO models, required for the ``mano`` space (see :func:`load_mano_pair`)."""
        from dexego.retarget.hand_retarget import HandRetargetConfig, HandRetargeter

        self.robot = load_robot(robot) if isinstance(robot, (str, os.PathLike)) else robot
        self.space = get_space(space)
        self.config = config
        self.camera_pose = (
            camera_pose if callable(camera_pose) else _constant(np.asarray(camera_pose, dtype=np.float64))
        )
        self.current = current
        missing = [s for s in SIDES if s not in self.robot.hands or s not in self.robot.arms]
        if missing:
            raise InputError(
                self.robot.name, "hands/arms", f"the robot description lacks the {', '.join(missing)} hand or arm"
            )
        self.hands = [self.robot.hands[s] for s in SIDES]
        self.ee_from_wrist = [self.robot.arms[s].ee_from_wrist.double().numpy() for s in SIDES]
        base = self.space.hand_space or self.space.name
        if self.space.is_robot:
            self.mode = "joints"
            self.joint_order = self._joint_order()
        elif base in ("ego48", "mano"):
            self.mode = base
            if base == "mano" and mano is None:
                load_mano_pair(None)  # raises the clear error
            self.mano = mano
            solver = HandRetargetConfig(iterations=config.retarget_iterations)
            self.retargeters = [HandRetargeter(h, solver) for h in self.hands]
        else:
            raise ConfigError(f"no robot commands from action space {self.space.name!r}: ego48, mano or a robot space")
        self.lower = [h.lower.double().numpy() for h in self.hands]
        self.upper = [h.upper.double().numpy() for h in self.hands]
        self.reset()

    def _joint_order(self) -> list[np.ndarray]:
        """Per side: indices into the action of the hand's joints (in the hand order), by name."""
        names = list(self.space.joint_names)
        index = self.space.joint_index()
        order = []
        for side, hand in zip(SIDES, self.hands):
            missing = [j for j in hand.joint_names if j not in names]
            if missing:
                raise InputError(
                    self.robot.name, f"hands.{side}", f"joints {missing} are not in action space {self.space.name!r}"
                )
            order.append(np.array([index[names.index(j)] for j in hand.joint_names]))
        return order

    def reset(self, seed: int | None = None) -> None:
        self.ee: np.ndarray | None = None  # (2, 4, 4) last commanded end-effector poses (world)
        self.hand_q: list[np.ndarray] | None = None  # last hand joints, hand order
        self._solved_tips: list[torch.Tensor | None] = [None, None]
        self.kept = np.zeros(2, dtype=np.int64)  # steps each hand kept its last command (invalid prediction)
        self.solves = 0

    def _start_from(self, observation: Any) -> None:
        ee, joints = self.current(observation)
        ee = np.asarray(ee, dtype=np.float64).reshape(2, 9)
        self.ee = np.tile(np.eye(4), (2, 1, 1))
        self.ee[:, :3, :3], self.ee[:, :3, 3] = rot6d_to_matrix(ee[:, 3:]), ee[:, :3]
        self.hand_q = [np.asarray(joints[h], dtype=np.float64).copy() for h in range(2)]
        for h, hand in enumerate(self.hands):
            if self.hand_q[h].shape != (hand.num_joints,):
                raise InputError(
                    "observation",
                    "hand joints",
                    f"expected {hand.num_joints} joints per hand, got {self.hand_q[h].shape}",
                )

    def valid_hands(self, action: np.ndarray) -> np.ndarray:
        ok = np.zeros(2, dtype=bool)
        for h in range(2):
            rot6d = action[self.space.part_slice("wrist_rot6d", h)]
            ok[h] = bool(np.isfinite(action[self.space.hand_slice(h)]).all()) and \
                min(np.linalg.norm(rot6d[:3]), np.linalg.norm(rot6d[3:])) > MIN_ROT6D_NORM  # fmt: skip
        return ok

    def __call__(self, action: np.ndarray, observation: Any) -> np.ndarray:
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (self.space.dim,):
            raise InputError(
                "policy",
                "actions",
                f"expected {self.space.name} steps of {self.space.dim} values, got shape {action.shape}",
            )
        if self.ee is None:
            self._start_from(observation)
        world_from_camera = np.asarray(self.camera_pose(observation), dtype=np.float64)
        if world_from_camera.shape != (4, 4) or not np.isfinite(world_from_camera).all():
            raise InputError(
                "observation",
                "camera pose",
                f"expected a finite (4, 4) world_from_camera, got shape {world_from_camera.shape}",
            )
        valid = self.valid_hands(action)
        safe = np.where(np.repeat(valid, self.space.hand_dim), action, 0.0)
        if self.mode == "mano":
            safe, valid = self._mano_as_ego48(safe, valid)
        wrist_space = get_space("ego48") if self.mode == "mano" else self.space
        wrists = np.stack([_wrist_pose(safe, wrist_space, h) for h in range(2)])  # camera from wrist
        for h in range(2):
            if not valid[h]:
                self.kept[h] += 1
                continue
            self.ee[h] = world_from_camera @ wrists[h] @ np.linalg.inv(self.ee_from_wrist[h])
            if self.mode == "joints":
                self.hand_q[h] = np.clip(safe[self.joint_order[h]], self.lower[h], self.upper[h])
            else:
                self._retarget_hand(h, safe)
        per_hand = [
            np.concatenate([self.ee[h, :3, 3], matrix_to_rot6d(self.ee[h, :3, :3]), self.hand_q[h]]) for h in range(2)
        ]
        return np.concatenate(per_hand)

    def _mano_as_ego48(self, action: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        decoded = action_to_keypoints(action, "mano", mano=self.mano)  # camera frame, (2, 21, 3)
        points = np.asarray(decoded.points, dtype=np.float64)
        ok = valid & np.isfinite(points).all(axis=(-1, -2))
        ego48 = keypoints_to_action(points, np.eye(4), ok, "ego48")
        return np.asarray(ego48, dtype=np.float64), ok

    def _retarget_hand(self, h: int, action: np.ndarray) -> None:
        from dexego.retarget.hand_retarget import ego48_to_targets

        hand = self.hands[h]
        scale = self.config.fingertip_scale if self.mode == "ego48" else None  # mano (re-encoded): human scale
        targets, _ = ego48_to_targets(action[None], hand, scale=scale)  # (1, 21, 3)
        tips = targets[0, [4, 8, 12, 16, 20]]
        last = self._solved_tips[h]
        if last is not None and float((tips - last).norm(dim=-1).max()) < self.config.reuse_tolerance:
            return
        previous = torch.as_tensor(self.hand_q[h], dtype=hand.dtype)
        with torch.no_grad():
            result = self.retargeters[h].retarget(targets, previous=previous[None])
        self.solves += 1
        if bool(result.valid.all()):
            self.hand_q[h] = result.joints[0].double().numpy()
            self._solved_tips[h] = tips


def _wrist_pose(action: np.ndarray, space, side: int) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, 3] = action[space.part_slice("wrist_pos", side)]
    pose[:3, :3] = rot6d_to_matrix(action[space.part_slice("wrist_rot6d", side)])
    return pose


def _constant(value: np.ndarray) -> CameraPoseHook:
    def hook(observation: Any) -> np.ndarray:
        return value

    return hook


def observation_camera_pose(observation: Any) -> np.ndarray:
    """Camera-pose hook for observations that carry ``world_from_camera`` (or ``camera_pose``)."""
    camera = (
        observation.get("world_from_camera", observation.get("camera_pose")) if isinstance(observation, dict) else None
    )
    if camera is None:
        raise InputError("observation", "world_from_camera", "missing (needed to place the wrists)")
    return np.asarray(camera, dtype=np.float64)
