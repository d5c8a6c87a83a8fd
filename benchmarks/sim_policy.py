"""Simulator adapter for ego48 policies: rollout speed and expert-oracle replay success.

speed:  control steps per second of a default-size tiny Policy (random weights) driving the robot through
        dexego.evaluate.sim_policy at several re-query intervals, against the baseline of the scripted expert
        in the same rendering env (same task, same image size, same run), with a breakdown of where the time goes.
oracle: success rate and wrist tracking of the expert's recorded future hands replayed through the adapter
        (dexego.evaluate.sim_oracle), next to the expert's own success on the same seeds.

Usage: python benchmarks/sim_policy.py [--mode speed|oracle|both] [--tasks Push-Box,Close-Drawer]
       [--seeds 3] [--steps 120] [--image-size 224] [--query-every 1,4] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np
import torch


def _timed(obj, name: str, bucket: dict) -> None:
    inner = getattr(obj, name)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            bucket[name] = bucket.get(name, 0.0) + time.perf_counter() - start

    setattr(obj, name, wrapper)


def _run(env, policy, steps: int, seed: int) -> tuple[int, float]:
    obs, _ = env.reset(seed=seed)
    policy.reset(seed)
    start = time.perf_counter()
    done = 0
    for _ in range(steps):
        obs, _, terminated, truncated, _ = env.step(policy.act(obs))
        done += 1
        if terminated or truncated:
            obs, _ = env.reset(seed=seed)
            policy.reset(seed)
    return done, time.perf_counter() - start


def speed(task: str, steps: int, image_size: int, intervals: list[int]) -> None:
    from dexego.evaluate.sim_policy import CheckpointPolicyFactory, SimPolicyConfig
    from dexego.models import Policy, PolicyConfig
    from dexego.sim.env import HumanoidTaskEnv
    from dexego.sim.expert import ScriptedExpert

    env = HumanoidTaskEnv(task, render=True, image_size=image_size, horizon=10_000, end_on_success=False)
    n, t = _run(env, ScriptedExpert(task), steps, 0)
    baseline = n / t
    print(f"{task}, {image_size} px, {steps} control steps, torch threads {torch.get_num_threads()}")
    print(
        f"{'policy':34s} {'steps/s':>8s} {'x baseline':>10s}  time per step (ms): model / retarget / observation / sim+render"
    )
    print(f"{'scripted expert (baseline)':34s} {baseline:8.1f} {1.0:10.2f}")
    config = PolicyConfig()  # the default tiny backbone + regression head
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        Policy(config, None).save(tmp)
        for k in intervals:
            policy = CheckpointPolicyFactory(tmp, SimPolicyConfig(query_every=k))(task)
            times: dict[str, float] = {}
            _timed(policy.chunked.source, "predict_action_chunk", times)
            _timed(policy.converter, "__call__", times)
            _timed(policy.history, "push", times)
            policy.chunked.retarget = policy.converter.__call__  # the timed bound method
            n, t = _run(env, policy, steps, 0)
            model, retarget, obs = (
                1000 * times.get(key, 0.0) / n for key in ("predict_action_chunk", "__call__", "push")
            )
            rest = 1000 * t / n - model - retarget - obs
            print(f"{f'tiny Policy, query every {k}':34s} {n / t:8.1f} {n / t / baseline:10.2f}  "
                  f"{model:6.1f} / {retarget:6.1f} / {obs:6.1f} / {rest:6.1f}")  # fmt: skip
    env.close()


def oracle(tasks: list[str], seeds: int, intervals: list[int]) -> None:
    from dexego.evaluate.sim_oracle import replay_expert
    from dexego.evaluate.sim_policy import SimPolicyConfig
    from dexego.sim.evaluation import protocol

    print(
        f"{'task':16s} {'query':>5s} {'expert SR':>9s} {'oracle SR':>9s} {'wrist err max (m)':>17s} {'hand err (rad)':>14s}"
    )
    for task in tasks:
        specs = protocol(task, "seen", seeds)
        for k in intervals:
            runs = [replay_expert(spec, SimPolicyConfig(query_every=k)) for spec in specs]
            expert_sr = np.mean([r.expert_success for r in runs])
            sr = np.mean([r.success for r in runs])
            print(f"{task:16s} {k:5d} {expert_sr:9.2f} {sr:9.2f} {max(r.wrist_error_max for r in runs):17.4f} "
                  f"{np.mean([r.hand_error_mean for r in runs]):14.4f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", default="both", choices=("speed", "oracle", "both"))
    parser.add_argument("--tasks", default="Push-Box,Close-Drawer")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--query-every", default="1,4")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tasks = [t for t in args.tasks.split(",") if t]
    intervals = [int(k) for k in args.query_every.split(",")]
    if args.mode in ("speed", "both"):
        speed(tasks[0], args.steps, args.image_size, intervals)
    if args.mode in ("oracle", "both"):
        oracle(tasks, args.seeds, intervals)


if __name__ == "__main__":
    main()
