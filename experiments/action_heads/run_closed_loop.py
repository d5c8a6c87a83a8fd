"""(c) in closed loop: success rate per action head in the simulator, 3 training seeds, paired against regression.

Runs the ``dexego demo`` pipeline with ``profile/`` once per training seed
(``--seeds``, default 0 1 2) into ``experiments/.work/action_heads/seed<S>/``:
robot-only training from scratch of five arms that differ only in the head
(regression; flow matching; motion tokens = residual-VQ hand codes; hand codes
after METIS's visual-dynamics codes; a text plan, then dynamics and hand
codes), rollouts on the robot looks, the scripted expert on the same rollouts,
and the open-loop errors on held-out robot episodes next to holding the current
pose. The robot demonstrations are recorded once and shared by every seed
(symlinked ``data/``); the two tokenizers are fitted once on them before any
training (the residual-VQ tokenizer on the training episodes' relative chunks,
normalised exactly as the policy normalises its targets; the dynamics tokenizer
on frame pairs 1 s apart, the chunk's span). Every stage resumes.

Then it pools the rollouts of the finished seeds per arm (k/n with the Wilson
95 % interval, ``dexego.evaluate.stats``) and tests every head against
regression on identical rollouts (task, look, rollout seed, training seed;
exact McNemar). ``results/closed_loop.md`` and ``closed_loop.json`` record the
commit, the wall time and the CPU time.

    nice -n 10 python experiments/action_heads/run_closed_loop.py
    nice -n 10 python experiments/action_heads/run_closed_loop.py --seeds 0 --set eval.rollouts=1 --work /tmp/h  # a try
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import common  # noqa: E402

HERE = Path(__file__).resolve().parent
REFERENCE = "regression"
PLACEHOLDER = "{tokenizers}"
REFERENCE_ROWS = ("expert", "hold")  # scripted experts; holding the current pose (closed loop)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="demo.toml override for every seed (a changed profile runs in its own work folder)")  # fmt: skip
    parser.add_argument("--rvq", action="append", default=["train_steps=400", "hidden=128", "codebook_size=128", "batch_size=128"],
                        metavar="KEY=VALUE", help="residual-VQ tokenizer settings")  # fmt: skip
    parser.add_argument("--dynamics", action="append", default=["steps=300", "image_size=32", "batch_size=32"],
                        metavar="KEY=VALUE", help="visual-dynamics tokenizer settings")  # fmt: skip
    parser.add_argument("--profile", default=str(HERE / "profile"), help="the demo profile folder")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work", default=str(common.WORK / "action_heads"))
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--summarise-only", action="store_true", help="pool the seeds already finished, run nothing")
    args = parser.parse_args()

    import torch

    from dexego.demo import DemoOptions, run_demo
    from dexego.demo.pipeline import check_same_profile

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    code = common.commit()  # the code that runs: read before the work, during which the checkout may move on
    work = Path(args.work).resolve() / (
        "default" if not args.overrides else "_".join(o.replace("=", "-") for o in args.overrides)
    )
    data, tokenizers = work / "data", work / "tokenizers"
    data.mkdir(parents=True, exist_ok=True)
    seconds, tokenizer_report = {}, None
    for seed in [] if args.summarise_only else args.seeds:
        loaded = profile(Path(args.profile), args.overrides, seed, tokenizers)
        if tokenizer_report is None:
            record_robot_data(loaded, data)
            tokenizer_report = fit_tokenizers(loaded, data, tokenizers, args.rvq, args.dynamics)
        out = work / f"seed{seed}"
        out.mkdir(parents=True, exist_ok=True)
        check_same_profile(loaded, out)  # records the profile in the empty folder (resume guard) before the link
        if not (out / "data").exists():
            (out / "data").symlink_to(data, target_is_directory=True)
        common.log(f"training seed {seed} -> {out}")
        t0 = time.perf_counter()
        run_demo(loaded, out, DemoOptions(workers=1, threads=args.threads, progress=False), log=common.log)
        seconds[seed] = round(time.perf_counter() - t0, 1)
    if not args.summarise_only:
        evaluate_hold(profile(Path(args.profile), args.overrides, args.seeds[0], tokenizers), work)
    finished = [s for s in args.seeds if (work / f"seed{s}" / "summary.json").is_file()]
    if not finished:
        common.log("no finished seed to summarise")
        return 1
    if tokenizer_report is None and (tokenizers / "report.json").is_file():
        tokenizer_report = json.loads((tokenizers / "report.json").read_text())
    write_results(Path(args.out), work, finished, args, seconds, tokenizer_report, time.perf_counter() - start, code)
    return 0


def profile(folder: Path, overrides: list[str], seed: int, tokenizers: Path):
    """The profile of one training seed, with the tokenizer folder filled into the arms' overrides."""
    from dexego.demo.profile import load_profile

    loaded = load_profile(folder, [*overrides, f"train_seed={seed}"])
    arms = tuple(dataclasses.replace(a, finetune_overrides=tuple(o.replace(PLACEHOLDER, str(tokenizers))
                                                                 for o in a.finetune_overrides))
                 for a in loaded.profile.arms)  # fmt: skip
    return dataclasses.replace(loaded, profile=dataclasses.replace(loaded.profile, arms=arms))


