"""Replay retargeted human demonstrations on the simulated robot.

A human-hand expert rollout of the benchmark (``dexego.sim`` human
embodiment, same scene and world frame as the robot) is retargeted frame
by frame — wrist frames to end-effector targets through the arms' wrist
calibration, fingertips to hand joints — and executed open loop by the
robot through the simulator's end-effector action. Success is the task's
own check at the end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dexego.geometry.rotations import matrix_to_rot6d
from dexego.geometry.transforms import make_transform
from dexego.hands.frame import hand_frame
from dexego.hands.layout import SIDES
from dexego.retarget.dataset import hold
from dexego.retarget.hand_retarget import HandRetargetConfig, HandRetargeter, human_to_targets, knuckle_aligned_targets
from dexego.retarget.robots import Robot, load_robot


@dataclass
class ReplayResult:
    task: str
    seed: int
    human_success: bool
    robot_success: bool
    steps: int
    fingertip_error_mm: float
    subtasks: dict


def human_to_robot_actions(
    robot: Robot,
    keypoints_world: np.ndarray,
    hand_valid: np.ndarray,
    config: HandRetargetConfig | None = None,
    anchor: str = "knuckles",
) -> tuple[np.ndarray, float]:
    """World keypoints (T, 2, 21, 3) -> (T, 2 * (9 + A)) end-effector actions (world frame), mean fingertip error (m).

    ``anchor="wrist"`` puts the robot's wrist on the human's and scales the hand about it;
    ``"knuckles"`` puts the robot's knuckles on the human's (see :func:`knuckle_aligned_targets`).
    """
    if anchor not in ("wrist", "knuckles"):
        raise ValueError(f"anchor must be 'wrist' or 'knuckles', got {anchor!r}")
    kp = np.asarray(keypoints_world, dtype=np.float64)
    valid = np.asarray(hand_valid, dtype=bool) & np.isfinite(kp[:, :, [0, 5, 9, 17]]).all(axis=(-1, -2))
    per_side, errors = [], []
    for h, side in enumerate(SIDES):
        hand, arm = robot.hands[side], robot.arms.get(side)
        if anchor == "knuckles":
            targets, ok, offset = knuckle_aligned_targets(kp[None, :, h], hand, valid=valid[None, :, h])
            offset = torch.nan_to_num(offset[0])
        else:
            targets, ok = human_to_targets(kp[None, :, h], hand, valid=valid[None, :, h])
            offset = torch.zeros(kp.shape[0], 3, dtype=torch.float64)
        result = HandRetargeter(hand, config).retarget(targets, valid=ok)
        ok_np = ok[0].numpy()
        joints = hold(result.joints[0].double().numpy(), ok_np, hand.joint_map.middle().double().numpy())
        if ok_np.any():
            errors.append(float(np.nanmean(result.fingertip_error[0].numpy())))
        safe = np.where(ok_np[:, None, None], kp[:, h], 0.0)
        wrist = hand_frame(torch.as_tensor(safe), side) @ make_transform(torch.eye(3, dtype=torch.float64), offset)
        ee = arm.wrist_to_end_effector(wrist).numpy() if arm is not None else wrist.numpy()
        pose = np.concatenate([ee[:, :3, 3], matrix_to_rot6d(ee[:, :3, :3])], -1)
        pose = hold(pose, ok_np, pose[0])
        per_side.append(np.concatenate([pose, joints], -1))
    return np.concatenate(per_side, -1), float(np.mean(errors)) if errors else float("nan")


def replay_task(
    task: str,
    seed: int,
    room: int = 1,
    table: int = 1,
    robot: Robot | str = "h1_inspire",
    settle_steps: int = 60,
    anchor: str = "knuckles",
) -> ReplayResult:
    """Record the human expert on ``task`` (physics only), retarget it, replay it on the robot.

    The human rollout ends the moment its task succeeds; the robot, tracking
    the commands through its controllers, lags behind, so the last command
    is held for up to ``settle_steps`` more steps (2 s at 30 Hz).
    """
    from dexego.sim.env import HumanoidTaskEnv
    from dexego.sim.human_demos import run_human_episode

    robot = load_robot(robot) if isinstance(robot, str) else robot
    human = run_human_episode(task, seed, room, table, render=False, randomize=False)
    actions, error = human_to_robot_actions(robot, human["keypoints_world"], human["hand_valid"], anchor=anchor)
    env = HumanoidTaskEnv(task, render=False)
    try:
        env.reset(seed=seed, options={"room": room, "table": table})
        info: dict = {"success": False, "subtasks": {}}
        steps = 0
        schedule = list(actions) + [actions[-1]] * settle_steps
        for action in schedule:
            _, _, terminated, truncated, info = env.step(action.astype(np.float64))
            steps += 1
            if terminated or truncated or (steps >= len(actions) and info["success"]):
                break
    finally:
        env.close()
    return ReplayResult(
        task, seed, bool(human["success"]), bool(info["success"]), steps, error * 1000, dict(info.get("subtasks", {}))
    )
