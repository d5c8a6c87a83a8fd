"""Retarget human episodes of a dataset onto a robot: adds robot joint trajectories (``dexego retarget``).

Per hand: fingertips -> hand joints by :class:`HandRetargeter`. With arms
and a head camera in the robot file: the human wrist pose relative to the
(moving) head camera is placed relative to the robot's head camera, then
arm IK (batched, then refined from each previous frame's solution).

The output episodes keep everything of the input and gain
``robot_state`` = the joints at t and ``robot_action`` = the joints at t+1
(the last frame repeats), named after the joints (prefixed ``<side>.`` unless
the name already starts with the side). Frames without a hand
hold the last retargeted joints (the first valid ones before it, the middle
of the ranges when a hand never appears); per-episode counts of missing and
unreachable frames and the mean fingertip error go into the episode
metadata under ``retarget``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from dexego.errors import ConfigError, InputError
from dexego.geometry.transforms import invert_transform, make_transform
from dexego.hands.frame import hand_frame
from dexego.hands.layout import KEYPOINT_NAMES, SIDES
from dexego.retarget.hand_retarget import HandRetargetConfig, HandRetargeter, human_to_targets, knuckle_aligned_targets
from dexego.retarget.robots import Robot, load_robot
from dexego.utils.files import atomic_directory

ANCHORS = ("knuckles", "wrist")


@dataclass(frozen=True)
class DatasetRetargetConfig:
    hand: HandRetargetConfig = field(default_factory=HandRetargetConfig)
    arms: bool = True  # solve arm IK when the robot file has arms and a head camera
    # "knuckles": the robot's knuckles go where the human's are, fingertips keep their offsets (scaled by finger
    # length); "wrist": the robot's wrist goes on the human's, the hand scaled about it. See dexego.retarget.replay.
    anchor: str = "knuckles"
    arm_refine_iterations: int = 50

    def __post_init__(self) -> None:
        if self.anchor not in ANCHORS:
            raise ConfigError(f"anchor must be one of {', '.join(ANCHORS)}, got {self.anchor!r}")
        if self.arm_refine_iterations < 0:
            raise ConfigError(f"arm_refine_iterations must be >= 0, got {self.arm_refine_iterations}")


def hold(values: np.ndarray, ok: np.ndarray, default: np.ndarray) -> np.ndarray:
    """Replace rows where ``ok`` is False by the previous ok row (the first ok row before any; ``default`` if none)."""
    if not ok.any():
        return np.broadcast_to(default, values.shape).copy()
    index = np.where(ok, np.arange(len(ok)), -1)
    index = np.maximum.accumulate(index)
    index[index < 0] = int(np.argmax(ok))
    return values[index]


def _column_name(side: str, joint: str) -> str:
    return joint if joint.startswith(f"{side}_") or joint.startswith(f"{side}.") else f"{side}.{joint}"


def retarget_episode(
    robot: Robot,
    episode,
    config: DatasetRetargetConfig | None = None,
    retargeters: dict | None = None,
    tip_errors: dict | None = None,
):
    """A human :class:`dexego.data.Episode` -> (the same episode with robot joints, summary dict).

    ``tip_errors``: if given, receives per side the (valid frames, F) fingertip distances to the targets (m).
    """
    from dexego.data import Episode

    cfg = config or DatasetRetargetConfig()
    if episode.robot_state is not None or episode.robot_action is not None:
        raise InputError(
            None,
            "robot_state",
            f"episode already has robot data (embodiment {episode.embodiment!r}); retarget human episodes only",
        )
    kp = np.asarray(episode.keypoints_world, dtype=np.float64)
    valid = np.asarray(episode.hand_valid, dtype=bool)
    steps = kp.shape[0]
    columns, names, summary = [], [], {"robot": robot.name}
    use_arms = cfg.arms and robot.arms and robot.base_from_camera is not None
    world_from_camera = torch.as_tensor(np.asarray(episode.world_from_camera, dtype=np.float64))
    for side_index, side in enumerate(SIDES):
        hand = robot.hands.get(side)
        if hand is None:
            continue
        retargeter = (retargeters or {}).get(side) or HandRetargeter(hand, cfg.hand)
        if cfg.anchor == "knuckles":
            targets, ok, offset = knuckle_aligned_targets(
                kp[None, :, side_index], hand, valid=valid[None, :, side_index]
            )
            offset = torch.nan_to_num(offset[0])
        else:  # "wrist"
            targets, ok = human_to_targets(kp[None, :, side_index], hand, valid=valid[None, :, side_index])
            offset = torch.zeros(steps, 3, dtype=torch.float64)
        result = retargeter.retarget(targets, valid=ok)
        q_hand = result.joints[0].double().cpu().numpy()
        ok_np = result.valid[0].cpu().numpy()
        middle = hand.joint_map.middle().double().cpu().numpy()
        stats = {
            "missing_frames": int((~ok_np).sum()),
            "unreachable_frames": int((ok_np & ~result.reachable[0].cpu().numpy()).sum()),
            "fingertip_error_mean_m": float(np.nanmean(result.fingertip_error[0].cpu().numpy()))
            if ok_np.any()
            else None,
            "unreachable_threshold_m": float(result.threshold),
            # Per fingertip, how far its targets were from where the hand could reach (m): the solved distance.
            "fingertip_error_m": _finger_summary(hand, result.tip_error[0].double().cpu().numpy()[ok_np]),
        }
        stats["_tip_error"] = result.tip_error[0].double().cpu().numpy()[ok_np]
        if use_arms and side in robot.arms:
            arm = robot.arms[side]
            safe = np.where(ok_np[:, None, None], kp[:, side_index], 0.0)
            world_from_wrist = hand_frame(torch.as_tensor(safe), side) @ make_transform(
                torch.eye(3, dtype=torch.float64), offset
            )
            base_from_wrist = robot.base_from_camera @ invert_transform(world_from_camera) @ world_from_wrist
            base_from_wrist = torch.where(
                torch.as_tensor(ok_np)[:, None, None], base_from_wrist, torch.full_like(base_from_wrist, float("nan"))
            )
            arm_result = arm.solve(base_from_wrist)
            # Refine from each previous frame's solution where that lands closer.
            q_arm = arm_result.joints
            if cfg.arm_refine_iterations > 0 and steps > 1:
                previous = torch.cat([q_arm[:1], q_arm[:-1]])
                refined = arm.solve(base_from_wrist, init=torch.where(torch.isfinite(previous), previous, q_arm))
                better = (refined.position_error + 0.3 * refined.rotation_error) < (
                    arm_result.position_error + 0.3 * arm_result.rotation_error
                )
                q_arm = torch.where(better[:, None], refined.joints, q_arm)
                arm_result.reachable = torch.where(better, refined.reachable, arm_result.reachable)
            q_arm_np = hold(q_arm.numpy(), ok_np, arm.joint_map.middle().numpy())
            stats["arm_unreachable_frames"] = int((ok_np & ~arm_result.reachable.numpy()).sum())
            columns.append(q_arm_np)
            names += [_column_name(side, n) for n in arm.joint_names]
        columns.append(hold(q_hand, ok_np, middle))
        names += [_column_name(side, n) for n in hand.joint_names]
        summary[side] = stats
    for side in SIDES:
        if side in summary:
            errors = summary[side].pop("_tip_error")
            if tip_errors is not None:
                tip_errors[side] = errors
    if not columns:
        raise InputError(None, "robot", f"robot {robot.name!r} has no hands to retarget onto")
    state = np.concatenate(columns, axis=1).astype(np.float32)
    action = np.concatenate([state[1:], state[-1:]], axis=0)
    metadata = dict(episode.metadata or {})
    metadata["retarget"] = summary
    out = Episode(
        keypoints_world=episode.keypoints_world,
        hand_valid=episode.hand_valid,
        world_from_camera=episode.world_from_camera,
        intrinsics=episode.intrinsics,
        frames=episode.frames,
        fps=episode.fps,
        instructions=episode.instructions,
        source=episode.source,
        embodiment=episode.embodiment,
        robot_state=state,
        robot_action=action,
        robot_state_names=list(names),
        robot_action_names=list(names),
        metadata=metadata,
    )
    return out, summary


def retarget_dataset(
    source: str | os.PathLike,
    robot: str | os.PathLike | Robot,
    out: str | os.PathLike,
    config: DatasetRetargetConfig | None = None,
    progress: bool = False,
) -> dict:
    """Write ``out``: every episode of ``source`` with the robot's joint trajectories added.

    The output is written to a temporary folder beside ``out`` and renamed at
    the end, so a failure never leaves a half-written dataset.
    """
    from dexego.data import Dataset, DatasetWriter

    source, out = Path(source), Path(out)
    if out.exists():
        raise InputError(out, None, "output already exists; choose a new folder")
    robot = robot if isinstance(robot, Robot) else load_robot(robot)
    cfg = config or DatasetRetargetConfig()
    dataset = Dataset(source)
    retargeters = {side: HandRetargeter(hand, cfg.hand) for side, hand in robot.hands.items()}
    episodes = range(dataset.num_episodes)
    if progress:
        from dexego.utils.progress import progress_iter

        episodes = progress_iter(episodes, f"retarget -> {robot.name}", "episode")
    totals = {"episodes": 0, "frames": 0, "missing_frames": 0, "unreachable_frames": 0}
    errors: dict[str, list[np.ndarray]] = {side: [] for side in robot.hands}
    try:
        with atomic_directory(out) as tmp, DatasetWriter(tmp, fps=dataset.fps, robot_type=robot.name) as writer:
            for index in episodes:
                episode = dataset.episode(index)
                try:
                    tips: dict = {}
                    new, summary = retarget_episode(robot, episode, cfg, retargeters, tip_errors=tips)
                    for side, value in tips.items():
                        errors[side].append(value)
                except InputError as exc:
                    raise InputError(source, f"episode {index}", exc.problem) from None
                writer.add_episode(new)
                totals["episodes"] += 1
                totals["frames"] += new.length
                for side in SIDES:
                    if side in summary:
                        totals["missing_frames"] += summary[side]["missing_frames"]
                        totals["unreachable_frames"] += summary[side]["unreachable_frames"]
    finally:
        dataset.close()
    totals["hands"] = {
        side: {
            "unreachable_threshold_m": retargeters[side].unreachable_threshold,
            "hand_length_m": hand.hand_length,
            "fingertip_error_m": _finger_summary(
                hand, np.concatenate(errors[side]) if errors[side] else np.zeros((0, len(hand.tip_rows)))
            ),
        }
        for side, hand in robot.hands.items()
    }
    return totals


def _finger_summary(hand, tip_error: np.ndarray) -> dict:
    """(frames, F) fingertip distances (m) -> {finger: {median, p95, max}} (None without frames)."""
    out = {}
    for column, keypoint in enumerate(hand.tip_indices):
        values = tip_error[:, column]
        finger = KEYPOINT_NAMES[keypoint].removesuffix("_tip")
        if len(values) == 0:
            out[finger] = None
        else:
            out[finger] = {
                "median": float(np.median(values)),
                "p95": float(np.percentile(values, 95)),
                "max": float(values.max()),
            }
    return out
