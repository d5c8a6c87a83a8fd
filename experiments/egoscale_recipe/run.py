"""EgoScale's recipe on the built-in benchmark against human pretraining then hand-space fine-tuning.

Both arms start from ONE human-pretrained model (``configs/cpu/egoscale/pretrain.toml``, ego48):

- **egoscale**: aligned mid-training on a small human + robot set of the target tasks in the padded
  ``ego48+robot:h1_inspire`` vector, then robot fine-tuning in it (the robot commanded from its joints);
- **hand space**: robot fine-tuning in ego48 for as many steps as mid-training + fine-tuning together
  (the robot's hand joints retargeted from the predicted fingertips at run time).

Figures: held-out loss after each stage (the stage's own loss on held-out robot episodes, and the wrist
position error in metres, comparable across action spaces), and SR on 2 tasks (seen looks). Writes
``results/results.json`` and ``results/results.md``; data and runs go under ``experiments/.work/egoscale``.

    python experiments/egoscale_recipe/run.py [--rollouts 4] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import HERE as EXPERIMENTS  # noqa: E402
from common import WORK, log, machine, record, write_json  # noqa: E402

ROOT = EXPERIMENTS.parent
CONFIGS = ROOT / "configs" / "cpu" / "egoscale"
OUT = Path(__file__).resolve().parent / "results"
TASKS = ("Push-Box", "Close-Drawer")
PRETRAIN_TASKS = ("Push-Box", "Close-Drawer", "Open-Drawer", "Flip-Mug")


def data(work: Path, episodes: dict) -> dict[str, list[Path]]:
    """Human pretraining data (4 tasks), the aligned human + robot set and the robot fine-tuning data (2 tasks),
    and held-out robot episodes (seeds no training set uses)."""
    paths = {"human": [record(t, work / "human", episodes["human"], "human", seed=0) for t in PRETRAIN_TASKS]}
    paths["aligned_human"] = [record(t, work / "aligned_human", episodes["aligned"], "human", seed=1) for t in TASKS]
    paths["aligned_robot"] = [record(t, work / "aligned_robot", episodes["aligned"], "robot", seed=1) for t in TASKS]
    paths["robot"] = [record(t, work / "robot", episodes["robot"], "robot", seed=0) for t in TASKS]
    paths["heldout_robot"] = [record(t, work / "heldout_robot", episodes["heldout"], "robot", seed=7) for t in TASKS]
    return paths


def stage(name: str, work: Path, sources: list[Path], init_from: str | None, steps: int, batch_size: int = 8):
    """``configs/cpu/egoscale/NAME.toml`` with this experiment's datasets, output folder and steps."""
    from dataclasses import replace

    from dexego.data.mixtures import MixtureEntry
    from dexego.train.config import load_stage_config

    overrides = [f"loop.max_steps={steps}", f"loop.batch_size={batch_size}", "loop.progress=false",
                 f"loop.val_every={steps}", f"loop.checkpoint_every={steps}", "schedule.warmup_steps=2"]  # fmt: skip
    config = load_stage_config(CONFIGS / f"{name}.toml", overrides)
    weighted = any(s.weight is not None for s in config.data.sources)  # mid-training: equal shares per dataset
    entries = tuple(MixtureEntry(path=str(p), weight=1.0 if weighted else None) for p in sources)
    return replace(config, output_dir=str(work / "runs" / name), init_from=str(work / "runs" / init_from) if init_from else "",
                   data=replace(config.data, sources=entries))  # fmt: skip


def train(name: str, work: Path, sources: list[Path], init_from: str | None, steps: int, batch_size: int = 8) -> Path:
    from dexego.train.build import run_stage

    config = stage(name, work, sources, init_from, steps, batch_size)
    final = work / "runs" / name / "final"
    if not final.is_dir():
        start = time.time()
        result = run_stage(config)
        log(f"{name}: {result.steps} steps, train loss {result.last_train_loss:.3f}, {time.time() - start:.0f} s")
    return final


