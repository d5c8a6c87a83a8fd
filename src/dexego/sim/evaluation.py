"""The benchmark protocol and runner: rollouts per task and split, SR and PSR.

Splits follow the look protocol of ``dexego.sim.scene``: "seen" = 27 rollouts
per task (9 on each of the 3 robot looks), "human" = 26 (2 on each of the 13
human looks), "unseen" = 27 (3 on each of the 9 evaluation looks, which no
demonstration shows). Seeds are fixed and disjoint from every demonstration
seed (those stay below 1e9, ``dexego.sim.demos``): rollout ``i`` of task ``k``
in a split uses ``EVAL_SEED_BASE + 1_000_000 * base_seed + 10000 * k + SPLIT_OFFSET[split] + i``.
A policy is anything with ``reset(seed)`` and ``act(observation)``; it is
built per task by a picklable factory ``factory(task_name) -> policy`` so
rollouts can run in worker processes.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from dexego.errors import ConfigError
from dexego.sim.scene import LOOK_SPLITS, Look
from dexego.sim.tasks import get_task, task_names
from dexego.utils.files import atomic_file, write_json_atomic, write_text_atomic

log = logging.getLogger(__name__)
SPLITS = ("seen", "human", "unseen")
PER_CONFIG = {"seen": 9, "human": 2, "unseen": 3}
EVAL_SEED_BASE = 1_000_000_000  # above every demonstration seed (data seed <= 999, times 1e6, plus the attempt)
SPLIT_OFFSET = {"seen": 0, "human": 3000, "unseen": 6000}  # up to 3000 rollouts per task and split


class SimPolicy(Protocol):
    def reset(self, seed: int | None) -> None: ...
    def act(self, observation: dict) -> np.ndarray: ...


@dataclass(frozen=True)
class RolloutSpec:
    task: str
    split: str
    index: int
    seed: int
    room: int
    table: int
    looks: int = 1  # how many looks the split cycles through (the rollout's look index is index % looks)


@dataclass
class RolloutResult:
    task: str
    split: str
    seed: int
    room: int
    table: int
    success: bool
    subtasks: dict[str, bool]
    subtasks_done: int
    subtasks_total: int
    steps: int
    failure_reason: str | None = None
    video: str | None = None
    background: int = 0  # index of the visual configuration in its split (for dexego.evaluate)


@dataclass
class TaskSummary:
    task: str
    split: str
    sr: float
    psr: float
    rollouts: int
    seeds: list[int] = field(default_factory=list)


def resolve_tasks(tasks: str | list[str]) -> list[str]:
    """'all' or a comma-separated list / list of names -> canonical task names."""
    if isinstance(tasks, str):
        tasks = task_names() if tasks.strip().lower() == "all" else [t.strip() for t in tasks.split(",") if t.strip()]
    if not tasks:
        raise ConfigError("no tasks given")
    return [get_task(t).name for t in tasks]


def protocol(task: str, split: str, episodes: int | None = None, base_seed: int = 0,
             looks: tuple[Look, ...] | None = None) -> list[RolloutSpec]:  # fmt: skip
    """The fixed rollouts of one task in one split (the first ``episodes`` of them, cycling the split's looks).

    ``looks`` replaces the split's looks of ``dexego.sim.scene.LOOK_SPLITS`` (a profile's own look split)."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    configs = tuple(LOOK_SPLITS[split] if looks is None else looks)
    if not configs:
        raise ConfigError(f"split {split!r} has no looks")
    default = PER_CONFIG[split] * len(configs)
    n = default if episodes is None else int(episodes)
    if not 1 <= n <= 3000 or not 0 <= base_seed < 1000:
        raise ConfigError(f"episodes must be in 1..3000 and base_seed in 0..999, got {n} and {base_seed}")
    k = task_names().index(get_task(task).name)
    offset = EVAL_SEED_BASE + base_seed * 1_000_000 + 10000 * k + SPLIT_OFFSET[split]
    return [RolloutSpec(task, split, i, offset + i, *configs[i % len(configs)], looks=len(configs)) for i in range(n)]


def run_rollout(env, policy: SimPolicy, spec: RolloutSpec, video_path: Path | None = None) -> RolloutResult:
    """One episode of ``policy`` in ``env`` (already built for ``spec.task``).

    A policy may offer ``video_frame(image) -> image``: what the video shows of the frame it has just acted
    on (e.g. its predicted path drawn on a copy); the policy's input is never changed.
    """
    obs, info = env.reset(seed=spec.seed, options={"room": spec.room, "table": spec.table})
    policy.reset(spec.seed)
    frames = [] if video_path is not None and "image" in obs else None
    video_frame = getattr(policy, "video_frame", None) or (lambda image: image)
    steps = 0
    while True:
        action = policy.act(obs)
        if frames is not None:
            frames.append(video_frame(obs["image"]))
        obs, _, terminated, truncated, info = env.step(action)
        steps += 1
        if terminated or truncated:
            break
    if frames is not None:
        frames.append(obs["image"])  # the final state, after the last action
    if frames is not None:
        _write_video(video_path, frames, env.metadata.get("render_fps", 30))
    done = sum(info["subtasks"].values())
    return RolloutResult(
        task=spec.task, split=spec.split, seed=spec.seed, room=spec.room, table=spec.table,
        success=bool(info["success"]), subtasks=dict(info["subtasks"]), subtasks_done=int(done),
        subtasks_total=len(info["subtasks"]), steps=steps, failure_reason=info.get("failure_reason"),
        video=str(video_path) if frames is not None else None, background=spec.index % spec.looks,
    )  # fmt: skip


