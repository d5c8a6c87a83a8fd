"""Human data and the looks the robot never saw: 7 arms, 3 training seeds, 4 tasks, three look splits.

Runs the ``dexego demo`` pipeline with ``profile/`` once per training seed
(``--seeds``, default 0 1 2) into ``experiments/.work/human_transfer/seed<S>/``;
the demonstrations are recorded once and shared by every seed (symlinked
``data/``). Every stage of every seed resumes where it stopped (the demo's
stage markers): re-run the same command after an interruption. Then it pools
the rollouts of the finished seeds per arm and look split (k/n with the Wilson
95 % interval, ``dexego.evaluate.stats``) and tests every arm against
``human_pretrained`` on the rollouts both ran (same task, look, rollout seed
and training seed; exact McNemar). ``results/`` gets results.md and
results.json, with the commit, the wall time and which seeds and arms are in.

Arms (``profile/demo.toml``): human pretraining + robot fine-tuning; robot
only; robot only with as many steps as both stages (matched compute);
pretraining on the same human videos with hand motion shuffled between
episodes; robot only, with robot demonstrations on the human looks too (the
human data's visual diversity without its motion); human pretraining with 50 %
of the robot demonstrations; human only (no robot data).

    nice -n 10 python experiments/human_transfer/run.py                      # everything (many hours on 2 cores)
    nice -n 10 python experiments/human_transfer/run.py --seeds 0 --set eval.rollouts=2   # a smaller run
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import common  # noqa: E402

HERE = Path(__file__).resolve().parent
REFERENCE = "human_pretrained"
CONTROL = "no_pretraining"
HOLD_ROW = "hold still (baseline)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="demo.toml override for every seed (a changed profile runs in its own work folder)",
    )
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--work", default=str(common.WORK / "human_transfer"))
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--summarise-only", action="store_true", help="pool the seeds already finished, run nothing")
    parser.add_argument(
        "--references-first",
        action="store_true",
        help="run only the reference stages (scripted expert, held-out motion of every fine-tuned arm and of holding "
        "still) of seeds whose training is done, with the pipeline's own stage functions and markers (the pipeline "
        "skips them later); the expert once, in the first seed (it does not depend on the training seed)",
    )
    parser.add_argument(
        "--include-unfinished",
        action="store_true",
        help="also pool the arms an unfinished seed has evaluated on every split (the results name what is missing)",
    )
    args = parser.parse_args()

    from dexego.demo import DemoOptions, run_demo
    from dexego.demo.pipeline import check_same_profile
    from dexego.demo.profile import load_profile

    start = time.perf_counter()
    work = Path(args.work) / (
        "default" if not args.overrides else "_".join(o.replace("=", "-") for o in args.overrides)
    )
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    seconds = {}
    if args.references_first:
        return run_references(work, args.seeds, args.overrides)
    for seed in args.seeds:
        out = work / f"seed{seed}"
        if args.summarise_only:
            continue
        out.mkdir(parents=True, exist_ok=True)
        loaded = load_profile(HERE / "profile", [*args.overrides, f"train_seed={seed}"])
        check_same_profile(loaded, out)  # records the profile in the empty folder (resume guard) before the link
        if not (out / "data").exists():
            (out / "data").symlink_to(data.resolve(), target_is_directory=True)
        common.log(f"training seed {seed} -> {out}")
        t0 = time.perf_counter()
        run_demo(loaded, out, DemoOptions(workers=args.workers, progress=False), log=common.log)
        seconds[seed] = round(time.perf_counter() - t0, 1)
    finished = [s for s in args.seeds if (work / f"seed{s}" / "summary.json").is_file()]
    if args.include_unfinished:
        finished = [s for s in args.seeds if s in finished or evaluated_arms(work / f"seed{s}")]
    if not finished:
        common.log("no finished seed to summarise")
        return 1
    write_results(Path(args.out), work, finished, args, seconds, time.perf_counter() - start)
    return 0


def run_references(work: Path, seeds: list[int], overrides: list[str]) -> int:
    """The reference stages ahead of the arms' rollouts (``--references-first``): same functions, inputs and markers
    as the pipeline, so what the summary pools is what the pipeline would have computed at its end."""
    from dexego.demo.pipeline import DemoOptions, run_reference_stages
    from dexego.demo.profile import load_profile
    from dexego.demo.stages import StageRunner

    for index, seed in enumerate(seeds):
        out = work / f"seed{seed}"
        loaded = load_profile(HERE / "profile", [*overrides, f"train_seed={seed}"])
        p = loaded.profile
        total = (len(p.eval.splits) if index == 0 else 0) + len(p.arms) + 1
        runner = StageRunner(out, total, lambda line, s=seed: common.log(f"seed {s}: {line}"))
        if any(not runner.done(f"finetune:{a.name}") for a in p.arms if a.finetune):
            common.log(f"seed {seed}: fine-tuning not finished, no reference stage run")
            continue
        run_reference_stages(loaded, out, runner, DemoOptions(progress=False), expert=index == 0)
    return 0


def profile_arms() -> tuple[list[str], list[str]]:
    """The profile's arm names and look splits, in its order."""
    import tomllib

    profile = tomllib.loads((HERE / "profile" / "demo.toml").read_text())
    return [a["name"] for a in profile["arms"]], list(profile["eval"]["splits"])


