"""Absolute vs relative action targets: which one lets a policy learn the motion?

The same tiny backbone and regression head, trained for the same steps on the
same human + robot demonstrations, once predicting the chunk as stored
(``model.action_frame = "absolute"``: hands in the current camera frame) and
once predicting the motion from the current hands (``"relative"``, EgoScale's
relative wrist motion). Both are scored on held-out human episodes (the
validation split of the human datasets) and held-out robot episodes (other
seeds) per future step, next to the hold-the-current-pose baseline:
a policy that has learnt the motion beats holding still at every step after
the first few.

    nice -n 10 python experiments/action_frame/run.py
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import common  # noqa: E402

HERE = Path(__file__).resolve().parent
HUMAN_TASKS = ["Push-Box", "Close-Drawer", "Stack-Can", "Stack-Can-Left"]
ROBOT_TASKS = ["Push-Box", "Close-Drawer"]
FRAMES = ["absolute", "relative"]
REPORT_STEPS = (1, 5, 10, 20, 30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--human-episodes", type=int, default=10, help="human episodes per task")
    parser.add_argument("--robot-episodes", type=int, default=8, help="robot training episodes per task")
    parser.add_argument("--heldout-robot", type=int, default=3, help="held-out robot episodes per task (data seed 1)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="stage config override for both runs, e.g. loop.max_steps=100",
    )
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args()

    import torch

    from dexego.train import load_stage_config
    from dexego.train.build import policy_config, sample_config

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    work = common.WORK / "action_frame"
    human = [common.record(t, work / "human", args.human_episodes, "human") for t in HUMAN_TASKS]
    robot = [common.record(t, work / "robot", args.robot_episodes, "robot") for t in ROBOT_TASKS]
    heldout = [common.record(t, work / "robot_heldout", args.heldout_robot, "robot", seed=1) for t in ROBOT_TASKS]
    template = load_stage_config(HERE / "stage.toml", args.overrides)
    human_splits = common.split_datasets(human, template.data.val_fraction, template.data.split_seed)
    stats = common.pooled_action_stats(template, human + robot)
    samples = sample_config(template, policy_config(template))
    train = [(s.path, s.train) for s in human_splits] + [(p, list(range(args.robot_episodes))) for p in robot]
    val = {"val_human": [(s.path, s.val) for s in human_splits],
           "val_robot": [(p, list(range(args.heldout_robot))) for p in heldout]}  # fmt: skip
    held_out = {"human": val["val_human"], "robot": val["val_robot"]}
    rows = []
    runs = work / ("runs" if not args.overrides else "runs_overridden")
    for frame in FRAMES:
        config = load_stage_config(HERE / "stage.toml", [f"output_dir={runs / frame}", f"name={frame}",
                                                          f"model.action_frame={frame}", *args.overrides])  # fmt: skip
        common.log(f"action frame {frame} -> {runs / frame}")
        t0 = time.perf_counter()
        policy, result = common.train_run(config, train, val, stats)
        seconds = time.perf_counter() - t0
        rows.append({"policy": f"{frame} targets", "frame": frame, "train_seconds": round(seconds, 1),
                     "val_losses": result.val_losses, "motion": {k: evaluate(policy, parts, samples) for k, parts in held_out.items()}})  # fmt: skip
        common.log(
            f"{frame}: "
            + ", ".join(f"{k} wrist {m['overall']['wrist_cm']:.2f} cm" for k, m in rows[-1]["motion"].items())
        )
    from dexego.evaluate import HoldCurrentPose

    hold = HoldCurrentPose(horizon=template.model.horizon)
    rows.append({"policy": "hold the current pose (baseline)", "frame": None, "train_seconds": 0.0, "val_losses": {},
                 "motion": {k: evaluate(hold, parts, samples) for k, parts in held_out.items()}})  # fmt: skip
    write_results(Path(args.out), rows, template, human_splits, args, time.perf_counter() - start)
    return 0


def evaluate(policy, parts, samples) -> dict:
    """Per-step motion metrics of ``policy`` on every anchor of the held-out episodes (deterministic order)."""
    import torch

    from dexego.data import SampleSource
    from dexego.evaluate import MotionEvalConfig, evaluate_motion

    def held_out():
        for path, episodes in parts:
            source = SampleSource(path, samples, episodes, path.name)
            for ep in episodes:
                yield from source.samples(ep, source.anchors[ep])

    if isinstance(policy, torch.nn.Module):
        policy.eval()
    with torch.no_grad():
        return evaluate_motion(policy, held_out(), MotionEvalConfig(space="ego48"))


def better(rows: list[dict], key: str = "wrist_cm") -> str:
    """The frame with the lower mean of the held-out human and robot errors (``key``)."""
    scored = {r["frame"]: sum(r["motion"][k]["overall"][key] for k in ("human", "robot")) for r in rows if r["frame"]}
    return min(scored, key=scored.get)


def write_results(out: Path, rows, template, human_splits, args, seconds: float) -> None:
    from matplotlib.figure import Figure

    from dexego.config import to_dict
    from dexego.evaluate.html_page import figure_png, write_bytes_atomic

    winner = better(rows)
    common.write_json(out / "results.json", {
        "experiment": "absolute vs relative action targets, regression head, same data and steps",
        "command": common.command_line(), "commit": common.commit(), "human_tasks": HUMAN_TASKS, "robot_tasks": ROBOT_TASKS,
        "human_train_episodes": sum(len(s.train) for s in human_splits), "human_val_episodes": sum(len(s.val) for s in human_splits),
        "robot_train_episodes": args.robot_episodes * len(ROBOT_TASKS), "robot_heldout_episodes": args.heldout_robot * len(ROBOT_TASKS),
        "better_frame": winner, "rows": rows, "stage_config": to_dict(template), "machine": common.machine(),
        "wall_seconds": round(seconds, 1),
    })  # fmt: skip
    lines = ["# Absolute vs relative action targets", "",
             f"Same data, backbone, regression head and {template.loop.max_steps} optimiser steps for both; trained on "
             f"{sum(len(s.train) for s in human_splits)} human episodes ({', '.join(HUMAN_TASKS)}) and "
             f"{args.robot_episodes * len(ROBOT_TASKS)} robot episodes ({', '.join(ROBOT_TASKS)}). Errors on held-out "
             f"episodes: {sum(len(s.val) for s in human_splits)} human (validation split) and "
             f"{args.heldout_robot * len(ROBOT_TASKS)} robot (data seed 1). Per future step k (30 Hz), the mean over every "
             "held-out anchor and valid hand; 'chunk' is the mean over the 30 steps. Lower is better.", ""]  # fmt: skip
    for kind in ("human", "robot"):
        for key, label in (("wrist_cm", "wrist position error, cm"), ("fingertip_cm", "fingertip error, cm")):
            lines += [f"**Held-out {kind} episodes, {label}**", "",
                      "| policy | " + " | ".join(f"step {k}" for k in REPORT_STEPS) + " | chunk | samples |",
                      "|---|" + "---:|" * (len(REPORT_STEPS) + 2)]  # fmt: skip
            for r in rows:
                m = r["motion"][kind]
                per_step = m["per_step"][key]
                lines.append(f"| {r['policy']} | " + " | ".join(_fmt(per_step[k - 1]) for k in REPORT_STEPS)
                             + f" | {_fmt(m['overall'][key])} | {m['overall']['samples']} |")  # fmt: skip
            lines.append("")
    for r in rows:
        if r["frame"]:
            lines.append(f"- {r['policy']}: beats holding still (wrist) from step {first_better_step(r, rows[-1], 'human')} on held-out "
                         f"human episodes and from step {first_better_step(r, rows[-1], 'robot')} on held-out robot episodes.")  # fmt: skip
    lines += ["", f"Lower mean wrist error over both held-out sets: **{winner}** targets.", "",
              f"Wall time {seconds / 60:.1f} min (`{common.command_line()}`, commit {common.commit()}).", ""]  # fmt: skip
    (out / "results.md").write_text("\n".join(lines))
    fig = Figure(figsize=(10, 3.2))
    axes = fig.subplots(1, 4)
    for ax, (kind, key) in zip(axes, [(k, m) for k in ("human", "robot") for m in ("wrist_cm", "fingertip_cm")]):
        for i, r in enumerate(rows):
            values = r["motion"][kind]["per_step"][key]
            ax.plot(range(1, len(values) + 1), values, label=r["policy"], color=f"C{i}")
        ax.set_title(f"{kind}: {key.replace('_cm', '')} cm", fontsize=9)
        ax.set_xlabel("future step (30 Hz)", fontsize=8)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    write_bytes_atomic(out / "per_step.png", figure_png(fig))
    print("\n".join(lines))


def first_better_step(row: dict, hold: dict, kind: str, key: str = "wrist_cm") -> str:
    """The first step from which the policy's error stays below holding still to the end of the chunk, or 'never'."""
    mine, base = row["motion"][kind]["per_step"][key], hold["motion"][kind]["per_step"][key]
    for k in range(len(mine)):
        if all(a is not None and b is not None and a < b for a, b in zip(mine[k:], base[k:])):
            return str(k + 1)
    return "never"


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    sys.exit(main())