def record_robot_data(loaded, data: Path) -> None:
    """The robot demonstrations the demo records (same tasks, episodes, seed, looks): needed before the tokenizers."""
    from dexego.sim.demos import record_demos

    p = loaded.profile
    for task in p.data.robot_tasks:
        summary = record_demos(task, p.data.robot_episodes, data / "robot" / task, seed=p.data.seed,
                               image_size=p.data.image_size, embodiment="robot", looks=p.looks.robot)  # fmt: skip
        common.log(f"robot data {task}: {summary['written']} written, {summary['skipped_existing']} there")


def evaluate_hold(loaded, work: Path) -> Path:
    """Holding the current pose in closed loop on the arms' rollouts (tasks, looks, seeds, horizon, query period)."""
    from dexego.evaluate.sim_policy import HoldPoseFactory, SimPolicyConfig
    from dexego.sim.evaluation import evaluate
    from dexego.utils.files import write_json_atomic

    path = work / "hold_seen.json"
    if path.is_file():
        return path
    p = loaded.profile
    factory = HoldPoseFactory(SimPolicyConfig(query_every=p.eval.query_every))
    results = evaluate(factory, list(p.data.robot_tasks), "seen", episodes=p.eval.rollouts, workers=1,
                       env_overrides={"image_size": p.data.image_size, "horizon": p.eval.horizon}, policy_name="hold",
                       looks=p.looks.split("seen"))  # fmt: skip
    results["adapter"] = factory.describe()
    write_json_atomic(path, results)
    common.log(f"hold the current pose: SR {results['mean_sr']:.2f} over {len(results['rollouts'])} rollouts")
    return path


def fit_tokenizers(loaded, data: Path, tokenizers: Path, rvq: list[str], dynamics: list[str]) -> dict:
    """The residual-VQ and visual-dynamics tokenizers every token arm uses (fitted once, kept for resume)."""
    import numpy as np

    from dexego.demo.pipeline import arm_template, stage_config
    from dexego.tokenizers.dynamics import DynamicsConfig, DynamicsTokenizer, dataset_frame_pairs
    from dexego.tokenizers.fit import fit_tokenizer, round_trip_report
    from dexego.utils.files import write_json_atomic

    report_path = tokenizers / "report.json"
    if report_path.is_file():
        return json.loads(report_path.read_text())
    p = loaded.profile
    sources = [data / "robot" / t for t in p.data.robot_tasks]
    config = stage_config(arm_template(loaded.finetune, ["model.head=regression"]), sources, tokenizers / "unused", "")
    t0 = time.perf_counter()
    chunks, valid = training_chunks(config)
    tokenizer = fit_tokenizer("rvq", chunks, overrides=rvq)
    tokenizer.save(tokenizers / "rvq")
    trip = round_trip_report(tokenizer, chunks)
    common.log(f"rvq tokenizer: {len(chunks)} training chunks; {trip.summary()}")
    rvq_seconds = time.perf_counter() - t0

    t0 = time.perf_counter()
    from dexego.config import load_config

    dyn = load_config(DynamicsConfig, {}, dynamics, origin="--dynamics", prefix="")
    pairs = [dataset_frame_pairs(s, 1.0, dyn.image_size, None, dyn.seed) for s in sources]
    now, future = np.concatenate([a for a, _ in pairs]), np.concatenate([b for _, b in pairs])
    model = DynamicsTokenizer.fit(now, future, dyn)
    model.save(tokenizers / "dynamics")
    from dexego.tokenizers.dynamics import prepare_frames

    codes = model.encode(now, future)
    truth, present = prepare_frames(future, dyn.image_size).numpy(), prepare_frames(now, dyn.image_size).numpy()
    report = {
        "rvq": {"settings": rvq, "training_chunks": len(chunks), "rmse_normalised": trip.rmse,
                "tokens_per_chunk": trip.mean_tokens, "seconds": round(rvq_seconds, 1)},
        "dynamics": {"settings": dynamics, "frame_pairs": len(now),
                     "future_mse_with_codes": float(np.mean((model.predict(now, codes) - truth) ** 2)),
                     "future_mse_copying_present": float(np.mean((present - truth) ** 2)),
                     "codes_used": int(len(np.unique(codes))), "codebook": dyn.codebook_size,
                     "seconds": round(time.perf_counter() - t0, 1)},
    }  # fmt: skip
    common.log(f"dynamics tokenizer: {report['dynamics']}")
    write_json_atomic(report_path, report)
    return report