def evaluated_arms(folder: Path) -> list[str]:
    """The arms a seed's run has finished evaluating (all splits merged into results/eval/ARM.json)."""
    arms, _ = profile_arms()
    return [a for a in arms if (folder / "results" / "eval" / f"{a}.json").is_file()]


def pooled_rows(work: Path, seeds: list[int]) -> tuple[list[str], list[str], dict, dict]:
    """Per arm and split: the rollouts of every seed summarised (each tagged with its training seed); a seed
    without summary.json (``--include-unfinished``) adds the arms it has evaluated on every split."""
    rollouts: dict[str, list[dict]] = {}
    arms, splits = profile_arms()
    for seed in seeds:
        folder = work / f"seed{seed}"
        if (folder / "summary.json").is_file():
            names = [arm["name"] for arm in json.loads((folder / "summary.json").read_text())["arms"]]
        else:
            names = evaluated_arms(folder)
        for name in names:
            records = json.loads((folder / "results" / "eval" / f"{name}.json").read_text())["rollouts"]
            rollouts.setdefault(name, []).extend({**r, "train_seed": seed} for r in records)
    arms = [a for a in arms if a in rollouts] + [a for a in rollouts if a not in arms]
    splits = [s for s in splits if any(r["split"] == s for records in rollouts.values() for r in records)]
    return arms, splits, rollouts, json.loads((work / f"seed{seeds[0]}" / "results" / "protocol.json").read_text())


def unfinished(work: Path, seeds: list[int]) -> dict[int, list[str]]:
    """Per seed without summary.json: the arms not yet evaluated on every split."""
    arms, _ = profile_arms()
    return {
        seed: [a for a in arms if a not in evaluated_arms(work / f"seed{seed}")]
        for seed in seeds
        if not (work / f"seed{seed}" / "summary.json").is_file()
    }


def references(work: Path, seeds: list[int]) -> tuple[list[dict], dict, dict]:
    """The scripted expert's rollouts (one per task, split, look and rollout seed: the expert does not depend on
    the training seed, so a rollout that every seed's run repeated counts once), the held-out motion error of
    every arm and of holding still (per seed), and each seed's summed stage time. A seed without summary.json
    adds the reference stages it has finished (their stage markers and the expert's per-split results)."""
    arm_names, splits = profile_arms()
    expert: dict[tuple, dict] = {}
    motion: dict[str, list[dict]] = {}
    stage_seconds: dict[int, float] = {}

    def add_expert(records: list[dict]) -> None:
        for r in records:
            expert.setdefault((r["task"], r["split"], r["room"], r["table"], r["seed"]), r)

    for seed in seeds:
        folder = work / f"seed{seed}"
        if (folder / "summary.json").is_file():
            summary = json.loads((folder / "summary.json").read_text())
            add_expert(json.loads((folder / "results" / "eval" / "expert.json").read_text())["rollouts"])
            for arm in summary["arms"]:
                if arm.get("motion"):
                    motion.setdefault(arm["name"], []).append(arm["motion"])
            if summary.get("reference", {}).get("hold"):
                motion.setdefault(HOLD_ROW, []).append(summary["reference"]["hold"])
            stage_seconds[seed] = round(sum(t["seconds"] for t in summary.get("timings", [])), 1)
            continue
        markers = sorted((folder / "stages").glob("*.json"))  # an unfinished seed: the stages it has done so far
        stage_seconds[seed] = round(sum(json.loads(m.read_text())["seconds"] for m in markers), 1)
        for split in splits:
            part = folder / "results" / "eval" / "splits" / f"expert_{split}.json"
            if part.is_file():
                add_expert(json.loads(part.read_text())["rollouts"])
        for name in [*arm_names, "hold"]:
            marker = folder / "stages" / f"motion__{name}.json"
            if marker.is_file():
                motion.setdefault(HOLD_ROW if name == "hold" else name, []).append(
                    json.loads(marker.read_text())["result"]
                )
    return list(expert.values()), motion, stage_seconds


