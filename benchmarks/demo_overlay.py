"""What the trajectory overlays add to a `dexego demo` run, measured on a finished demo output folder.

motion: the demo's motion stage per arm (held-out motion errors + overlay PNGs) without and with the
        held-out overlay video (dexego.demo.pipeline.OVERLAY_VIDEO_STRIDE), same policy, same data, same run.
rollout: simulator steps of the arm's policy through dexego.evaluate.sim_policy at the demo's image size
        and query interval, overlay off (baseline) and on, same seed, same run.

Usage: python benchmarks/demo_overlay.py DEMO_OUT [--steps 60] [--repeats 2]
(DEMO_OUT: the --out folder of a finished `dexego demo`, e.g. of `dexego demo --quick`; nothing in it is written.)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch


def motion_seconds(out: Path, arm: str, profile, video: Path | None, repeats: int) -> float:
    from dexego.demo.pipeline import OVERLAY_VIDEO_STRIDE, policy_dir
    from dexego.demo.profile import Arm
    from dexego.evaluate.dataset_motion import run_motion_eval

    p = profile.profile
    data = out / "data" / "robot_heldout" / p.data.robot_tasks[0]
    best = float("inf")
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            start = time.perf_counter()
            run_motion_eval(policy_dir(out, Arm(arm)), data, max_samples=p.eval.motion_samples, overlays=p.eval.overlays,
                            overlay_dir=Path(tmp) / "png", overlay_video=video and Path(tmp) / video.name,
                            video_stride=OVERLAY_VIDEO_STRIDE)  # fmt: skip
            best = min(best, time.perf_counter() - start)
    return best


def rollout_seconds(out: Path, arm: str, profile, overlay: bool, steps: int) -> float:
    from dexego.demo.pipeline import policy_dir
    from dexego.demo.profile import Arm
    from dexego.evaluate.sim_policy import CheckpointPolicyFactory, SimPolicyConfig
    from dexego.sim.env import HumanoidTaskEnv

    p = profile.profile
    task = p.data.robot_tasks[0]
    policy = CheckpointPolicyFactory(
        str(policy_dir(out, Arm(arm))), SimPolicyConfig(query_every=p.eval.query_every, overlay=overlay)
    )(task)
    env = HumanoidTaskEnv(task, render=True, image_size=p.data.image_size)
    try:
        obs, _ = env.reset(seed=0, options={"room": 1, "table": 1})
        policy.reset(0)
        start = time.perf_counter()
        for _ in range(steps):
            obs, _, terminated, truncated, _ = env.step(policy.act(obs))
            if terminated or truncated:
                break
        return time.perf_counter() - start
    finally:
        env.close()


def main() -> None:
    from dexego.demo.profile import load_profile
    from dexego.demo.report import read_summary

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the demo
    summary = read_summary(args.out)
    profile = load_profile(summary["profile"])
    print(f"demo {args.out} ({summary['profile']} profile)")
    for arm in [a["name"] for a in summary["arms"]]:
        plain = motion_seconds(args.out, arm, profile, None, args.repeats)
        video = motion_seconds(args.out, arm, profile, Path(f"{arm}_overlay.mp4"), args.repeats)
        print(f"{arm}: motion stage {plain:.2f} s -> {video:.2f} s with the overlay video (+{video - plain:.2f} s)")
        off = [rollout_seconds(args.out, arm, profile, False, args.steps) for _ in range(args.repeats)]
        on = [rollout_seconds(args.out, arm, profile, True, args.steps) for _ in range(args.repeats)]
        per_off, per_on = 1e3 * min(off) / args.steps, 1e3 * min(on) / args.steps
        print(f"{arm}: rollout {per_off:.1f} ms/step -> {per_on:.1f} ms/step with the overlay "
              f"({100 * (per_on - per_off) / per_off:+.1f} %)")  # fmt: skip


if __name__ == "__main__":
    main()
