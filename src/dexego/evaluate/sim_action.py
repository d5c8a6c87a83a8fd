"""One ``ego48`` action (current camera frame) -> the simulated robot's 30-D end-effector action.

- wrist: ``action_to_keypoints`` gives the hand (wrist) frame in the world
  through the camera pose; the arm's calibrated ``ee_from_wrist``
  (:mod:`dexego.retarget.arm`) turns it into the end-effector (wrist site)
  target the env's IK takes;
- fingers: fingertips in the wrist frame -> the 6 actuated joints by the
  retarget package's :class:`HandRetargeter`, warm-started from the last
  command (a streaming solve); a hand whose fingertips moved less than
  ``reuse_tolerance`` keeps its last joints without a solve;
- a hand whose prediction is invalid (NaN, or a degenerate wrist rotation as
  invalid hands encode to zeros) keeps its last command; the first command
  of an episode is the robot's current pose.

Fingertips are scaled by ``fingertip_scale``: 1 for robot-scale ego48 (what
the simulator's demonstrations record), the robot/human palm ratio for a
policy that predicts human hands.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dexego.actions import action_to_keypoints, get_space
from dexego.errors import InputError
from dexego.geometry import matrix_to_rot6d, rot6d_to_matrix
from dexego.hands import SIDES

MIN_ROT6D_NORM = 0.1  # a blended rot6d column shorter than this is no rotation (invalid hands are zeros)


@dataclass(frozen=True)
class ActionConfig:
    fingertip_scale: float = 1.0
    retarget_iterations: int = 2  # Levenberg-Marquardt iterations per step (warm-started from the last command)
    reuse_tolerance: float = 5e-4  # m: fingertips closer than this to the last solved targets are not re-solved
    robot: str = "h1_inspire"  # dexego.retarget robot description (hands + arm calibration)


class Ego48ToRobotAction:
    """``retarget(action, observation)`` hook of :class:`dexego.serve.ChunkedPolicy` for the simulated robot."""

    def __init__(self, world_from_camera: np.ndarray, config: ActionConfig = ActionConfig()):
        from dexego.retarget import HandRetargetConfig, HandRetargeter
        from dexego.retarget.robots import load_robot
        from dexego.sim.hand_mjcf import HAND_ACTUATED

        self.config = config
        self.space = get_space("ego48")
        self.world_from_camera = np.asarray(world_from_camera, dtype=np.float64)
        robot = load_robot(config.robot)
        missing = [s for s in SIDES if s not in robot.hands or s not in robot.arms]
        if missing:
            raise InputError(config.robot, "hands/arms", f"the robot description lacks the {', '.join(missing)} hand or arm")
        self.hands = [robot.hands[s] for s in SIDES]
        self.wrist_from_ee = np.stack([torch.linalg.inv(robot.arms[s].ee_from_wrist).numpy() for s in SIDES])
        solver = HandRetargetConfig(iterations=config.retarget_iterations)
        self.retargeters = [HandRetargeter(h, solver) for h in self.hands]
        # The retargeter's joint order -> the env's (names without the side prefix).
        self.to_env_order = []
        for side, hand in zip(SIDES, self.hands):
            names = [n.removeprefix(f"{side}_") for n in hand.joint_names]
            if sorted(names) != sorted(HAND_ACTUATED):
                problem = f"actuated joints {names} differ from the simulator's {list(HAND_ACTUATED)}"
                raise InputError(config.robot, f"hands.{side}", problem)
            self.to_env_order.append([names.index(j) for j in HAND_ACTUATED])
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        self.ee_pos: np.ndarray | None = None  # (2, 3) last commanded end-effector positions
        self.ee_rot: np.ndarray | None = None  # (2, 3, 3)
        self.hand_q: np.ndarray | None = None  # (2, 6) last hand joints, retargeter order
        self._solved_tips: list[torch.Tensor | None] = [None, None]
        self.kept = np.zeros(2, dtype=np.int64)  # steps each hand kept its last command (invalid prediction)
        self.solves = 0

    def _start_from(self, observation: dict) -> None:
        ee = np.asarray(observation["ee_pose"], dtype=np.float64)
        hand = np.asarray(observation["hand_joint_pos"], dtype=np.float64)
        self.ee_pos, self.ee_rot = ee[:, :3].copy(), rot6d_to_matrix(ee[:, 3:])
        self.hand_q = np.stack([hand[h][np.argsort(self.to_env_order[h])] for h in range(2)])

    def valid_hands(self, action: np.ndarray) -> np.ndarray:
        ok = np.zeros(2, dtype=bool)
        for h in range(2):
            part = action[self.space.hand_slice(h)]
            rot6d = action[self.space.part_slice("wrist_rot6d", h)]
            ok[h] = bool(np.isfinite(part).all()) and min(np.linalg.norm(rot6d[:3]), np.linalg.norm(rot6d[3:])) > MIN_ROT6D_NORM
        return ok

    def __call__(self, action: np.ndarray, observation: dict) -> np.ndarray:
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (self.space.dim,):
            raise InputError("policy", "actions", f"expected ego48 steps of {self.space.dim} values, got shape {action.shape}")
        if self.ee_pos is None:
            self._start_from(observation)
        valid = self.valid_hands(action)
        safe = np.where(np.repeat(valid, self.space.dim // 2), action, 0.0)
        world_from_wrist = action_to_keypoints(safe, self.space, self.world_from_camera).wrist_pose  # (2, 4, 4)
        world_from_ee = world_from_wrist @ self.wrist_from_ee
        for h in range(2):
            if not valid[h]:
                self.kept[h] += 1
                continue
            self.ee_pos[h], self.ee_rot[h] = world_from_ee[h, :3, 3], world_from_ee[h, :3, :3]
            self._retarget_hand(h, safe)
        hand_env = np.stack([self.hand_q[h][self.to_env_order[h]] for h in range(2)])
        return np.concatenate([self.ee_pos, matrix_to_rot6d(self.ee_rot), hand_env], axis=1).ravel()

    def _retarget_hand(self, h: int, action: np.ndarray) -> None:
        from dexego.retarget import ego48_to_targets

        hand = self.hands[h]
        targets, _ = ego48_to_targets(action[None], hand, scale=self.config.fingertip_scale)  # (1, 21, 3)
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
