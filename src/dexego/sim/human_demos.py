"""Synthetic egocentric human episodes: the scripted experts performed by the human hands, filmed by the head camera.

An episode is written like real human data: video, per-frame camera pose
(world_from_camera) and intrinsics, world-frame keypoints of both hands (all
21, from the hand model's sites), per-hand validity (the hand is in view),
the instruction; no robot state or action. Each attempt draws its object
sizes and colours, skin tone and head motion from its seed; recordings cycle
through the human looks of the look protocol (``dexego.sim.demos``).
"""

from __future__ import annotations

import numpy as np

from dexego.sim.checks import plan_segments
from dexego.sim.expert import ScriptedExpert
from dexego.sim.human_hand_mjcf import HUMAN_EMBODIMENT
from dexego.sim.human_tasks import human_task, is_human_only
from dexego.sim.scene import HUMAN_LOOKS
from dexego.sim.tasks.base import Task

HUMAN_SOURCE = "sim_human"


class TaskExpert(ScriptedExpert):
    """The scripted expert of a given task instance (human-only tasks, or tasks with drawn object sizes)."""

    def __init__(self, task: Task, noise: bool = True):
        self.task = task
        self.noise = noise
        self.rng = np.random.default_rng(0)
        self._follower = None
        self._step = 0


def human_attempt_config(i: int) -> tuple[int, int]:
    """Attempt ``i`` of a default human recording uses human look ``i mod 13`` (``dexego.sim.scene.HUMAN_LOOKS``)."""
    return HUMAN_LOOKS[i % len(HUMAN_LOOKS)]


def run_human_episode(
    task: str, seed: int, room: int, table: int, render: bool = True, image_size: int = 224, randomize: bool = True
) -> dict:
    """One human-hand expert rollout; returns its arrays (frames only when rendering) and whether it succeeded."""
    from dexego.sim.human_env import HumanHandsEnv

    instance, sizes = human_task(task, seed, randomize)
    env = HumanHandsEnv(instance, render=render, image_size=image_size, randomize_appearance=randomize)
    try:
        expert = TaskExpert(instance)
        obs, info = env.reset(seed=seed, options={"room": room, "table": table})
        expert.reset(seed)
        frames, keypoints, valid, cameras, progress = [], [], [], [], []
        while True:
            progress.append(dict(info["subtasks"]))
            if render:
                frames.append(obs["image"])
            keypoints.append(obs["keypoints"])
            valid.append(obs["hand_valid"].astype(bool))
            cameras.append(obs["camera_pose"])
            obs, _, terminated, truncated, info = env.step(expert.act(obs))
            if terminated or truncated:
                break
        intrinsics = env.intrinsics()
    finally:
        env.close()
    return {
        "task": instance.name,
        "instruction": instance.instruction,
        "success": bool(info["success"]),
        "subtasks": dict(info["subtasks"]),
        "frames": np.stack(frames) if render else None,
        "keypoints_world": np.stack(keypoints).astype(np.float32),
        "hand_valid": np.stack(valid),
        "world_from_camera": np.stack(cameras).astype(np.float32),
        "intrinsics": intrinsics,
        "seed": seed,
        "room": room,
        "table": table,
        "sizes": sizes,
        "plan": plan_segments(progress),
    }


def run_human_attempt(task: str, seed: int, room: int, table: int, image_size: int = 224) -> dict:
    """One recording attempt: a physics-only rollout first, rendered again only if it succeeded.

    Rollouts are deterministic and rendering does not touch the physics, so
    the rendered rerun is the same episode; failed attempts cost no rendering.
    """
    dry = run_human_episode(task, seed, room, table, render=False)
    if not dry["success"]:
        return dry
    return run_human_episode(task, seed, room, table, render=True, image_size=image_size)


def to_human_episode(rollout: dict):
    """A human rollout as a :class:`dexego.data.Episode` (``source="sim_human"``, ``embodiment="human"``)."""
    from dexego.data import Episode

    n = len(rollout["keypoints_world"])
    return Episode(
        keypoints_world=rollout["keypoints_world"],
        hand_valid=rollout["hand_valid"],
        world_from_camera=rollout["world_from_camera"],
        intrinsics=rollout["intrinsics"],
        frames=rollout["frames"],
        fps=30.0,
        instructions=[(0, n, rollout["instruction"])],
        source=HUMAN_SOURCE,
        embodiment=HUMAN_EMBODIMENT,
        metadata={
            "task": rollout["task"],
            "human_only": is_human_only(rollout["task"]),
            "seed": int(rollout["seed"]),
            "room": int(rollout["room"]),
            "table": int(rollout["table"]),
            "object_sizes": rollout["sizes"],
            **({"plan": rollout["plan"]} if "plan" in rollout else {}),
        },
    )
