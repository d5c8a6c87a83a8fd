"""(b) EgoScale's two laws on the simulator: validation loss against hours of human data, and loss against robot success.

Resumable stages (each skips the work an earlier invocation finished; ``--stage`` runs one):

1. ``record``: human demonstrations of every task, recorded once at the largest amount on the human
   looks of the look protocol (``dexego.sim.scene``), or on the size's fixed subset of them; the validation set recorded apart on the
   evaluation looks (every look of room 5 or table 5) from another base seed, so neither its looks
   nor its layouts are in any training amount; robot demonstrations of the robot tasks (robot looks)
   for fine-tuning and robot validation.
2. ``pretrain``: one run per amount x seed. Amounts are nested (every amount is a prefix of one
   fixed, look- and task-balanced order of the pool), so every amount of at least as many episodes
   as there are training looks shows every training look: the looks are held fixed across amounts
   and only the amount of footage grows. Seeds change the model's initialisation and sample order,
   not the episodes. Every run: the same model, steps and validation set, one shared normaliser.
3. ``finetune``: for the fine-tuning amounts x seeds, the pretrained run fine-tuned on the same robot
   episodes (same steps); its loss on held-out robot episodes is recorded.
4. ``midtrain`` (sizes that name ``midtrain_amounts``): EgoScale's recipe from the same pretrained runs:
   aligned mid-training on a few human episodes that every such amount contains plus the robot
   fine-tuning episodes, then robot fine-tuning on the same robot episodes, both in the padded
   ``ego48+robot:h1_inspire`` space (midtrain.toml, finetune_robot.toml); the two stages together take
   the hand-space fine-tuning's number of steps.
5. ``evaluate``: rollouts of each fine-tuned policy (both arms) in the benchmark's "unseen" split; SR is
   counted on the rollouts whose look is a held-out look (no training episode shows it).
6. ``report``: results table of every run, ``dexego eval scaling`` over the pretraining runs (both
   laws, intervals, leave-last-out check), the loss-success correlations and plots, with the commit
   and wall time; the mid-training arm against hand-space fine-tuning (SR pooled, paired McNemar test).

Sizes (the plan dictionaries below; the results name the one that ran):

- full (default): 5 tasks, every human look (13), 7 amounts of 32-960 episodes (~2 to ~58 minutes of
  footage, 30x) x 3 seeds, 64 px, pretrain.toml's 600 steps; 4 amounts x 2 seeds fine-tuned (200 steps)
  and rolled out 27 times per robot task. Not timed; hours on 2 cores.
- ``--medium``: 2 tasks (Push-Box, Close-Drawer), 4 fixed human looks (one per training room), 7 amounts
  of 4-128 episodes (~0.3 to ~9 minutes of footage, 32x) x 3 seeds, 32 px, 300 pretraining steps for
  every amount; 4 amounts x 2 seeds fine-tuned for 100 steps on 10 robot episodes per task and rolled out
  on the first 5 "unseen" rollouts of each robot task; the mid-training arm at 10 and 128 episodes x 2 seeds.
  About 35 minutes of one CPU core.
- ``--reduced``: the full plan's tasks and looks, 5 amounts x 2 seeds, pretraining only.
- ``--tiny``: 1 task, 3 amounts, a few steps (the test's version).

The same optimiser schedule (steps, batch, learning rate) is used for every amount of one size, so small
amounts see their episodes for more epochs than large ones.

The mid-training arm runs in the medium and tiny sizes (full and reduced do not name it).

    nice -n 10 .venv/bin/python experiments/scaling_human_data/run.py            # the full experiment (hours)
    nice -n 10 .venv/bin/python experiments/scaling_human_data/run.py --medium   # the committed results
    nice -n 10 .venv/bin/python experiments/scaling_human_data/run.py --reduced  # 5 amounts x 2 seeds, pretraining only
    .venv/bin/python experiments/scaling_human_data/run.py --tiny --work /tmp/w --out /tmp/r   # the test's version
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import common  # noqa: E402

HERE = Path(__file__).resolve().parent
STAGES = ("record", "pretrain", "finetune", "midtrain", "evaluate", "report")
VAL_SEED = 1  # base seed of the validation recordings (training recordings use 0): layouts never trained on

FULL = {
    "tasks": ["Push-Box", "Stack-Can", "Stack-Can-Left", "Close-Drawer-Left", "Flip-Mug"],
    "amounts": [32, 48, 80, 128, 240, 480, 960],  # training episodes (all tasks): ~2 to ~58 minutes of footage, 30x
    "seeds": [0, 1, 2],
    "val_episodes": 8,  # held-out-look episodes per task
    "finetune_amounts": [32, 128, 480, 960],
    "finetune_seeds": [0, 1],
    "robot_tasks": ["Push-Box", "Stack-Can"],
    "robot_episodes": 20,  # per task, for fine-tuning
    "robot_val_episodes": 4,  # per task, held out
    "rollouts": 27,  # per task: the benchmark's "unseen" rollouts on the 9 held-out looks (3 per look)
    "horizon": None,  # the tasks' own
    "pretrain_steps": None,  # from pretrain.toml
    "finetune_steps": None,  # from finetune.toml
    "image_size": 64,
}
REDUCED = {**FULL, "amounts": [16, 32, 64, 128, 256], "seeds": [0, 1], "finetune_amounts": [], "finetune_seeds": []}
# Fits about half an hour of one CPU core: 2 tasks, 4 fixed human looks (so 4 episodes already show every
# training look), 7 amounts over 32x (~0.3 to ~9 minutes of footage), 3 seeds, 32 px images, 300 pretraining
# steps for every amount; 4 amounts x 2 seeds fine-tuned (100 steps) and rolled out on 5 held-out-look
# rollouts of each robot task.
MEDIUM = {
    "tasks": ["Push-Box", "Close-Drawer"],
    "train_looks": [[1, 2], [2, 3], [3, 4], [4, 1]],  # a fixed subset of the human looks, one per room
    "amounts": [4, 6, 10, 16, 32, 64, 128],
    "seeds": [0, 1, 2],
    "val_episodes": 9,  # one per evaluation look
    "finetune_amounts": [4, 10, 32, 128],
    "finetune_seeds": [0, 1],
    "robot_tasks": ["Push-Box", "Close-Drawer"],
    "robot_episodes": 10,
    "robot_val_episodes": 2,
    "rollouts": 5,
    "horizon": None,
    "pretrain_steps": 300,
    "finetune_steps": 100,
    "image_size": 32,
    # the mid-training arm: at 2 amounts x 2 seeds, the pretrained run mid-trained on the first 8 episodes of
    # the balanced order (in both amounts) + the robot fine-tuning episodes, then fine-tuned on the robot
    # episodes, both in ego48+robot:h1_inspire, for half the hand-space fine-tuning's steps each
    "midtrain_amounts": [10, 128],
    "midtrain_seeds": [0, 1],
    "midtrain_human_episodes": 8,
}
TINY = {
    "tasks": ["Push-Box"],
    "amounts": [1, 2, 3],
    "seeds": [0],
    "val_episodes": 1,
    "finetune_amounts": [1, 3],
    "finetune_seeds": [0],
    "robot_tasks": ["Push-Box"],
    "robot_episodes": 1,
    "robot_val_episodes": 1,
    "rollouts": 1,
    "horizon": 10,
    "pretrain_steps": 4,
    "finetune_steps": 2,
    "image_size": 32,
    "midtrain_amounts": [3],
    "midtrain_seeds": [0],
    "midtrain_human_episodes": 1,
}


def held_out(room: int, table: int) -> bool:
    """An evaluation look of the look protocol (room 5 or table 5): in no training recording."""
    from dexego.sim.scene import EVAL_LOOKS

    return (int(room), int(table)) in EVAL_LOOKS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--stage", choices=("all", *STAGES), default="all", help="run one stage (default: all, in order)"
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--tiny", action="store_true", help="a minimal version for tests (1 task, 3 amounts, a few steps)"
    )
    size.add_argument("--reduced", action="store_true", help="5 amounts x 2 seeds, pretraining only")
    size.add_argument(
        "--medium", action="store_true", help="2 tasks, 4 fixed looks, 7 amounts x 3 seeds, 32 px (~30 CPU-minutes)"
    )
    parser.add_argument(
        "--pretrain-steps", type=int, help="optimiser steps of every pretraining run (default: pretrain.toml's)"
    )
    parser.add_argument(
        "--finetune-steps", type=int, help="optimiser steps of every fine-tuning run (default: finetune.toml's)"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--work", default=None, help="datasets and runs (default experiments/.work/scaling[_tiny|_reduced|_medium])"
    )
    parser.add_argument(
        "--out", default=None, help="results folder (default results/ of this folder; WORK/results with --tiny)"
    )
    args = parser.parse_args()
    plan = dict(TINY if args.tiny else REDUCED if args.reduced else MEDIUM if args.medium else FULL)
    plan["pretrain_steps"] = args.pretrain_steps or plan["pretrain_steps"]
    plan["finetune_steps"] = args.finetune_steps or plan["finetune_steps"]
    label = "tiny" if args.tiny else "reduced" if args.reduced else "medium" if args.medium else "full"
    work = Path(args.work) if args.work else common.WORK / ("scaling" if label == "full" else f"scaling_{label}")
    out = Path(args.out) if args.out else (work / "results" if label == "tiny" else HERE / "results")

    import torch

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    stages = STAGES if args.stage == "all" else (args.stage,)
    experiment = Experiment(plan, label, work)
    for stage in stages:
        common.log(f"stage {stage}")
        getattr(experiment, stage)(out) if stage == "report" else getattr(experiment, stage)()
    common.log(f"done in {time.perf_counter() - start:.0f} s")
    return 0


@dataclasses.dataclass
class Episode:
    path: Path
    index: int
    task: str
    room: int
    table: int


def balanced_order(episodes: list[Episode]) -> list[Episode]:
    """A fixed order of the pool in which every prefix is as balanced as it can be over (look, task) cells.

    Greedy: the next episode comes from the least-used (task, look) cell, ties broken by the least-used
    look, then task, then recording order; any prefix of at least as many episodes as there are looks
    shows every look."""
    remaining = list(episodes)
    cells: dict[tuple, int] = {}
    looks: dict[tuple, int] = {}
    tasks: dict[str, int] = {}
    order = []
    while remaining:

        def key(e: Episode):
            look = (e.room, e.table)
            return cells.get((e.task, look), 0), looks.get(look, 0), tasks.get(e.task, 0)

        best = min(range(len(remaining)), key=lambda i: key(remaining[i]))
        e = remaining.pop(best)
        look = (e.room, e.table)
        cells[(e.task, look)] = cells.get((e.task, look), 0) + 1
        looks[look] = looks.get(look, 0) + 1
        tasks[e.task] = tasks.get(e.task, 0) + 1
        order.append(e)
    return order


class Experiment:
    def __init__(self, plan: dict, label: str, work: Path):
        self.plan, self.label, self.work = plan, label, work
        self.human = work / "human"
        self.human_val = work / "human_val"
        self.robot = work / "robot"
        self.runs = work / "runs"

    # ------------------------------------------------------------------------------------- record
    def record(self) -> None:
        from dexego.sim.demos import record_demos
        from dexego.sim.scene import EVAL_LOOKS

        p = self.plan
        per_task = math.ceil(max(p["amounts"]) / len(p["tasks"]))
        for task in p["tasks"]:
            looks = [tuple(x) for x in p["train_looks"]] if p.get("train_looks") else None  # default: every human look
            record_demos(
                task, per_task, self.human / task, seed=0, image_size=p["image_size"], embodiment="human", looks=looks
            )
            record_demos(task, p["val_episodes"], self.human_val / task, seed=VAL_SEED, image_size=p["image_size"],
                         embodiment="human", looks=EVAL_LOOKS)  # fmt: skip
            common.log(f"human {task}: {per_task} training and {p['val_episodes']} validation episodes")
        for task in p["robot_tasks"]:
            common.record(
                task, self.robot, p["robot_episodes"] + p["robot_val_episodes"], "robot", image_size=p["image_size"]
            )

    def _episodes(self, path: Path, task: str) -> list[Episode]:
        from dexego.data import Dataset

        data = Dataset(path)
        metas = [data.episode_meta(i)["metadata"] for i in range(data.num_episodes)]
        return [Episode(path, i, task, int(m["room"]), int(m["table"])) for i, m in enumerate(metas)]

    def pools(self) -> tuple[list[Episode], list[Episode]]:
        """(the training pool in its balanced order, the validation episodes), from the recorded metadata."""
        train, val = [], []
        for task in self.plan["tasks"]:
            for root in (self.human, self.human_val):
                if not (root / task / "meta" / "info.json").is_file():
                    raise SystemExit(f"{root / task}: not recorded yet (run --stage record)")
            train += self._episodes(self.human / task, task)
            val += self._episodes(self.human_val / task, task)[: self.plan["val_episodes"]]
        if any(held_out(e.room, e.table) for e in train) or not all(held_out(e.room, e.table) for e in val):
            raise SystemExit(
                f"{self.human}: a training episode on an evaluation look, or a validation episode off them"
            )
        return balanced_order(train), val

    # ------------------------------------------------------------------------------------ pretrain
    def _template(self, name: str, steps: int | None):
        from dexego.train import load_stage_config

        overrides = (
            [f"loop.max_steps={steps}", f"loop.checkpoint_every={steps}", f"loop.val_every={steps}"] if steps else []
        )
        if self.plan["image_size"] != 64:
            s = self.plan["image_size"]
            overrides += [f"data.sample.image_size=[{s}, {s}]", f"model.tiny.image_size={s}", "model.tiny.patch_size=8"]
        return load_stage_config(HERE / name, overrides)

    def _stats(self, template):
        paths = [self.human / t for t in self.plan["tasks"]] + [self.robot / t for t in self.plan["robot_tasks"]]
        return common.pooled_action_stats(template, paths)

    def pretrain_dir(self, amount: int, seed: int) -> Path:
        return self.runs / "pretrain" / f"episodes_{amount:04d}_seed{seed}"

    def pretrain(self) -> None:
        template = self._template("pretrain.toml", self.plan["pretrain_steps"])
        order, val = self.pools()
        if len(order) < max(self.plan["amounts"]):
            raise SystemExit(
                f"the training pool holds {len(order)} episodes, the largest amount is {max(self.plan['amounts'])} (run --stage record)"
            )
        stats = self._stats(template)
        val_sets = {"val_human": _grouped(val)}
        for amount in self.plan["amounts"]:
            chosen = order[:amount]
            hours = sum(common.hours(path, eps) for path, eps in _grouped(chosen))
            for seed in self.plan["seeds"]:
                run_dir = self.pretrain_dir(amount, seed)
                if (run_dir / "run.json").is_file():
                    done = json.loads((run_dir / "run.json").read_text())
                    if done["steps"] != template.loop.max_steps:
                        raise SystemExit(f"{run_dir}: trained for {done['steps']} steps, this invocation asks for "
                                         f"{template.loop.max_steps}; use a fresh --work folder")  # fmt: skip
                    continue
                config = dataclasses.replace(
                    template, output_dir=str(run_dir), name=f"scaling_{amount}_s{seed}", seed=seed
                )
                common.log(f"pretrain {amount} episodes ({hours * 60:.2f} min), seed {seed} -> {run_dir}")
                t0 = time.perf_counter()
                common.train_run(config, _grouped(chosen), val_sets, stats, hours)
                looks = sorted({(e.room, e.table) for e in chosen})
                common.write_json(run_dir / "run.json", {
                    "stage": "pretrain", "amount_episodes": amount, "seed": seed, "hours": hours,
                    "looks": [list(x) for x in looks], "tasks": sorted({e.task for e in chosen}),
                    "val_human_loss": _best(run_dir, "val_human"),
                    "train_seconds": round(time.perf_counter() - t0, 1), "steps": config.loop.max_steps,
                })  # fmt: skip

    # ------------------------------------------------------------------------------------ finetune
    def finetune_dir(self, amount: int, seed: int) -> Path:
        return self.runs / "finetune" / f"episodes_{amount:04d}_seed{seed}"

    def _robot_split(self):
        from dexego.data import Dataset

        train, val = [], []
        for task in self.plan["robot_tasks"]:
            path = self.robot / task
            n = Dataset(path).num_episodes
            if n < self.plan["robot_episodes"] + self.plan["robot_val_episodes"]:
                raise SystemExit(f"{path}: {n} robot episodes, need more (run --stage record)")
            train.append((path, list(range(self.plan["robot_episodes"]))))
            val.append((path, list(range(n - self.plan["robot_val_episodes"], n))))
        return train, val

    def finetune(self) -> None:
        template = self._template("finetune.toml", self.plan["finetune_steps"])
        stats = self._stats(self._template("pretrain.toml", self.plan["pretrain_steps"]))
        train, val = self._robot_split()
        for amount in self.plan["finetune_amounts"]:
            for seed in self.plan["finetune_seeds"]:
                run_dir, source = self.finetune_dir(amount, seed), self.pretrain_dir(amount, seed)
                if (run_dir / "run.json").is_file():
                    continue
                if not (source / "run.json").is_file():
                    raise SystemExit(f"{source}: not pretrained yet (run --stage pretrain)")
                config = dataclasses.replace(template, output_dir=str(run_dir), name=f"finetune_{amount}_s{seed}", seed=seed,
                                             init_from=str(source))  # fmt: skip
                common.log(f"finetune from {source.name} -> {run_dir}")
                t0 = time.perf_counter()
                common.train_run(config, train, {"val_robot": val}, stats)
                common.write_json(run_dir / "run.json", {
                    "stage": "finetune", "amount_episodes": amount, "seed": seed, "init_from": str(source),
                    "val_robot_loss": _best(run_dir, "val_robot"), "train_seconds": round(time.perf_counter() - t0, 1),
                    "steps": config.loop.max_steps,
                })  # fmt: skip

    # ------------------------------------------------------------------------------------ midtrain
    def midtrain_dir(self, amount: int, seed: int) -> Path:
        return self.runs / "midtrain" / f"episodes_{amount:04d}_seed{seed}"

    def recipe_dir(self, amount: int, seed: int) -> Path:
        return self.runs / "finetune_robot" / f"episodes_{amount:04d}_seed{seed}"

    def midtrain(self) -> None:
        """EgoScale's recipe from the pretrained runs: aligned mid-training, then robot fine-tuning in the padded
        robot space; the two stages together take the hand-space fine-tuning's number of steps."""
        p = self.plan
        if not p.get("midtrain_amounts"):
            return
        steps = self._template("finetune.toml", p["finetune_steps"]).loop.max_steps
        mid_t = self._template("midtrain.toml", steps // 2)
        ft_t = self._template("finetune_robot.toml", steps - steps // 2)
        order, _ = self.pools()
        human = order[: p["midtrain_human_episodes"]]
        if any(p["midtrain_human_episodes"] > a for a in p["midtrain_amounts"]):
            raise SystemExit("the mid-training human episodes must be in every mid-trained amount")
        train, val = self._robot_split()
        for amount in p["midtrain_amounts"]:
            for seed in p["midtrain_seeds"]:
                source = self.pretrain_dir(amount, seed)
                if not (source / "run.json").is_file():
                    raise SystemExit(f"{source}: not pretrained yet (run --stage pretrain)")
                for name, template, run_dir, init, data in (
                    ("midtrain", mid_t, self.midtrain_dir(amount, seed), source, _grouped(human) + train),
                    ("finetune_robot", ft_t, self.recipe_dir(amount, seed), self.midtrain_dir(amount, seed), train),
                ):
                    if (run_dir / "run.json").is_file():
                        continue
                    config = dataclasses.replace(template, output_dir=str(run_dir), name=f"{name}_{amount}_s{seed}",
                                                 seed=seed, init_from=str(init))  # fmt: skip
                    common.log(f"{name} from {init.name} ({init.parent.name}) -> {run_dir}")
                    t0 = time.perf_counter()
                    # the padded space's normaliser: the stage's own samples (robot joints included)
                    common.train_run(config, data, {"val_robot": val}, None)
                    common.write_json(run_dir / "run.json", {
                        "stage": name, "amount_episodes": amount, "seed": seed, "init_from": str(init),
                        "val_robot_loss": _best(run_dir, "val_robot"),
                        "train_seconds": round(time.perf_counter() - t0, 1), "steps": config.loop.max_steps,
                    })  # fmt: skip

    # ------------------------------------------------------------------------------------ evaluate
    def evaluated_runs(self) -> list[Path]:
        """The fine-tuned runs rolled out: hand-space fine-tuning, then the mid-training arm's."""
        p = self.plan
        runs = [self.finetune_dir(a, s) for a in p["finetune_amounts"] for s in p["finetune_seeds"]]
        return runs + [
            self.recipe_dir(a, s) for a in p.get("midtrain_amounts", []) for s in p.get("midtrain_seeds", [])
        ]

    def evaluate(self) -> None:
        from dexego.evaluate.sim_policy import CheckpointPolicyFactory, SimPolicyConfig
        from dexego.sim.env import HumanoidTaskEnv
        from dexego.sim.evaluation import protocol, run_rollout

        p = self.plan
        # the benchmark's fixed "unseen" rollouts (evaluation looks and seeds), the first `rollouts` per task
        specs = {t: protocol(t, "unseen")[: p["rollouts"]] for t in p["robot_tasks"]}
        assert all(held_out(s.room, s.table) for v in specs.values() for s in v)
        env_overrides = {"image_size": p["image_size"], **({"horizon": p["horizon"]} if p.get("horizon") else {})}
        for run_dir in self.evaluated_runs():
            path = run_dir / "eval.json"
            if path.is_file():
                continue
            if not (run_dir / "run.json").is_file():
                raise SystemExit(f"{run_dir}: not trained yet (run --stage finetune / midtrain)")
            t0 = time.perf_counter()
            factory = CheckpointPolicyFactory(str(run_dir / "final"), SimPolicyConfig(query_every=4))
            rows = []
            for task, task_specs in specs.items():
                policy, env = factory(task), HumanoidTaskEnv(task, render=True, **env_overrides)
                try:
                    rows += [dataclasses.asdict(run_rollout(env, policy, spec)) for spec in task_specs]
                finally:
                    env.close()
            successes = sum(bool(r["success"]) for r in rows)
            common.write_json(path, {"split": "unseen (the evaluation looks)", "held_out_rollouts": len(rows),
                                     "held_out_successes": successes, "rollouts": rows,
                                     "seconds": round(time.perf_counter() - t0, 1)})  # fmt: skip
            common.log(f"{run_dir.parent.name}/{run_dir.name}: {successes}/{len(rows)} successes on held-out looks")

    # -------------------------------------------------------------------------------------- report
    def report(self, out: Path) -> None:
        write_report(self, out)


def _grouped(episodes: list[Episode]) -> list[tuple[Path, list[int]]]:
    groups: dict[Path, list[int]] = {}
    for e in episodes:
        groups.setdefault(e.path, []).append(e.index)
    return [(path, sorted(ids)) for path, ids in groups.items()]


def _best(run_dir: Path, split: str) -> float | None:
    from dexego.evaluate.metrics_log import read_metrics, resolve_metrics_path

    return read_metrics(resolve_metrics_path(run_dir)).best(split, "loss")


def _read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def write_report(exp: Experiment, out: Path) -> None:
    from dexego.evaluate.html_page import figure_png, write_bytes_atomic, write_text_atomic
    from dexego.evaluate.loss_success import RunOutcome, loss_success, plot_loss_success
    from dexego.evaluate.scaling import ScalingPoint, analysis_lines, fit_log_linear, plot_scaling, scaling_result

    p = exp.plan
    rows, points, outcomes = [], [], []
    for amount in p["amounts"]:
        for seed in p["seeds"]:
            pre = _read(exp.pretrain_dir(amount, seed) / "run.json")
            if pre is None:
                continue
            ft = _read(exp.finetune_dir(amount, seed) / "run.json")
            ev = _read(exp.finetune_dir(amount, seed) / "eval.json")
            row = {"amount_episodes": amount, "seed": seed, "hours": pre["hours"], "minutes": pre["hours"] * 60,
                   "looks": len(pre["looks"]), "tasks": len(pre["tasks"]), "val_human_loss": pre["val_human_loss"],
                   "pretrain_seconds": pre["train_seconds"], "val_robot_loss": ft and ft["val_robot_loss"],
                   "finetune_seconds": ft and ft["train_seconds"],
                   "successes": ev and ev["held_out_successes"], "rollouts": ev and ev["held_out_rollouts"]}  # fmt: skip
            rows.append(row)
            points.append(ScalingPoint(pre["hours"] * 60, pre["val_human_loss"], f"{amount}ep_seed{seed}", "minutes"))
            if ev and ev["held_out_rollouts"]:
                outcomes.append(RunOutcome(f"{amount}ep_seed{seed}", pre["val_human_loss"], ev["held_out_successes"],
                                           ev["held_out_rollouts"], robot_loss=ft["val_robot_loss"], amount=pre["hours"] * 60))  # fmt: skip
    if not rows:
        raise SystemExit(f"no finished pretraining runs under {exp.runs} (run --stage pretrain)")
    out.mkdir(parents=True, exist_ok=True)
    order, val = exp.pools()
    fit = analysis = None
    lines_fit: list[str] = []
    if len({r["amount_episodes"] for r in rows}) >= 2:
        from dexego.evaluate.scaling import analyse_scaling

        fit = fit_log_linear([q.amount for q in points], [q.loss for q in points], "minutes")
        if len({q.amount for q in points}) >= 3:
            analysis = analyse_scaling(points, resamples=1000)
            lines_fit = analysis_lines(analysis)
        common.write_json(out / "scaling_fit.json", scaling_result(points, fit, analysis=analysis))
        write_bytes_atomic(out / "scaling.png", figure_png(plot_scaling(points, fit, analysis=analysis)))
    correlation = loss_success(outcomes) if outcomes else None
    if correlation:
        correlation["support"] = _support(outcomes)
    if outcomes:
        write_bytes_atomic(out / "loss_success.png", figure_png(plot_loss_success(outcomes, correlation)))
    recipe_rows, recipe = _recipe(exp)
    wall = sum(r["pretrain_seconds"] + (r["finetune_seconds"] or 0) for r in rows)
    wall += sum(r["midtrain_seconds"] + r["finetune_robot_seconds"] for r in recipe_rows)
    commit = common.commit()
    val_looks = sorted({(e.room, e.table) for e in val})
    common.write_json(out / "results.json", {
        "experiment": "validation loss against human data amount, and loss against robot success (EgoScale's two laws)",
        "version": exp.label, "commit": commit, "command": common.command_line(), "plan": p,
        "training_looks": sorted({(e.room, e.table) for e in order}), "validation_looks": val_looks,
        "validation_episodes": {e.task: [x.index for x in val if x.task == e.task] for e in val},
        "runs": rows, "scaling": analysis, "loss_success": correlation, "midtrain_arm": {"runs": recipe_rows, **recipe},
        "machine": common.machine(),
        "training_seconds": round(wall, 1),
    })  # fmt: skip
    steps = exp._template("pretrain.toml", p["pretrain_steps"]).loop.max_steps
    ft_steps = exp._template("finetune.toml", p["finetune_steps"]).loop.max_steps
    batch = exp._template("pretrain.toml", p["pretrain_steps"]).loop.batch_size
    train_looks = sorted({(e.room, e.table) for e in order})
    size = (
        f"Size `{exp.label}`: {len(p['tasks'])} tasks ({', '.join(p['tasks'])}), {len(train_looks)} training looks "
        f"{', '.join(f'({r},{t})' for r, t in train_looks)}, amounts {p['amounts']} episodes x seeds {p['seeds']}, "
        f"{p['image_size']} px, {steps} pretraining steps of batch {batch} for every amount. "
        + (
            f"Fine-tuned: amounts {p['finetune_amounts']} x seeds {p['finetune_seeds']}, {ft_steps} steps on "
            f"{p['robot_episodes']} robot episodes per task ({', '.join(p['robot_tasks'])}), robot loss on "
            f'{p["robot_val_episodes"]} held-out robot episodes per task; SR on the first {p["rollouts"]} "unseen" '
            "rollouts of each robot task (evaluation looks and seeds)."
            if p["finetune_amounts"]
            else "No fine-tuning in this size."
        )
    )
    by_amount = {}
    for r in rows:
        by_amount.setdefault(r["amount_episodes"], []).append(r)
    summary = [
        f"| {a} | {rs[0]['minutes']:.2f} | {len(rs)} | {_mean(x['val_human_loss'] for x in rs):.4f} | "
        f"{_sd([x['val_human_loss'] for x in rs])} |"
        for a, rs in by_amount.items()
    ]
    md = [
        f"# Validation loss against human data, and loss against success ({exp.label} version)", "",
        f"Commit `{commit}`; `{common.command_line()}`. Tasks: {', '.join(p['tasks'])}. Every pretraining run: the same model, "
        f"{steps} steps, one shared normaliser, validated on the same {len(val)} human episodes recorded on {len(val_looks)} "
        "evaluation looks (room 5 or table 5) from layouts (seeds) that no training amount contains. Amounts are nested "
        "prefixes of one look- and task-balanced order of the training pool; the looks column counts the training looks "
        "each amount shows. Seeds change initialisation and sample order, not the episodes.", "",
        size, "",
        "| episodes | footage (min) | runs | mean val_human loss | sd over seeds |", "|---:|---:|---:|---:|---:|",
        *summary, "",
        "| episodes | seed | footage (min) | looks | lowest val_human loss | robot val loss | SR on held-out looks | pretrain s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(f"| {r['amount_episodes']} | {r['seed']} | {r['minutes']:.2f} | {r['looks']} | {r['val_human_loss']:.4f} | "
          f"{_num(r['val_robot_loss'])} | {_sr(r)} | {r['pretrain_seconds']:.0f} |" for r in rows), "",
        "Scaling fit (`dexego.evaluate.scaling`, amounts in minutes of footage):", "",
        *([f"- {line}" for line in lines_fit] or ["- fewer than 3 amounts: no analysis"]), "",
        "Loss against success (`dexego.evaluate.loss_success`):", "",
        *([f"- {s}" for s in correlation["statements"]] + [f"- {correlation['support']}"] if correlation else ["- not measured in this version (no fine-tuned runs)"]), "",
        *_recipe_lines(recipe_rows, recipe),
        f"Training time of the runs (pretraining + fine-tuning + mid-training arm, as recorded per run): {wall / 60:.1f} min on "
        f"{common.machine()['cpus']} CPU cores. Recording and rollouts are not included.", "",
    ]  # fmt: skip
    write_text_atomic(out / "results.md", "\n".join(md))
    print("\n".join(md))


def _support(outcomes) -> str:
    """How much success the correlations rest on: a bootstrap over runs cannot show a law when one run holds every
    success (every resample that holds it has the same sign; the others have no variation and are dropped)."""
    k, n = sum(o.successes for o in outcomes), sum(o.rollouts for o in outcomes)
    runs = sum(o.successes > 0 for o in outcomes)
    text = f"support: {k} successes in {n} rollouts, from {runs} of {len(outcomes)} runs"
    if runs < 3:
        return (text + "; with fewer than 3 runs that ever succeed, any correlation above is set by those runs' "
                "losses alone and its interval is not evidence of a law: loss -> success is not shown at this size")  # fmt: skip
    return text


def _recipe(exp: Experiment) -> tuple[list[dict], dict]:
    """The mid-training arm's runs next to the hand-space fine-tuning of the same pretrained runs, and SR of both arms
    pooled with Wilson intervals plus the exact McNemar test on their paired rollouts (same run, task, look, seed)."""
    from dexego.evaluate.stats import paired_rollouts, pooled

    p = exp.plan
    rows, with_mid, without = [], [], []
    for amount in p.get("midtrain_amounts", []):
        for seed in p.get("midtrain_seeds", []):
            mid = _read(exp.midtrain_dir(amount, seed) / "run.json")
            ft_r = _read(exp.recipe_dir(amount, seed) / "run.json")
            ev_r = _read(exp.recipe_dir(amount, seed) / "eval.json")
            ft = _read(exp.finetune_dir(amount, seed) / "run.json")
            ev = _read(exp.finetune_dir(amount, seed) / "eval.json")
            if not (mid and ft_r and ev_r and ft and ev):
                continue
            tag = {"train_seed": f"{amount}/{seed}"}
            with_mid += [{**r, **tag} for r in ev_r["rollouts"]]
            without += [{**r, **tag} for r in ev["rollouts"]]
            rows.append({"amount_episodes": amount, "seed": seed, "val_robot_loss_hand_space": ft["val_robot_loss"],
                         "successes_hand_space": ev["held_out_successes"], "midtrain_val_robot_loss": mid["val_robot_loss"],
                         "val_robot_loss_recipe": ft_r["val_robot_loss"], "successes_recipe": ev_r["held_out_successes"],
                         "rollouts": ev_r["held_out_rollouts"], "midtrain_seconds": mid["train_seconds"],
                         "finetune_robot_seconds": ft_r["train_seconds"], "steps": [mid["steps"], ft_r["steps"]],
                         "hand_space_steps": ft["steps"]})  # fmt: skip
    if not rows:
        return [], {}
    a, b = pooled(r["success"] for r in with_mid), pooled(r["success"] for r in without)
    test = paired_rollouts(with_mid, without)
    return rows, {"recipe_sr": a.as_dict(), "hand_space_sr": b.as_dict(), "paired_test": test.as_dict(),
                  "recipe_sr_text": a.text(), "hand_space_sr_text": b.text(), "paired_test_text": test.text()}  # fmt: skip


def _recipe_lines(rows: list[dict], recipe: dict) -> list[str]:
    if not rows:
        return ["Mid-training arm: not run in this version.", ""]
    r0 = rows[0]
    return [
        f"Mid-training arm (EgoScale's recipe: {r0['steps'][0]} steps of aligned mid-training on human + robot episodes, "
        f"then {r0['steps'][1]} steps of robot fine-tuning, both in ego48+robot:h1_inspire) against hand-space "
        f"fine-tuning ({r0['hand_space_steps']} steps in ego48) of the same pretrained runs on the same robot episodes. "
        "Robot losses of the two arms are in different action spaces (the padded one includes joints) and are not "
        "comparable; SR is on the same held-out rollouts.", "",
        "| episodes | seed | hand-space robot loss (ego48) | hand-space SR | mid-training robot loss | recipe robot loss (padded) | recipe SR |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        *(f"| {r['amount_episodes']} | {r['seed']} | {_num(r['val_robot_loss_hand_space'])} | "
          f"{r['successes_hand_space']}/{r['rollouts']} | {_num(r['midtrain_val_robot_loss'])} | "
          f"{_num(r['val_robot_loss_recipe'])} | {r['successes_recipe']}/{r['rollouts']} |" for r in rows), "",
        f"- SR with mid-training: {recipe['recipe_sr_text']}; without: {recipe['hand_space_sr_text']}.",
        f"- Paired (A = with mid-training, B = without): {recipe['paired_test_text']}.", "",
    ]  # fmt: skip


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def _sd(values: list[float]) -> str:
    if len(values) < 2:
        return "-"
    m = _mean(values)
    return f"{math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1)):.4f}"


def _num(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def _sr(row: dict) -> str:
    return "-" if not row["rollouts"] else f"{row['successes']}/{row['rollouts']}"


if __name__ == "__main__":
    sys.exit(main())
