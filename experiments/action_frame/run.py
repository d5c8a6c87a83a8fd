"""Absolute vs relative action targets: which one lets a policy learn the motion?

The same tiny backbone and regression head, trained for the same steps on the
same human + robot demonstrations, once predicting the chunk as stored
(``model.action_frame = "absolute"``: hands in the current camera frame) and
once predicting the motion from the current hands (``"relative"``, EgoScale's
relative wrist motion). Both are scored on held-out human episodes (the
validation split of the human datasets) and held-out robot episodes (other
seeds) per future step, next to the hold-the-current-pose baseline:
a policy that has learnt the motion beats holding still at every step after
the first few. Each frame is trained once per training seed (initialisation,
batch order, augmentation; the data are the same), and the tables give the mean
over the seeds with the standard deviation over the seeds of the chunk error.

    nice -n 10 python experiments/action_frame/run.py --seeds 0 1 2
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
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds of each frame")
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
    code = common.commit()  # the code that runs: read before hours of work, during which the checkout may move on
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
    runs_by_seed = []
    runs = work / ("runs" if not args.overrides else "runs_overridden")
    for seed in args.seeds:
        for frame in FRAMES:
            folder = runs / f"seed{seed}" / frame
            config = load_stage_config(HERE / "stage.toml", [f"output_dir={folder}", f"name={frame}", f"seed={seed}",
                                                              f"model.action_frame={frame}", *args.overrides])  # fmt: skip
            common.log(f"action frame {frame}, training seed {seed} -> {folder}")
            t0 = time.perf_counter()
            policy, result = common.train_run(config, train, val, stats)
            seconds = time.perf_counter() - t0
            runs_by_seed.append({"policy": f"{frame} targets", "frame": frame, "seed": seed, "train_seconds": round(seconds, 1),
                                 "val_losses": result.val_losses,
                                 "motion": {k: evaluate(policy, parts, samples) for k, parts in held_out.items()}})  # fmt: skip
            common.log(
                f"{frame}, seed {seed}: "
                + ", ".join(
                    f"{k} wrist {m['overall']['wrist_cm']:.2f} cm" for k, m in runs_by_seed[-1]["motion"].items()
                )
            )
    from dexego.evaluate import HoldCurrentPose

    hold = HoldCurrentPose(horizon=template.model.horizon)
    rows = [mean_over_seeds([r for r in runs_by_seed if r["frame"] == frame]) for frame in FRAMES]
    rows.append({"policy": "hold the current pose (baseline)", "frame": None, "seeds": [], "val_losses": {},
                 "motion": {k: evaluate(hold, parts, samples) for k, parts in held_out.items()}})  # fmt: skip
    write_results(Path(args.out), rows, runs_by_seed, template, human_splits, args, time.perf_counter() - start, code)
    return 0


KINDS = ("human", "robot")
KEYS = ("wrist_cm", "fingertip_cm")


def mean_over_seeds(runs: list[dict]) -> dict:
    """One frame's runs (one per training seed) as one row: per-step and chunk errors averaged over the seeds,
    the chunk error's sample standard deviation over the seeds (``<key>_sd``; 0 with one seed)."""
    import statistics

    if not runs or len({r["frame"] for r in runs}) != 1:
        raise ValueError("mean_over_seeds: expected the runs of one frame")
    motion = {}
    for kind in KINDS:
        parts = [r["motion"][kind] for r in runs]
        per_step = {}
        for key in KEYS:
            columns = zip(*(p["per_step"][key] for p in parts))
            per_step[key] = [None if None in c else statistics.fmean(c) for c in columns]
        overall = {"samples": parts[0]["overall"]["samples"]}
        for key in KEYS:
            values = [p["overall"][key] for p in parts]
            overall[key] = statistics.fmean(values)
            overall[key + "_sd"] = statistics.stdev(values) if len(values) > 1 else 0.0
        motion[kind] = {"per_step": per_step, "overall": overall}
    return {
        "policy": runs[0]["policy"],
        "frame": runs[0]["frame"],
        "seeds": [r["seed"] for r in runs],
        "motion": motion,
    }


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
    scored = {r["frame"]: sum(r["motion"][k]["overall"][key] for k in KINDS) for r in rows if r["frame"]}
    return min(scored, key=scored.get)


