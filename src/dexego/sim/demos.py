"""Scripted-expert demonstrations written as dataset episodes, by the robot or the human hands.

Robot episodes carry robot state/action and ego48 hands from FK; human
episodes (``embodiment="human"``, see :mod:`dexego.sim.human_demos`) look like
real human data. Attempt ``i`` uses seed ``seed * 1_000_000 + i`` (data seeds
0..999, so no demonstration ever uses an evaluation seed, see
``dexego.sim.evaluation``) and look ``looks[i % len(looks)]``: by default the
robot looks for the robot and the human looks for the human
(``dexego.sim.scene``'s look protocol), never an evaluation look unless asked.
Only successful episodes are written, so the expert's yield is reported.

Each written episode's metadata records its task, ``base_seed`` (``seed``),
``attempt`` (``i``), full ``seed`` and its look (``room``, ``table``); the
dataset row holds its embodiment.
Several tasks (and base seeds) can share one dataset: re-opening counts only
the episodes of the same task, embodiment and base seed, and continues from
the attempt after the last one recorded for them, so an interrupted or
repeated run neither duplicates nor skips seeds and ends with the episodes of
an uninterrupted run. One dataset holds one embodiment.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dexego.errors import ConfigError, InputError
from dexego.sim.checks import plan_segments
from dexego.sim.scene import HUMAN_LOOKS, ROBOT_LOOKS, Look, check_visual_config
from dexego.sim.tasks import get_task

SEED_STRIDE = 1_000_000
MAX_DATA_SEED = 999  # demonstration seeds stay below 1e9, where evaluation seeds start
EMBODIMENTS = ("robot", "human")


def default_looks(embodiment: str) -> tuple[Look, ...]:
    """The looks a recording cycles through unless told otherwise: the robot's or the human's share of the 25."""
    _check_embodiment(embodiment)
    return HUMAN_LOOKS if embodiment == "human" else ROBOT_LOOKS


def attempt_plan(i: int, seed: int, looks) -> tuple[int, int, int]:
    """(episode seed, room, table) of recording attempt ``i`` from base ``seed`` cycling through ``looks``."""
    room, table = looks[i % len(looks)]
    return seed * SEED_STRIDE + i, int(room), int(table)


def check_looks(looks) -> tuple[Look, ...]:
    looks = tuple((int(r), int(t)) for r, t in looks)
    if not looks:
        raise ConfigError("looks must not be empty")
    for room, table in looks:
        try:
            check_visual_config(room, table)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    return looks


def check_data_seed(seed: int) -> None:
    if not 0 <= seed <= MAX_DATA_SEED:
        raise ConfigError(
            f"demonstration seed must be in 0..{MAX_DATA_SEED} (larger seeds are evaluation seeds), got {seed}"
        )


def _check_embodiment(embodiment: str) -> None:
    if embodiment not in EMBODIMENTS:
        raise ConfigError(f"unknown embodiment {embodiment!r}; valid: {', '.join(EMBODIMENTS)}")


def _run(
    task: str, seed: int, room: int, table: int, embodiment: str, render: bool, image_size: int = 224, env=None
) -> dict:
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


def run_expert_episode(
    task: str, seed: int, room: int, table: int, render: bool = True, image_size: int = 224, env=None
) -> dict:
    """One expert rollout; returns its arrays (frames only when rendering) and whether it succeeded."""
    from dexego.sim.env import HumanoidTaskEnv
    from dexego.sim.expert import ScriptedExpert

    own = env is None
    env = env or HumanoidTaskEnv(task, render=render, image_size=image_size)
    expert = ScriptedExpert(task)
    obs, info = env.reset(seed=seed, options={"room": room, "table": table})
    expert.reset(seed)
    frames, states, actions, keypoints, cameras, progress = [], [], [], [], [], []
    while True:
        progress.append(dict(info["subtasks"]))
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
        "plan": plan_segments(progress),
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
        metadata={
            "task": t.name,
            "seed": int(rollout["seed"]),
            "room": int(rollout["room"]),
            "table": int(rollout["table"]),
            **({"plan": rollout["plan"]} if "plan" in rollout else {}),
        },
    )


def _attempt(args: tuple) -> dict:
    task, i, seed, image_size, embodiment, looks = args
    episode_seed, room, table = attempt_plan(i, seed, looks)
    return _run(task, episode_seed, room, table, embodiment, render=True, image_size=image_size)


def _embodiment_name(embodiment: str) -> str:
    """The name a dataset row stores for ``embodiment`` ("robot" -> the robot's name)."""
    if embodiment == "human":
        from dexego.sim.human_hand_mjcf import HUMAN_EMBODIMENT

        return HUMAN_EMBODIMENT
    from dexego.sim.robot_mjcf import ROBOT_NAME

    return ROBOT_NAME


def recorded_attempts(out: str | Path, task: str, embodiment: str, seed: int = 0) -> list[int]:
    """The attempt numbers of the episodes of ``task`` recorded from base ``seed`` in the dataset at ``out``.

    Episodes of other tasks or base seeds are ignored. Raises :class:`InputError`
    (field ``embodiment``) when the dataset holds episodes of another
    embodiment: one dataset holds one embodiment. Datasets written before the
    metadata carried ``attempt``/``base_seed`` are read from the full seed.
    """
    from dexego.data.layout import INFO_PATH
    from dexego.data.meta import DatasetMeta

    root = Path(out)
    if not (root / INFO_PATH).is_file():
        return []
    wanted = _embodiment_name(embodiment)
    attempts = []
    for row in DatasetMeta.load(root).episodes.to_pylist():
        index = row.get("episode_index")
        stored = row.get("embodiment")
        if stored != wanted:
            raise InputError(root, "embodiment", f"episode {index} is {stored!r}; refusing to add {wanted!r} ({embodiment}) "
                             "episodes: one dataset holds one embodiment, write them to another folder")  # fmt: skip
        try:
            meta = json.loads(row.get("metadata") or "{}")
        except json.JSONDecodeError as err:
            raise InputError(root, "metadata", f"episode {index}: not JSON ({err})") from None
        if not isinstance(meta, dict) or meta.get("task") != task or "seed" not in meta:
            continue
        base_seed, attempt = meta.get("base_seed"), meta.get("attempt")
        if base_seed is None or attempt is None:
            base_seed, attempt = divmod(int(meta["seed"]), SEED_STRIDE)
        if int(base_seed) == seed:
            attempts.append(int(attempt))
    return attempts


def record_demos(
    task: str,
    episodes: int,
    out: str | Path,
    workers: int = 1,
    seed: int = 0,
    image_size: int = 224,
    max_attempts_factor: float = 2.0,
    progress: Callable[[int, int], None] | None = None,
    embodiment: str = "robot",
    looks=None,
) -> dict:
    """Make the dataset at ``out`` hold ``episodes`` successful expert episodes of ``task`` (resumable).

    ``embodiment``: "robot" (the humanoid; benchmark tasks) or "human" (human
    hands and head camera; benchmark and human-only tasks). Only the episodes
    of this task, embodiment and ``seed`` already in ``out`` count towards
    ``episodes``; other tasks may share the dataset, other embodiments may not.
    ``looks``: the (room, table) looks attempts cycle through (default: :func:`default_looks`).
    """
    from dexego.data import DatasetWriter
    from dexego.sim.robot_mjcf import ROBOT_NAME

    _check_embodiment(embodiment)
    check_data_seed(seed)
    looks = check_looks(default_looks(embodiment) if looks is None else looks)
    if episodes < 1 or workers < 1:
        raise ConfigError(f"episodes and workers must be >= 1, got {episodes} and {workers}")
    if Path(out).exists() and not Path(out).is_dir():
        raise InputError(out, "out", "exists and is not a folder (the dataset folder to create or continue)")
    if embodiment == "human":
        from dexego.sim.human_tasks import get_any_task

        name = get_any_task(task).name
    else:
        name = get_task(task).name
    done = recorded_attempts(out, name, embodiment, seed)
    existing = len(done)
    # Attempts run in order and only successes are written, so the next attempt follows the last recorded one.
    attempt = start_attempt = max(done) + 1 if done else 0
    written = 0
    limit = start_attempt + int(max(episodes - existing, 0) * max_attempts_factor) + 5
    with DatasetWriter(out, fps=30, robot_type=ROBOT_NAME if embodiment == "robot" else None) as writer:
        pool = multiprocessing.get_context("spawn").Pool(workers) if workers > 1 and existing < episodes else None
        try:
            while existing + written < episodes and attempt < limit:
                batch = [(name, attempt + k, seed, image_size, embodiment, looks) for k in range(max(1, workers))]
                results = pool.map(_attempt, batch) if pool else [_attempt(batch[0])]
                for r in results:
                    if r["success"] and existing + written < episodes:
                        episode = _episode(name, r, embodiment)
                        episode = dataclasses.replace(
                            episode, metadata={**episode.metadata, "base_seed": seed, "attempt": attempt}
                        )
                        writer.add_episode(episode)
                        written += 1
                    attempt += 1
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
        "seed": seed,
        "written": written,
        "skipped_existing": existing,
        "first_attempt": start_attempt,
        "attempts": attempts,
        "yield": written / attempts if attempts else 1.0,
    }