def training_chunks(config):
    """The training episodes' target chunks (relative frame), normalised as the policy normalises its targets."""
    import numpy as np

    from dexego.actions import get_space
    from dexego.data import Dataset, SampleConfig, SampleSource, split_episodes
    from dexego.data.samples import build_samples
    from dexego.data.targets import chunk_targets, target_stats
    from dexego.models import Policy
    from dexego.train.build import check_data_sources, policy_config, sample_config

    model = policy_config(config)
    samples = SampleConfig(**{**sample_config(config).__dict__, "image_size": (16, 16)})  # chunks only
    sources = []
    for entry in check_data_sources(config):  # the trainer's split of each dataset
        train, _ = split_episodes(
            Dataset(entry.path).num_episodes, config.data.val_fraction, config.data.split_seed, entry.label
        )
        sources.append(SampleSource(entry.path, samples, train, entry.label))
    stats = target_stats(sources, model.action_frame)  # what the trainer computes for the policy's target normaliser
    normaliser = Policy(model, stats, target_stats=stats).normalizer()
    space = get_space(model.action_space)
    chunks, valid = [], []
    for source in sources:
        for ep in source.episodes:
            columns = source.dataset.episode_columns(ep)
            anchors = list(source.anchors[ep])
            tasks = [source.dataset.tasks[int(columns["task_index"][a])] for a in anchors]
            built = build_samples(columns, [None] * len(anchors), anchors, source.fps, source.config, source.stored_size,
                                  source._episode_meta(ep), tasks, str(source.path))  # fmt: skip
            c, v = chunk_targets(built, space, model.action_frame)
            chunks.append(c)
            valid.append(v)
    chunks, valid = np.concatenate(chunks), np.concatenate(valid)
    normalised = normaliser.normalize(chunks).astype(np.float32)
    return np.where(np.repeat(valid, space.hand_dim, axis=-1), normalised, 0.0).astype(np.float32), valid


def pooled_rollouts(work: Path, seeds: list[int]) -> tuple[list[str], dict]:
    """Per arm (expert included): the rollouts of every finished seed, each tagged with its training seed."""
    rollouts: dict[str, list[dict]] = {}
    arms = []
    for seed in seeds:
        summary = json.loads((work / f"seed{seed}" / "summary.json").read_text())
        for name in [a["name"] for a in summary["arms"]]:
            if name not in arms:
                arms.append(name)
            records = json.loads((work / f"seed{seed}" / "results" / "eval" / f"{name}.json").read_text())["rollouts"]
            rollouts.setdefault(name, []).extend({**r, "train_seed": seed} for r in records)
    # The references do not train: their rollouts are the same for every seed, counted once.
    expert = work / f"seed{seeds[0]}" / "results" / "eval" / "expert.json"
    rollouts["expert"] = json.loads(expert.read_text())["rollouts"]
    arms.append("expert")
    if (work / "hold_seen.json").is_file():
        rollouts["hold"] = json.loads((work / "hold_seen.json").read_text())["rollouts"]
        arms.append("hold")
    return arms, rollouts