def write_results(out: Path, work: Path, seeds: list[int], args, seconds: dict, wall: float) -> None:
    from dexego.evaluate.stats import paired_rollouts, pooled

    arms, splits, rollouts, protocol = pooled_rows(work, seeds)
    expert, motion, stage_seconds = references(work, seeds)
    missing = unfinished(work, seeds)
    table = {
        a: {s: pooled(r["success"] for r in rollouts[a] if r["split"] == s).as_dict() for s in splits} for a in arms
    }
    expert_table = {s: pooled(r["success"] for r in expert if r["split"] == s).as_dict() for s in splits}
    tasks = sorted({r["task"] for a in arms for r in rollouts[a]})
    by_task = {
        a: {s: {t: pooled(r["success"] for r in rollouts[a] if r["split"] == s and r["task"] == t).as_dict()
                for t in tasks} for s in splits} for a in arms
    }  # fmt: skip
    by_seed = {
        a: {s: {seed: pooled(r["success"] for r in rollouts[a] if r["split"] == s and r["train_seed"] == seed).as_dict()
                for seed in seeds} for s in splits} for a in arms
    }  # fmt: skip
    paired = [{"arm": a, "split": s, **paired_rollouts([r for r in rollouts[REFERENCE] if r["split"] == s],
                                                        [r for r in rollouts[a] if r["split"] == s]).as_dict()}
              for a in arms if a != REFERENCE and REFERENCE in rollouts for s in splits]  # fmt: skip
    # Does one task carry the difference? The reference against robot-only training with each task left out.
    leave_one_out = [{"left_out": t, "split": s, **paired_rollouts(
                          [r for r in rollouts[REFERENCE] if r["split"] == s and r["task"] != t],
                          [r for r in rollouts[CONTROL] if r["split"] == s and r["task"] != t]).as_dict()}
                     for t in tasks for s in splits] if {REFERENCE, CONTROL} <= set(rollouts) else []  # fmt: skip
    motion_mean = {
        name: {k: sum(m[k] for m in ms) / len(ms) for k in ("wrist_cm", "fingertip_cm")} | {"seeds": len(ms)}
        for name, ms in motion.items()
    }
    common.write_json(out / "results.json", {
        "experiment": "human pretraining and its controls on seen, human-covered and never-seen looks",
        "command": common.command_line(), "commit": common.commit(), "seeds": seeds, "tasks": tasks,
        "overrides": args.overrides, "unfinished_seeds_missing_arms": missing, "pooled": table, "expert": expert_table, "pooled_by_task": by_task,
        "pooled_by_seed": by_seed, "paired_vs_" + REFERENCE: paired,
        f"paired_{REFERENCE}_vs_{CONTROL}_leaving_one_task_out": leave_one_out,
        "heldout_motion_error_mean_over_seeds": motion_mean, "look_split": protocol["look_split"],
        "protocol_check": {k: v for k, v in protocol.items() if k != "look_split"},
        "stage_seconds_per_seed": stage_seconds, "seconds_per_seed_this_run": seconds,
        "machine": common.machine(), "wall_seconds_this_run": round(wall, 1),
    })  # fmt: skip
    names = {"seen": "seen (robot looks)", "human": "human-covered looks", "unseen": "never-seen looks"}
    lines = ["# Human pretraining and its controls on three look splits", "",
             f"Training seeds {', '.join(map(str, seeds))}; tasks {', '.join(tasks)}; overrides: {args.overrides or 'none'}. "
             "Success pooled over tasks and seeds as k/n = rate [95 % Wilson interval]; the paired test compares each arm "
             f"with {REFERENCE} on identical rollouts (task, look, rollout seed, training seed), exact McNemar.", "",
             "| arm | " + " | ".join(names.get(s, s) for s in splits) + " |", "|---|" + "---|" * len(splits)]  # fmt: skip
    if missing:
        lines[2:2] = ["**Partial:** " + "; ".join(
            f"seed {seed} is unfinished and adds only the arms it evaluated on every split (not yet: {', '.join(m) or 'none'})"
            for seed, m in missing.items()) + "; the reference rows take the reference stages each seed has done.", ""]  # fmt: skip
    for a in arms:
        lines.append(f"| {a} | " + " | ".join(_cell(table[a][s]) for s in splits) + " |")
    lines.append("| scripted expert (reference) | " + " | ".join(_cell(expert_table[s]) for s in splits) + " |")
    lines += ["", "The scripted expert ran the same tasks, looks and rollout seeds; it does not depend on the training "
              "seed, so each of its rollouts counts once. Holding the current pose is not rolled out here (it never "
              "completes a task: 0/16 in experiments/action_heads); its held-out motion error is below.", ""]  # fmt: skip
    lines += ["| arm vs " + REFERENCE + " | split | paired rollouts | only " + REFERENCE + " | only the arm | p |",
              "|---|---|---:|---:|---:|---:|"]  # fmt: skip
    for t in paired:
        lines.append(
            f"| {t['arm']} | {names.get(t['split'], t['split'])} | {t['pairs']} | {t['a_only']} | {t['b_only']} | {t['p_value']:.3g} |"
        )
    if leave_one_out:
        lines += ["", f"{REFERENCE} vs {CONTROL} with one task left out (does one task carry the difference?):", "",
                  "| task left out | split | paired rollouts | only " + REFERENCE + " | only " + CONTROL + " | p |",
                  "|---|---|---:|---:|---:|---:|"]  # fmt: skip
        for t in leave_one_out:
            lines.append(
                f"| {t['left_out']} | {names.get(t['split'], t['split'])} | {t['pairs']} | {t['a_only']} | {t['b_only']} | {t['p_value']:.3g} |"
            )
    for s in splits:
        lines += ["", f"Per task, {names.get(s, s)} (k/n pooled over the seeds):", "",
                  "| arm | " + " | ".join(tasks) + " |", "|---|" + "---:|" * len(tasks)]  # fmt: skip
        for a in arms:
            lines.append(
                f"| {a} | " + " | ".join(f"{by_task[a][s][t]['k']}/{by_task[a][s][t]['n']}" for t in tasks) + " |"
            )
    lines += ["", "Per training seed (k/n, " + ", ".join(names.get(s, s) for s in splits) + "):", "",
              "| arm | " + " | ".join(f"seed {seed}" for seed in seeds) + " |", "|---|" + "---|" * len(seeds)]  # fmt: skip
    for a in arms:
        cells = [
            ", ".join(f"{by_seed[a][s][seed]['k']}/{by_seed[a][s][seed]['n']}" for s in splits)
            if by_seed[a][splits[0]][seed]["n"]
            else "not evaluated"
            for seed in seeds
        ]
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    lines += ["", "Held-out robot episodes, error of the predicted 1 s chunk (mean over the seeds that ran it):", "",
              "| policy | wrist cm | fingertip cm | seeds |", "|---|---:|---:|---:|"]  # fmt: skip
    for name, m in motion_mean.items():
        lines.append(f"| {name} | {m['wrist_cm']:.2f} | {m['fingertip_cm']:.2f} | {m['seeds']} |")
    lines += ["", "Look split: " + "; ".join(f"{k}: {len(v)} looks" for k, v in protocol["look_split"].items())
              + f". Checked from the recorded metadata: {protocol['training_episodes']} training episodes, none on an "
              "evaluation-only look or an evaluation seed.", "",
              "Time per seed (sum of its stages' wall times so far, the shared recordings counted in the seed that recorded them): "
              + ", ".join(f"seed {k}: {v / 60:.1f} min" for k, v in stage_seconds.items()) + ".", "",
              f"Commit {common.commit()}; this invocation ran seeds {sorted(seconds) or 'none'} in {wall / 60:.1f} min "
              f"(`{common.command_line()}`).", ""]  # fmt: skip
    (out / "results.md").write_text("\n".join(lines))
    print("\n".join(lines))


def _cell(q: dict) -> str:
    if not q["n"]:
        return "not evaluated"
    return f"{q['k']}/{q['n']} = {100 * q['rate']:.0f} % [{100 * q['low']:.0f}, {100 * q['high']:.0f}]"


if __name__ == "__main__":
    sys.exit(main())