def write_results(out: Path, rows, runs_by_seed, template, human_splits, args, seconds: float, code: str) -> None:
    from matplotlib.figure import Figure

    from dexego.config import to_dict
    from dexego.evaluate.html_page import figure_png, write_bytes_atomic

    winner = better(rows)
    per_seed_winner = {s: better([r for r in runs_by_seed if r["seed"] == s]) for s in args.seeds}
    common.write_json(out / "results.json", {
        "experiment": "absolute vs relative action targets, regression head, same data and steps",
        "command": common.command_line(), "commit": code, "seeds": args.seeds, "human_tasks": HUMAN_TASKS, "robot_tasks": ROBOT_TASKS,
        "human_train_episodes": sum(len(s.train) for s in human_splits), "human_val_episodes": sum(len(s.val) for s in human_splits),
        "robot_train_episodes": args.robot_episodes * len(ROBOT_TASKS), "robot_heldout_episodes": args.heldout_robot * len(ROBOT_TASKS),
        "better_frame": winner, "better_frame_per_seed": per_seed_winner, "rows": rows, "runs_by_seed": runs_by_seed,
        "stage_config": to_dict(template), "machine": common.machine(),
        "wall_seconds": round(seconds, 1),
    })  # fmt: skip
    lines = ["# Absolute vs relative action targets", "",
             f"Same data, backbone, regression head and {template.loop.max_steps} optimiser steps for both; trained on "
             f"{sum(len(s.train) for s in human_splits)} human episodes ({', '.join(HUMAN_TASKS)}) and "
             f"{args.robot_episodes * len(ROBOT_TASKS)} robot episodes ({', '.join(ROBOT_TASKS)}). Errors on held-out "
             f"episodes: {sum(len(s.val) for s in human_splits)} human (validation split) and "
             f"{args.heldout_robot * len(ROBOT_TASKS)} robot (data seed 1). Per future step k (30 Hz), the mean over every "
             "held-out anchor and valid hand; 'chunk' is the mean over the 30 steps. Each frame was trained with "
             f"{len(args.seeds)} training seed(s) ({', '.join(map(str, args.seeds))}) on the same data: every figure is the "
             "mean over the seeds; '± sd' is the standard deviation over the seeds. Lower is better.", ""]  # fmt: skip
    labels = {"wrist_cm": "wrist position error, cm", "fingertip_cm": "fingertip error, cm"}
    for kind in KINDS:
        for key in KEYS:
            label = labels[key]
            lines += [f"**Held-out {kind} episodes, {label}**", "",
                      "| policy | " + " | ".join(f"step {k}" for k in REPORT_STEPS) + " | chunk (± sd over seeds) | samples |",
                      "|---|" + "---:|" * (len(REPORT_STEPS) + 2)]  # fmt: skip
            for r in rows:
                m = r["motion"][kind]
                per_step = m["per_step"][key]
                sd = f" ± {m['overall'][key + '_sd']:.2f}" if r["frame"] else ""
                lines.append(f"| {r['policy']} | " + " | ".join(_fmt(per_step[k - 1]) for k in REPORT_STEPS)
                             + f" | {_fmt(m['overall'][key])}{sd} | {m['overall']['samples']} |")  # fmt: skip
            lines.append("")
    hold = rows[-1]
    for r in rows:
        if r["frame"]:
            seeds = [s for s in runs_by_seed if s["frame"] == r["frame"]]
            each = {k: ", ".join(first_better_step(s, hold, k) for s in seeds) for k in KINDS}
            lines.append(f"- {r['policy']}: the first future step from which the error (wrist) stays below holding still: "
                         f"{first_better_step(r, hold, 'human')} on held-out human episodes for the mean over seeds (per seed: "
                         f"{each['human']}), {first_better_step(r, hold, 'robot')} on held-out robot episodes (per seed: {each['robot']}).")  # fmt: skip
    agree = sum(w == winner for w in per_seed_winner.values())
    lines += ["", f"Lower mean wrist error over both held-out sets: **{winner}** targets (the same frame wins with "
              f"{agree} of {len(per_seed_winner)} training seeds taken one at a time).", "",
              f"Wall time {seconds / 60:.1f} min (`{common.command_line()}`, commit {code}).", ""]  # fmt: skip
    (out / "results.md").write_text("\n".join(lines))
    fig = Figure(figsize=(10, 3.2))
    axes = fig.subplots(1, 4)
    for ax, (kind, key) in zip(axes, [(k, m) for k in KINDS for m in KEYS]):
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
