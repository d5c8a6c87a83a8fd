"""Scripted-expert demonstrations written as dataset episodes, by the robot or the human hands.

Robot episodes carry robot state/action and ego48 hands from FK; human
episodes (``embodiment="human"``, see :mod:`dexego.sim.human_demos`) look like
real human data. Attempts use seeds ``seed * 1_000_000 + i`` on the seen
visual configurations for the robot (rooms 1-3 with table 1, cycling) and
on all 25 for the human; only successful episodes are written, so the
expert's yield is reported. Resuming an existing dataset replays the
earlier attempts without rendering to find where to continue, so the result
is the same as an uninterrupted run.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Callable

import numpy as np

from dexego.errors import ConfigError
from dexego.sim.scene import SEEN_CONFIGS
from dexego.sim.tasks import get_task

SEED_STRIDE = 1_000_000
EMBODIMENTS = ("robot", "human")


def _attempt_config(i: int, embodiment: str = "robot") -> tuple[int, int]:
    if embodiment == "human":
        from dexego.sim.human_demos import human_attempt_config

        return human_attempt_config(i)
    return SEEN_CONFIGS[i % len(SEEN_CONFIGS)]


def _check_embodiment(embodiment: str) -> None:
    if embodiment not in EMBODIMENTS:
        raise ConfigError(f"unknown embodiment {embodiment!r}; valid: {', '.join(EMBODIMENTS)}")


def _run(task: str, seed: int, room: int, table: int, embodiment: str, render: bool, image_size: int = 224, env=None) -> dict:
    if embodiment == "human":
        from dexego.sim.human_demos import run_human_attempt, run_human_episode

        if render:
            return run_human_attempt(task, seed, room, table, image_size=image_size)
        return run_human_episode(task, seed, room, table, render=False)
    return run_expert_episode(task, seed, room, table, render=render, image_size=image_size, env=env)


def _episode(task: str, rollout: dict, embodiment: str):
    if embodiment == "human":
        from dexego.sim.human_demos import to_human_episode

        return to_human_episode(rollout)
    return to_episode(task, rollout)


def run_expert_episode(task: str, seed: int, room: int, table: int, render: bool = True, image_size: int = 224, env=None) -> dict:
    """One expert rollout; returns its arrays (frames only when rendering) and whether it succeeded."""
    from dexego.sim.env import HumanoidTaskEnv
    from dexego.sim.expert import ScriptedExpert

    own = env is None
    env = env or HumanoidTaskEnv(task, render=render, image_size=image_size)
    expert = ScriptedExpert(task)
    obs, info = env.reset(seed=seed, options={"room": room, "table": table})
    expert.reset(seed)
    frames, states, actions, keypoints, cameras = [], [], [], [], []
    while True:
        action = expert.act(obs)
        if render:
            frames.append(obs["image"])
        states.append(env.robot_state())
        keypoints.append(env.hand_keypoints())
        cameras.append(env.camera_pose())
        actions.append(action)
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
    out = {
        "success": bool(info["success"]),
        "frames": np.stack(frames) if render else None,
        "robot_state": np.stack(states).astype(np.float32),
        "robot_action": np.stack(actions).astype(np.float32),
        "keypoints_world": np.stack(keypoints).astype(np.float32),
        "world_from_camera": np.stack(cameras).astype(np.float32),
        "intrinsics": env.intrinsics(),
        "seed": seed,
        "room": room,
        "table": table,
    }
    if own:
        env.close()
    return out


def to_episode(task: str, rollout: dict):
    """A rollout as a :class:`dexego.data.Episode`."""
    from dexego.data import Episode
    from dexego.sim.env import action_names, state_names
    from dexego.sim.robot_mjcf import ROBOT_NAME

    t = get_task(task)
    n = len(rollout["robot_state"])
    return Episode(
        keypoints_world=rollout["keypoints_world"],
        hand_valid=np.ones((n, 2), dtype=bool),
        world_from_camera=rollout["world_from_camera"],
        intrinsics=rollout["intrinsics"],
        frames=rollout["frames"],
        fps=30.0,
        instructions=[(0, n, t.instruction)],
        source="sim",
        embodiment=ROBOT_NAME,
        robot_state=rollout["robot_state"],
        robot_action=rollout["robot_action"],
        robot_state_names=state_names(),
        robot_action_names=action_names("ee"),
        metadata={"task": t.name, "seed": int(rollout["seed"]), "room": int(rollout["room"]), "table": int(rollout["table"])},
    )


def _attempt(args: tuple) -> dict:
    task, i, seed, image_size, embodiment = args
    room, table = _attempt_config(i, embodiment)
    return _run(task, seed * SEED_STRIDE + i, room, table, embodiment, render=True, image_size=image_size)


def record_demos(
    task: str,
    episodes: int,
    out: "str | Path",
    workers: int = 1,
    seed: int = 0,
    image_size: int = 224,
    max_attempts_factor: float = 2.0,
    progress: Callable[[int, int], None] | None = None,
    embodiment: str = "robot",
) -> dict:
    """Write ``episodes`` successful expert episodes of ``task`` into the dataset at ``out`` (resumable).

    ``embodiment``: "robot" (the humanoid; benchmark tasks) or "human" (human
    hands and head camera; benchmark and human-only tasks).
    """
    from dexego.data import DatasetWriter
    from dexego.sim.env import HumanoidTaskEnv
    from dexego.sim.robot_mjcf import ROBOT_NAME

    _check_embodiment(embodiment)
    if episodes < 1 or workers < 1:
        raise ConfigError(f"episodes and workers must be >= 1, got {episodes} and {workers}")
    if embodiment == "human":
        from dexego.sim.human_tasks import get_any_task

        name = get_any_task(task).name
    else:
        name = get_task(task).name
    with DatasetWriter(out, fps=30, robot_type=ROBOT_NAME if embodiment == "robot" else None) as writer:
        existing = writer.total_episodes
        # Replay earlier attempts (no rendering) to find where an interrupted run stopped.
        attempt, found = 0, 0
        if existing:
            env = HumanoidTaskEnv(name, render=False) if embodiment == "robot" else None
            while found < existing:
                room, table = _attempt_config(attempt, embodiment)
                found += _run(name, seed * SEED_STRIDE + attempt, room, table, embodiment, render=False, env=env)["success"]
                attempt += 1
            if env is not None:
                env.close()
        start_attempt, written = attempt, 0
        limit = start_attempt + int(max(episodes - existing, 0) * max_attempts_factor) + 5
        pool = multiprocessing.get_context("spawn").Pool(workers) if workers > 1 else None
        try:
            while existing + written < episodes and attempt < limit:
                batch = [(name, attempt + k, seed, image_size, embodiment) for k in range(max(1, workers))]
                results = pool.map(_attempt, batch) if pool else [_attempt(batch[0])]
                for r in results:
                    attempt += 1
                    if r["success"] and existing + written < episodes:
                        writer.add_episode(_episode(name, r, embodiment))
                        written += 1
                    if progress:
                        progress(existing + written, episodes)
        finally:
            if pool:
                pool.close()
                pool.join()
    attempts = attempt - start_attempt
    return {
        "task": name,
        "embodiment": embodiment,
        "written": written,
        "skipped_existing": existing,
        "attempts": attempts,
        "yield": written / attempts if attempts else 1.0,
    }