def write_results(
    out: Path, work: Path, seeds: list[int], args, seconds: dict, tokenizers, wall: float, code: str
) -> None:
    import numpy as np

    from dexego.evaluate.stats import paired_rollouts, pooled

    arms, rollouts = pooled_rollouts(work, seeds)
    summaries = {s: json.loads((work / f"seed{s}" / "summary.json").read_text()) for s in seeds}
    tasks = sorted({r["task"] for a in arms for r in rollouts[a]})
    table = {a: {"all": pooled(r["success"] for r in rollouts[a]).as_dict(),
                 **{t: pooled(r["success"] for r in rollouts[a] if r["task"] == t).as_dict() for t in tasks}}
             for a in arms}  # fmt: skip
    psr = {a: float(np.mean([r["subtasks_done"] / r["subtasks_total"] for r in rollouts[a]])) for a in arms}
    paired = [{"arm": a, **paired_rollouts(rollouts[REFERENCE], rollouts[a]).as_dict()}
              for a in arms if a not in (REFERENCE, *REFERENCE_ROWS)]  # fmt: skip
    motion, training = {}, {}
    for summary in summaries.values():
        for arm in summary["arms"]:
            motion.setdefault(arm["name"], []).append(arm["motion"])
            stage = next(t for t in summary["timings"] if t["stage"] == f"finetune:{arm['name']}")
            training.setdefault(arm["name"], []).append(stage["seconds"])
        motion.setdefault("hold", []).append(summary["reference"]["hold"])
    open_loop = {
        a: {k: [m[k] for m in ms] for k in ("wrist_cm", "rotation_deg", "fingertip_cm")} for a, ms in motion.items()
    }
    cpu_minutes = (
        sum(u.ru_utime + u.ru_stime for u in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)))
        / 60
    )
    first = summaries[seeds[0]]
    result = {
        "experiment": "closed-loop success rate per action head, robot-only training, 3 training seeds",
        "command": common.command_line(), "commit": code, "seeds": seeds, "tasks": tasks,
        "overrides": args.overrides, "rollouts_per_task_and_seed": first["rollouts_per_task_and_split"],
        "episodes_per_task": first["episodes"]["robot_per_task"], "pooled": table, "mean_psr": psr,
        "paired_vs_" + REFERENCE: paired, "open_loop_heldout_robot": open_loop, "training_seconds": training,
        "tokenizers": tokenizers, "protocol_check": first["protocol"].get("disjoint"),
        "seconds_per_seed_this_run": seconds, "wall_seconds_this_run": round(wall, 1),
        "cpu_minutes_this_run": round(cpu_minutes, 1), "machine": common.machine(),
    }  # fmt: skip
    common.write_json(out / "closed_loop.json", result)
    n_roll = first["rollouts_per_task_and_split"]
    lines = ["# Action heads in closed loop", "",
             f"Robot-only training from scratch on {', '.join(tasks)} ({first['episodes']['robot_per_task']} robot "
             f"demonstrations per task, robot looks), every head with the same tiny backbone and budget "
             f"({first['description']}); training seeds {', '.join(map(str, seeds))}; {n_roll} rollouts per task and "
             f"seed on the robot looks (split seen), the same rollouts for every arm. Success pooled over tasks and seeds "
             f"as k/n = rate [95 % Wilson interval]; PSR = mean subtask progress. Open-loop errors: mean over the 1 s "
             f"chunk on held-out robot episodes ({tasks[0] if tasks else ''}), mean over seeds (min-max). The scripted expert "
             "and holding the current pose (in closed loop: every chunk repeats the current hands) do not train: "
             "their rollouts are the same for every seed and counted once.", "",
             "| head | " + " | ".join(["all tasks", *tasks]) + " | PSR | wrist cm | fingertips cm | train s |",
             "|---|" + "---|" * (len(tasks) + 1) + "---:|---:|---:|---:|"]  # fmt: skip
    labels = {"expert": "scripted expert (same rollouts, once)", "hold": "hold the current pose (same rollouts, once)"}
    for a in arms:
        cells = [_cell(table[a]["all"])] + [_cell(table[a][t]) for t in tasks] + [f"{100 * psr[a]:.0f} %"]
        if a in open_loop:
            cells += [_spread(open_loop[a]["wrist_cm"]), _spread(open_loop[a]["fingertip_cm"])]
        else:
            cells += ["", ""]
        cells.append(f"{np.mean(training[a]):.0f}" if a in training else "")
        lines.append(f"| {labels.get(a, a)} | " + " | ".join(cells) + " |")
    lines += ["", f"| head vs {REFERENCE} | paired rollouts | only {REFERENCE} | only the head | exact McNemar p |",
              "|---|---:|---:|---:|---:|"]  # fmt: skip
    for t in paired:
        lines.append(f"| {t['arm']} | {t['pairs']} | {t['a_only']} | {t['b_only']} | {t['p_value']:.3g} |")
    if tokenizers:
        r, d = tokenizers["rvq"], tokenizers["dynamics"]
        lines += ["", f"Tokenizers (fitted once, shared by the seeds): residual VQ on {r['training_chunks']} training "
                  f"chunks, round-trip RMSE {r['rmse_normalised']:.3f} (normalised units), {r['tokens_per_chunk']:.0f} "
                  f"codes per chunk; visual dynamics on {d['frame_pairs']} frame pairs, future-frame MSE "
                  f"{d['future_mse_with_codes']:.4f} with the codes vs {d['future_mse_copying_present']:.4f} copying the "
                  f"present, {d['codes_used']}/{d['codebook']} codes used."]  # fmt: skip
    lines += ["", f"Commit {code}; this invocation ran seeds {sorted(seconds) or 'none'} in "
              f"{wall / 60:.1f} min wall, {cpu_minutes:.1f} CPU-min (`{common.command_line()}`).", ""]  # fmt: skip
    (out / "closed_loop.md").write_text("\n".join(lines))
    print("\n".join(lines))


def _cell(q: dict) -> str:
    return f"{q['k']}/{q['n']} = {100 * q['rate']:.0f} % [{100 * q['low']:.0f}, {100 * q['high']:.0f}]"


def _spread(values: list) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return ""
    return f"{sum(values) / len(values):.2f} ({min(values):.2f}-{max(values):.2f})"


if __name__ == "__main__":
    sys.exit(main())
