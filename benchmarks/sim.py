"""Simulator speed: control steps/s per core with and without rendering, and expert-evaluation wall time.

Baseline in the same run: physics-only stepping (no IK, no observation
building), to show what the env adds. The full seen+unseen expert evaluation
(7 tasks x 93 rollouts) is extrapolated from a measured subset of rollouts
per task unless --full is given.

    MUJOCO_GL=egl python benchmarks/sim.py [--rollouts 3] [--full]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from dexego.sim.env import HumanoidTaskEnv  # noqa: E402
from dexego.sim.evaluation import ExpertFactory, evaluate, protocol  # noqa: E402
from dexego.sim.expert import ScriptedExpert  # noqa: E402
from dexego.sim.tasks import task_names  # noqa: E402


def steps_per_second(task: str, render: bool, image_size: int, steps: int = 300) -> float:
    env = HumanoidTaskEnv(task, render=render, image_size=image_size, end_on_success=False)
    obs, _ = env.reset(seed=0)
    expert = ScriptedExpert(task)
    expert.reset(0)
    t = time.perf_counter()
    for _ in range(steps):
        obs, _, term, trunc, _ = env.step(expert.act(obs))
        if term or trunc:
            obs, _ = env.reset(seed=1)
            expert.reset(1)
    rate = steps / (time.perf_counter() - t)
    env.close()
    return rate


def physics_only_steps_per_second(task: str, steps: int = 300) -> float:
    env = HumanoidTaskEnv(task, render=False)
    env.reset(seed=0)
    t = time.perf_counter()
    for _ in range(steps * env.substeps):
        mujoco.mj_step(env.model, env.data)
    return steps / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--rollouts", type=int, default=3, help="measured rollouts per task and split for the extrapolation"
    )
    parser.add_argument("--full", action="store_true", help="run the full 27 + 66 rollouts per task instead")
    args = parser.parse_args()

    print("control steps per second, one core (30 Hz control):")
    print(f"{'task':14s} {'physics only':>13s} {'env, no render':>15s} {'env, 224px':>11s} {'env, 384px':>11s}")
    for task in task_names():
        base = physics_only_steps_per_second(task)
        no_render = steps_per_second(task, False, 224)
        r224 = steps_per_second(task, True, 224, steps=150)
        r384 = steps_per_second(task, True, 384, steps=100)
        print(f"{task:14s} {base:13.0f} {no_render:15.0f} {r224:11.0f} {r384:11.0f}")

    total = 0.0
    print("\nexpert evaluation wall time (state-only expert, no rendering, 1 worker):")
    for task in task_names():
        per_task = 0.0
        for split in ("seen", "unseen"):
            n_full = len(protocol(task, split))
            n = n_full if args.full else min(args.rollouts, n_full)
            t = time.perf_counter()
            evaluate(ExpertFactory(), task, split, episodes=n)
            per_task += (time.perf_counter() - t) / n * n_full
        total += per_task
        print(f"{task:14s} {per_task:7.1f} s for 93 rollouts{'' if args.full else ' (extrapolated)'}")
    kind = "measured" if args.full else f"extrapolated from {args.rollouts} rollouts per task and split"
    print(
        f"full seen+unseen expert evaluation, {len(task_names())} tasks: {total / 60:.1f} min on one core ({kind});"
        f" ~{total / 120:.1f} min with --workers 2 on 2 cores"
    )
    print(
        f"(the paper's Isaac Sim benchmark: ~30 h per full pass on an RTX 4090; numpy {np.__version__}, mujoco {mujoco.__version__})"
    )


if __name__ == "__main__":
    main()