def _write_video(path: Path, frames: list[np.ndarray], fps: int) -> None:
    from dexego.data.video import encode_video

    with atomic_file(path) as tmp:
        encode_video(tmp, np.stack(frames), fps)


class ExpertFactory:
    """Picklable factory of the scripted experts."""

    def __call__(self, task: str) -> SimPolicy:
        from dexego.sim.expert import ScriptedExpert

        return ScriptedExpert(task)


def _run_chunk(args: tuple) -> list[dict]:
    factory, specs, env_overrides, video_dir = args
    from dexego.sim.env import HumanoidTaskEnv

    out = []
    env = policy = None
    current = None
    for spec in specs:
        if spec.task != current:
            if env is not None:
                env.close()
            policy = factory(spec.task)
            render = getattr(policy, "uses_images", True) or video_dir is not None
            env = HumanoidTaskEnv(spec.task, render=render, **env_overrides)
            current = spec.task
        video = Path(video_dir) / f"{spec.task}_{spec.split}_{spec.seed}.mp4" if video_dir else None
        out.append(asdict(run_rollout(env, policy, spec, video)))
    if env is not None:
        env.close()
    return out


def evaluate(
    factory: Callable[[str], SimPolicy],
    tasks: str | list[str],
    split: str,
    episodes: int | None = None,
    workers: int = 1,
    base_seed: int = 0,
    video_dir: str | Path | None = None,
    env_overrides: dict[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
    policy_name: str = "policy",
    looks: tuple[Look, ...] | None = None,
) -> dict:
    """Run the protocol; returns the results dict (rollouts + per-task SR/PSR + means)."""
    names = resolve_tasks(tasks)
    specs = [s for t in names for s in protocol(t, split, episodes, base_seed, looks)]
    env_overrides = dict(env_overrides or {})
    video = str(video_dir) if video_dir else None
    if workers <= 1:
        rows: list[dict] = []
        by_task: dict[str, list[RolloutSpec]] = {}  # one env per task, kept across its rollouts
        for s in specs:
            by_task.setdefault(s.task, []).append(s)
        done = 0
        for task_specs in by_task.values():
            rows.extend(_run_task_inline(factory, task_specs, env_overrides, video, progress, done, len(specs)))
            done += len(task_specs)
    else:
        chunks = [specs[i::workers] for i in range(workers)]
        chunks = [sorted(c, key=lambda s: (names.index(s.task), s.index)) for c in chunks if c]
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(len(chunks)) as pool:
            parts = pool.map(_run_chunk, [(factory, c, env_overrides, video) for c in chunks])
        rows = sorted((r for p in parts for r in p), key=lambda r: (names.index(r["task"]), r["seed"]))
        if progress:
            progress(len(specs), len(specs))
    return summarise(rows, names, split, policy_name, base_seed)


def _run_task_inline(factory, specs, env_overrides, video_dir, progress, done, total) -> list[dict]:
    from dexego.sim.env import HumanoidTaskEnv

    policy = factory(specs[0].task)
    render = getattr(policy, "uses_images", True) or video_dir is not None
    env = HumanoidTaskEnv(specs[0].task, render=render, **env_overrides)
    rows = []
    try:
        for i, spec in enumerate(specs):
            video = Path(video_dir) / f"{spec.task}_{spec.split}_{spec.seed}.mp4" if video_dir else None
            rows.append(asdict(run_rollout(env, policy, spec, video)))
            if progress:
                progress(done + i + 1, total)
    finally:
        env.close()
    return rows


def summarise(rows: list[dict], tasks: list[str], split: str, policy_name: str = "policy", base_seed: int = 0) -> dict:
    """SR (final success) and PSR (mean completed/total subtasks, monotone) per task, and their means."""
    summary: dict[str, dict] = {}
    for task in tasks:
        mine = [r for r in rows if r["task"] == task]
        if not mine:
            continue
        sr = float(np.mean([r["success"] for r in mine]))
        psr = float(np.mean([r["subtasks_done"] / r["subtasks_total"] for r in mine]))
        summary[task] = asdict(TaskSummary(task, split, sr, psr, len(mine), [r["seed"] for r in mine]))
    return {
        "policy": policy_name,
        "split": split,
        "base_seed": base_seed,
        "tasks": {t: {split: {"sr": s["sr"], "psr": s["psr"], "rollouts": s["rollouts"]}} for t, s in summary.items()},
        "summary": summary,
        "mean_sr": float(np.mean([s["sr"] for s in summary.values()])) if summary else 0.0,
        "mean_psr": float(np.mean([s["psr"] for s in summary.values()])) if summary else 0.0,
        "rollouts": rows,
    }


def markdown_table(results: dict) -> str:
    split = results["split"]
    lines = [f"| task ({split}) | SR | PSR | rollouts |", "|---|---|---|---|"]
    for task, s in results["summary"].items():
        lines.append(f"| {task} | {s['sr']:.3f} | {s['psr']:.3f} | {s['rollouts']} |")
    lines.append(f"| **mean** | **{results['mean_sr']:.3f}** | **{results['mean_psr']:.3f}** | |")
    return "\n".join(lines) + "\n"


def write_results(results: dict, out: str | Path) -> tuple[Path, Path]:
    """Write ``out`` (JSON) and the Markdown table next to it (same name, .md), atomically."""
    out = Path(out)
    md = out.with_suffix(".md")
    write_json_atomic(out, results, indent=2)
    write_text_atomic(md, markdown_table(results))
    return out, md