def heldout(policy_dir: Path, datasets: list[Path], batches: int = 8) -> dict:
    """Mean loss and wrist position error of a policy on held-out robot episodes (every anchor, in its own space)."""
    import numpy as np
    import torch

    from dexego.data import SampleConfig
    from dexego.data.loader import SampleSource
    from dexego.serve.loading import load_policy

    policy = load_policy(policy_dir)
    config = SampleConfig(action_space=policy.config.action_space, horizon=policy.config.horizon,
                          history=policy.config.n_obs_frames - 1, image_size=(64, 64))  # fmt: skip
    losses, errors = [], []
    torch.manual_seed(0)
    for path in datasets:
        source = SampleSource(path, config, None, path.name)
        for ep in source.episodes:
            samples = source.samples(ep, source.anchors[ep])
            batch = {k: (np.stack([s[k] for s in samples]) if not isinstance(samples[0][k], str) else [s[k] for s in samples])
                     for k in samples[0]}  # fmt: skip
            with torch.no_grad():
                loss, metrics = policy(batch)
            losses.append((float(loss), len(samples)))
            errors.append((metrics["wrist_pos_error_m"], len(samples)))
    n = sum(c for _, c in losses)
    return {
        "loss": sum(v * c for v, c in losses) / n,
        "wrist_pos_error_m": sum(v * c for v, c in errors) / n,
        "samples": n,
    }


def success(policy_dir: Path, rollouts: int, work: Path, name: str) -> dict:
    out = work / "eval" / f"{name}.json"
    if not out.is_file():
        cmd = [sys.executable, "-m", "dexego", "sim", "eval", "--policy", str(policy_dir), "--tasks", ",".join(TASKS),
               "--split", "seen", "--episodes", str(rollouts), "--image-size", "64", "--query-every", "4", "--out", str(out)]  # fmt: skip
        subprocess.run(cmd, check=True, cwd=ROOT)
    import json

    results = json.loads(out.read_text())
    return {task: {"successes": int(round(s["sr"] * s["rollouts"])), "rollouts": s["rollouts"], "sr": s["sr"], "psr": s["psr"]}
            for task, s in results["summary"].items()}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rollouts", type=int, default=4, help="rollouts per task (seen looks)")
    parser.add_argument("--pretrain-steps", type=int, default=150)
    parser.add_argument("--stage-steps", type=int, default=60, help="mid-training and fine-tuning steps each")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--work", default=str(WORK / "egoscale"))
    args = parser.parse_args(argv)
    work = Path(args.work)
    start = time.time()
    episodes = {"human": 4, "aligned": 2, "robot": 4, "heldout": 1}
    paths = data(work, episodes)
    log("data ready")
    s, b = args.stage_steps, args.batch_size
    stages = {
        "pretrain": train("pretrain", work, paths["human"], None, args.pretrain_steps, b),
        "midtrain": train("midtrain", work, paths["aligned_human"] + paths["aligned_robot"], "pretrain", s, b),
        "finetune": train("finetune", work, paths["robot"], "midtrain", s, b),
        "finetune_hand_space": train("finetune_hand_space", work, paths["robot"], "pretrain", 2 * s, b),
    }
    figures = {name: heldout(path, paths["heldout_robot"]) for name, path in stages.items()}
    log(f"held-out: {figures}")
    sr = {arm: success(stages[stage_name], args.rollouts, work, arm)
          for arm, stage_name in (("egoscale", "finetune"), ("hand_space", "finetune_hand_space"))}  # fmt: skip
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    results = {"commit": commit, "wall_time_s": round(time.time() - start), "machine": machine(), "episodes": episodes,
               "steps": {"pretrain": args.pretrain_steps, "midtrain": s, "finetune": s, "finetune_hand_space": 2 * s},
               "batch_size": b, "rollouts_per_task": args.rollouts,
               "heldout_robot": figures, "success_seen": sr, "tasks": list(TASKS)}  # fmt: skip
    OUT.mkdir(parents=True, exist_ok=True)
    write_json(OUT / "results.json", results)
    lines = ["| stage (action space) | held-out robot loss | wrist position error (cm) |", "|---|---:|---:|"]
    spaces = {"pretrain": "ego48", "midtrain": "ego48+robot:h1_inspire", "finetune": "ego48+robot:h1_inspire",
              "finetune_hand_space": "ego48"}  # fmt: skip
    for name, f in figures.items():
        lines.append(f"| {name} ({spaces[name]}) | {f['loss']:.3f} | {100 * f['wrist_pos_error_m']:.2f} |")
    lines += ["", "| arm | " + " | ".join(f"{t} SR (k/n)" for t in TASKS) + " |", "|---|" + "---:|" * len(TASKS)]
    for arm, per_task in sr.items():
        lines.append(
            f"| {arm} | " + " | ".join(f"{per_task[t]['successes']}/{per_task[t]['rollouts']}" for t in TASKS) + " |"
        )
    lines.append(f"\ncommit {commit}; steps {results['steps']} at batch {b}; wall time {results['wall_time_s']} s on "
                 f"{machine()['cpus']} shared CPUs")  # fmt: skip
    (OUT / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
