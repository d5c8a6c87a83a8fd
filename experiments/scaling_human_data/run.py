"""(b) EgoScale's scaling law on the simulator: held-out human validation loss against the amount of human data.

Records synthetic human demonstrations of several tasks, holds out the last
episodes of each task for validation (the same for every run), and pretrains the same model with the
same number of steps on 1, 2, 4, ... training episodes per task. Each run's
metrics carry the hours of human footage it trained on; ``dexego eval scaling``
fits loss = a + b * log10(hours) over the runs.

    nice -n 10 .venv/bin/python experiments/scaling_human_data/run.py
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import common  # noqa: E402

HERE = Path(__file__).resolve().parent
TASKS = ["Push-Box", "Stack-Can", "Stack-Can-Left", "Close-Drawer-Left", "Flip-Mug"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=22, help="human episodes recorded per task")
    parser.add_argument("--amounts", type=int, nargs="+", default=[1, 2, 4, 8, 16], help="training episodes per task, per run")
    parser.add_argument("--val-episodes", type=int, default=4, help="last episodes of every task held out for validation")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args()

    import torch

    from dexego.train import load_stage_config

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    work = common.WORK / "human"
    paths = [common.record(task, work, args.episodes, "human") for task in TASKS]
    template = load_stage_config(HERE / "pretrain.toml")
    splits = common.hold_out_last(paths, args.val_episodes)
    amounts = [k for k in args.amounts if k <= min(len(s.train) for s in splits)]
    stats = common.pooled_action_stats(template, paths)
    val = {"val_human": [(s.path, s.val) for s in splits]}
    runs, rows = [], []
    for k in amounts:
        run_dir = common.WORK / "runs" / "scaling" / f"episodes_{k:03d}"
        train = [(s.path, s.train[:k]) for s in splits]
        data_hours = sum(common.hours(p, eps) for p, eps in train)
        config = load_stage_config(HERE / "pretrain.toml", [f"output_dir={run_dir}", f"name=scaling_{k}"])
        common.log(f"{k} episodes per task ({data_hours * 60:.2f} min of footage) -> {run_dir}")
        timing = run_dir / "train_seconds.json"
        if not (run_dir / "final").is_dir():
            t0 = time.perf_counter()
            common.train_run(config, train, val, stats, data_hours)
            common.write_json(timing, {"seconds": round(time.perf_counter() - t0, 1)})
        runs.append(run_dir)
        rows.append({"episodes_per_task": k, "episodes": k * len(TASKS), "data_hours": data_hours,
                     "train_seconds": json.loads(timing.read_text())["seconds"] if timing.is_file() else None})  # fmt: skip

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fit_json, plot = out / "scaling_fit.json", out / "scaling.png"
    # no extrapolation: a law fitted on minutes of footage says nothing about hours (it would cross zero loss)
    cmd = [sys.executable, "-m", "dexego", "eval", "scaling", *map(str, runs), "--out", str(fit_json), "--plot", str(plot)]
    subprocess.run(cmd, check=True)
    write_tables(out, fit_json, rows, template, splits, args, time.perf_counter() - start)
    return 0


def write_tables(out: Path, fit_json: Path, rows: list[dict], template, splits, args, seconds: float) -> None:
    from dexego.config import to_dict

    fit = json.loads(fit_json.read_text())
    for row, point in zip(rows, fit["points"]):
        row["val_human_loss"] = point["loss"]
    f = fit["fit"]
    common.write_json(out / "results.json", {
        "experiment": "validation loss against human data amount (EgoScale scaling law)",
        "command": common.command_line(), "tasks": TASKS, "episodes_recorded_per_task": args.episodes,
        "val_episodes": {s.path.name: s.val for s in splits}, "runs": rows, "fit": f,
        "stage_config": to_dict(template), "machine": common.machine(), "wall_seconds": round(seconds, 1),
    })  # fmt: skip
    lines = [
        "# Human validation loss against human data amount", "",
        f"Tasks: {', '.join(TASKS)}; validation: the same held-out episodes of every task for every run "
        f"({sum(len(s.val) for s in splits)} episodes). Every run: the same model and {template.loop.max_steps} steps.", "",
        "| train episodes per task | episodes | footage (min) | lowest val_human loss | training s |", "|---:|---:|---:|---:|---:|",
        *(f"| {r['episodes_per_task']} | {r['episodes']} | {r['data_hours'] * 60:.2f} | {r['val_human_loss']:.4f} | {_seconds(r['train_seconds'])} |"
          for r in rows),
        "", f"Fit (`dexego eval scaling`): loss = {f['intercept']:.4f} {f['slope']:+.4f} · log10(hours), "
        f"R² = {f['r2']:.4f} over {f['count']} points (slope standard error {f['slope_se']:.4f}).", "",
        "The fit describes the measured range only: a loss cannot fall below zero, so the law must flatten with more data.",
        "", f"Wall time of this invocation {seconds / 60:.1f} min on {common.machine()['cpus']} CPU cores (runs already "
        "trained by an earlier invocation are re-used; their training times are in the table, - where not recorded).", "",
    ]  # fmt: skip
    (out / "results.md").write_text("\n".join(lines))
    print("\n".join(lines))


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


if __name__ == "__main__":
    sys.exit(main())
