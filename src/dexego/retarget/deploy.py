"""Deployment: ``ego48`` predictions (camera frame) -> robot commands.

For each hand: the wrist pose goes to the world through the current camera
pose, then to the end-effector target through the arm's calibrated wrist
offset; the fingertips go to hand joints through :class:`HandRetargeter`
(a chunk of H steps is solved as one smooth sequence, warm-started from the
previous command). The output is the benchmark simulator's end-effector
action: per hand, target position (3, world) + rot6d (6) + actuated hand
joints, left then right.

Usable as ``dexego.serve.ChunkedPolicy``'s ``retarget(action, observation)``
hook; the observation must carry ``world_from_camera`` (or ``camera_pose``).
"""

from __future__ import annotations

import numpy as np
import torch

from dexego.actions.convert import action_to_keypoints
from dexego.actions.spaces import get_space
from dexego.errors import InputError
from dexego.geometry.rotations import matrix_to_rot6d
from dexego.hands.layout import SIDES
from dexego.retarget.hand_retarget import HandRetargetConfig, HandRetargeter, ego48_to_targets
from dexego.retarget.robots import Robot, load_robot


class Ego48ToRobot:
    """``ego48`` (..., 48) + world_from_camera -> (..., 2 * (9 + A)) end-effector commands."""

    def __init__(self, robot: Robot | str, fingertip_scale: float = 1.0, config: HandRetargetConfig | None = None):
        """``fingertip_scale`` multiplies predicted fingertips: 1 for a policy that predicts the robot's own
        ``ego48`` (robot episodes record it at robot scale), the hand's ``human_scale()`` for human-scale ones."""
        self.robot = load_robot(robot) if isinstance(robot, str) else robot
        missing = [s for s in SIDES if s not in self.robot.hands]
        if missing:
            raise InputError(None, "robot", f"{self.robot.name!r} has no {missing[0]} hand; ego48 commands need both")
        self.scale = fingertip_scale
        self.retargeters = {s: HandRetargeter(self.robot.hands[s], config) for s in SIDES}
        self._previous: dict[str, torch.Tensor | None] = {s: None for s in SIDES}
        self._last_command: np.ndarray | None = None

    def reset(self) -> None:
        self._previous = {s: None for s in SIDES}
        self._last_command = None

    def __call__(self, action, observation) -> np.ndarray:
        camera = observation.get("world_from_camera", observation.get("camera_pose")) if isinstance(observation, dict) else observation
        if camera is None:
            raise InputError(None, "observation", "needs 'world_from_camera' (or 'camera_pose') to place the wrists")
        current = observation.get("ee_pose") if isinstance(observation, dict) else None
        return self.commands(np.asarray(action, dtype=np.float64), np.asarray(camera, dtype=np.float64), current)

    def commands(self, action: np.ndarray, world_from_camera: np.ndarray, current_ee: np.ndarray | None = None) -> np.ndarray:
        """action (48,) or a chunk (H, 48); world_from_camera (4, 4) -> (30,) or (H, 30).

        A missing hand (all-zero in ego48) keeps its last command; before any, its wrist stays at
        ``current_ee`` (2, 9) position + rot6d (the simulator's ``ee_pose`` observation).
        """
        space = get_space("ego48")
        single = action.ndim == 1
        chunk = action[None] if single else action
        if chunk.ndim != 2 or chunk.shape[-1] != space.dim:
            raise InputError(None, "action", f"expected ego48 (48,) or (H, 48), got {action.shape}")
        # An all-zero hand is how ego48 marks a missing hand.
        valid = np.stack([np.abs(chunk[:, space.hand_slice(s)]).sum(-1) > 0 for s in SIDES], -1) & np.isfinite(chunk).reshape(len(chunk), 2, -1).all(-1)
        decoded = action_to_keypoints(np.nan_to_num(chunk), "ego48", world_from_camera=np.repeat(world_from_camera[None], len(chunk), 0))
        per_side = []
        for h, side in enumerate(SIDES):
            hand = self.robot.hands[side]
            targets, ok = ego48_to_targets(chunk, hand, valid, scale=self.scale)
            result = self.retargeters[side].retarget(targets, valid=ok, previous=self._previous[side])
            joints = result.joints.double().cpu().numpy()
            fallback = self._previous[side].double().numpy() if self._previous[side] is not None else hand.joint_map.middle().double().numpy()
            for t in range(len(chunk)):  # hold the last commanded joints through missing frames
                if not ok[t]:
                    joints[t] = fallback
                fallback = joints[t]
            if ok.any():
                last = int(np.flatnonzero(ok.numpy())[-1])
                self._previous[side] = torch.as_tensor(joints[last], dtype=hand.dtype)
            world_from_wrist = torch.as_tensor(decoded.wrist_pose[:, h])
            arm = self.robot.arms.get(side)
            ee = arm.wrist_to_end_effector(world_from_wrist).numpy() if arm is not None else world_from_wrist.numpy()
            command = np.concatenate([ee[:, :3, 3], matrix_to_rot6d(ee[:, :3, :3]), joints], -1)
            missing = ~valid[:, h]
            if missing.any():
                if self._last_command is not None:
                    width = command.shape[-1]
                    command[missing, :9] = self._last_command[h * width : h * width + 9]
                elif current_ee is not None:
                    command[missing, :9] = np.asarray(current_ee, dtype=np.float64).reshape(2, 9)[h]
                else:
                    raise InputError(None, "action", f"the {side} hand is missing and there is no previous command or 'ee_pose' to hold")
            per_side.append(command)
        out = np.concatenate(per_side, -1)
        self._last_command = out[-1].copy()
        return out[0] if single else out
