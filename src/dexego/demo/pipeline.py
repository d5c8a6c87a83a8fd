"""The demo: human demonstrations -> human pretraining -> robot fine-tuning -> benchmark evaluation -> report.

Output folder layout::

    OUT/data/human/<task>/           synthetic egocentric human demonstrations (one dataset per task)
    OUT/data/human_shuffled/<task>/  the same videos with hand motion shuffled between episodes (control arms)
    OUT/data/robot/<task>/           robot demonstrations (robot_<pct>/ for arms on a share of them,
                                     robot_vr/ for arms with robot demonstrations on the human looks too)
    OUT/data/robot_heldout/<task>/   robot episodes of other seeds: overlays and motion errors
    OUT/results/protocol.json        the look split and the check that no training episode has an evaluation look or seed
    OUT/results/runs/pretrain/       human pretraining run (dexego train layout); pretrain_shuffled/ for the control
    OUT/results/runs/<arm>/          robot fine-tuning of each compared policy
    OUT/results/eval/<arm>.json      benchmark rollouts, seen and unseen (dexego sim eval format)
    OUT/results/motion/<arm>.json    motion errors on held-out robot episodes (+ overlay PNGs)
    OUT/results/motion/<arm>_overlay.mp4   a held-out episode with the true and predicted chunks per frame
    OUT/results/figures/             comparison plots, dataset frames, rollout frames
    OUT/results/videos/<arm>/        rollout videos (MP4) with each queried predicted chunk drawn on
    OUT/stages/                      one marker per finished stage (resume)
    OUT/summary.json, OUT/report.html
"""

from __future__ import annotations

import copy
import json
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dexego.demo.profile import Arm, LoadedProfile, load_profile
from dexego.demo.stages import StageRunner
from dexego.errors import ConfigError, InputError
from dexego.evaluate.html_page import write_text_atomic
from dexego.utils.progress import ProgressCallback

DATA, RESULTS = "data", "results"
EXPERT, HOLD = (
    "expert",
    "hold",
)  # the reference rows: scripted experts in the simulator, holding still on held-out motion
OVERLAY_VIDEO_STRIDE = 2  # held-out overlay video at 15 fps: half the predictions of every frame, same picture


@dataclass(frozen=True)
class DemoOptions:
    """How ``dexego demo`` runs (not what it computes): worker processes, torch threads, progress output."""

    workers: int = 1  # processes for demonstration recording and rollouts
    threads: int = 1  # torch threads; 1 is fastest on a small shared CPU (more threads fight other processes)
    progress: bool = True


def arm_data_dir(out: Path, arm: Arm) -> Path:
    name = "robot" if arm.robot_fraction >= 1.0 else f"robot_{round(100 * arm.robot_fraction)}"
    return out / DATA / (name + ("_vr" if arm.robot_looks == "robot+human" else ""))


def robot_data_sets(loaded: LoadedProfile) -> list[tuple[float, str]]:
    """The (fraction, robot_looks) robot datasets the arms fine-tune on, the full robot-look set first."""
    wanted = {(a.robot_fraction, a.robot_looks) for a in loaded.profile.arms if a.finetune} | {(1.0, "robot")}
    return sorted(wanted, key=lambda x: (x != (1.0, "robot"), x[1], -x[0]))


def pretrain_variants(loaded: LoadedProfile) -> list[str]:
    """The human pretraining runs the arms need: "human" and/or "shuffled"."""
    return sorted({a.pretraining for a in loaded.profile.arms if a.pretrained}, key=lambda v: v != "human")


def pretrain_dir(out: Path, variant: str) -> Path:
    return out / RESULTS / "runs" / ("pretrain" if variant == "human" else f"pretrain_{variant}")


def robot_looks(loaded: LoadedProfile, which: str) -> tuple:
    looks = loaded.profile.looks
    return looks.robot if which == "robot" else looks.robot + looks.human


def fraction_episodes(episodes: int, fraction: float) -> int:
    return max(2, math.ceil(episodes * fraction))


def stage_names(loaded: LoadedProfile) -> list[str]:
    p = loaded.profile
    names = [f"human_data:{t}" for t in p.data.human_tasks]
    if "shuffled" in pretrain_variants(loaded):
        names.append("human_shuffled")
    for fraction, looks in robot_data_sets(loaded):
        root = arm_data_dir(Path("."), Arm("x", robot_fraction=fraction, robot_looks=looks)).name
        names += [f"{root.replace('robot', 'robot_data')}:{t}" for t in p.data.robot_tasks]
    names += [f"robot_heldout:{t}" for t in p.data.robot_tasks]
    names.append("protocol")
    names += ["pretrain" if v == "human" else f"pretrain_{v}" for v in pretrain_variants(loaded)]
    names += [f"finetune:{a.name}" for a in p.arms if a.finetune]
    names += [f"eval:{a.name}:{s}" for a in p.arms for s in p.eval.splits]
    names += [f"eval:{EXPERT}:{s}" for s in p.eval.splits]
    names += [f"motion:{a.name}" for a in p.arms] + [f"motion:{HOLD}"]
    return names + ["report"]


def run_demo(
    profile: str | Path | LoadedProfile = "quick",
    out: str | Path = "dexego-demo",
    options: DemoOptions = DemoOptions(),
    overrides: list[str] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run every stage not finished yet; returns the summary (also written to OUT/summary.json)."""
    import torch

    loaded = profile if isinstance(profile, LoadedProfile) else load_profile(profile, overrides)
    p = loaded.profile
    out = Path(out)
    results = out / RESULTS
    torch.set_num_threads(max(1, options.threads))
    check_profile(loaded, out)
    runner = StageRunner(out, len(stage_names(loaded)), log)
    log(f"dexego demo, profile {p.name!r} -> {out} ({p.description})")

    def record(task: str, root: Path, episodes: int, embodiment: str, seed: int, looks: tuple) -> dict:
        from dexego.sim.demos import record_demos

        summary = record_demos(task, episodes, root / task, workers=options.workers, seed=seed,
                               image_size=p.data.image_size, embodiment=embodiment, looks=looks,
                               progress=ProgressCallback(f"  {task}", "episodes") if options.progress else None)  # fmt: skip
        if summary["written"] + summary["skipped_existing"] < episodes:
            log(
                f"  warning: only {summary['written'] + summary['skipped_existing']} of {episodes} {task} episodes "
                f"(expert yield {summary['yield']:.2f})"
            )
        return summary

    looks = p.looks
    for task in p.data.human_tasks:
        runner.run(
            f"human_data:{task}",
            lambda t=task: record(t, out / DATA / "human", p.data.human_episodes, "human", p.data.seed, looks.human),
        )
    if "shuffled" in pretrain_variants(loaded):
        from dexego.demo.controls import shuffle_hand_motion

        runner.run("human_shuffled", lambda: shuffle_hand_motion([out / DATA / "human" / t for t in p.data.human_tasks],
                                                                 out / DATA / "human_shuffled", seed=p.data.seed))  # fmt: skip
    for fraction, which in robot_data_sets(loaded):
        root = arm_data_dir(out, Arm("x", robot_fraction=fraction, robot_looks=which))
        for task in p.data.robot_tasks:  # same seeds: a share holds the first episodes of the full set
            n = p.data.robot_episodes if fraction >= 1.0 else fraction_episodes(p.data.robot_episodes, fraction)
            runner.run(
                f"{root.name.replace('robot', 'robot_data')}:{task}",
                lambda t=task, r=root, n=n, w=which: record(t, r, n, "robot", p.data.seed, robot_looks(loaded, w)),
            )
    heldout_seed = p.data.seed + 1
    for task in p.data.robot_tasks:
        runner.run(f"robot_heldout:{task}", lambda t=task: record(t, out / DATA / "robot_heldout", p.data.heldout_robot_episodes,
                                                                 "robot", heldout_seed, looks.robot))  # fmt: skip
    runner.run("protocol", lambda: check_protocol(loaded, out))

    for variant in pretrain_variants(loaded):
        human_root = out / DATA / ("human" if variant == "human" else f"human_{variant}")
        sources = [human_root / t for t in p.data.human_tasks]
        runner.run(
            "pretrain" if variant == "human" else f"pretrain_{variant}",
            lambda s=sources, v=variant: train_stage(loaded.pretrain, s, pretrain_dir(out, v), "", p.train_seed),
        )
    for arm in p.arms:
        if not arm.finetune:
            continue
        sources = [arm_data_dir(out, arm) / t for t in p.data.robot_tasks]
        init = str(pretrain_dir(out, arm.pretraining)) if arm.pretrained else ""
        runner.run(
            f"finetune:{arm.name}",
            lambda a=arm, s=sources, i=init: train_stage(
                loaded.finetune, s, results / "runs" / a.name, i, p.train_seed, a.finetune_steps, a.finetune_overrides
            ),
        )
    for arm in p.arms:
        for split in p.eval.splits:
            runner.run(f"eval:{arm.name}:{split}", lambda a=arm, s=split: evaluate_arm(loaded, out, a, s, options))
        merge_eval(out, arm, p.eval.splits)
    run_reference_stages(loaded, out, runner, options)

    from dexego.demo.report import write_demo_report

    summary = build_summary(loaded, out, runner)
    runner.run("report", lambda: {"report": str(write_demo_report(loaded, out, summary))})
    summary["timings"] = runner.timings()
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2))
    from dexego.demo.report import summary_text

    log(summary_text(summary))
    return summary


def check_profile(loaded: LoadedProfile, out: Path) -> None:
    """Task names and both stage configs (model included), before anything is recorded or trained."""
    from dexego.sim.human_tasks import get_any_task
    from dexego.sim.tasks import get_task
    from dexego.train.build import policy_config

    for task in loaded.profile.data.human_tasks:
        get_any_task(task)
    for task in loaded.profile.data.robot_tasks:
        get_task(task)
    for template in (loaded.pretrain, loaded.finetune):
        policy_config(stage_config(template, [out], out, ""))
    for arm in loaded.profile.arms:
        if arm.finetune_overrides:
            try:
                policy_config(stage_config(arm_template(loaded.finetune, arm.finetune_overrides), [out], out, ""))
            except (ConfigError, InputError, ValueError) as exc:
                raise ConfigError(
                    f"arm {arm.name!r}: finetune_overrides {list(arm.finetune_overrides)}: {exc}"
                ) from None
    check_same_profile(loaded, out)


PROFILE_RECORD = "profile.json"


def check_same_profile(loaded: LoadedProfile, out: Path) -> None:
    """Resume only the run of the same profile: finished stages of another profile would be silently reused.

    The first run writes the resolved profile (with its ``--set`` overrides and both stage configs) to
    ``OUT/profile.json``; a later run into OUT must resolve to the same one.
    """
    from dexego.config import to_dict

    record = {"demo": to_dict(loaded.profile), "pretrain": loaded.pretrain, "finetune": loaded.finetune}
    record = json.loads(json.dumps(record, default=str))  # the form it takes on disk (tuples -> lists)
    for arm in record["demo"].get("arms", []):  # recorded only when set: runs from before the field resume
        if not arm.get("finetune_overrides"):
            arm.pop("finetune_overrides", None)
    path = out / PROFILE_RECORD
    if path.is_file():
        try:
            before = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise InputError(path, None, f"unreadable ({exc}); delete it or use another --out") from None
        if before != record:
            differ = sorted(_differences(before, record))
            names = f"profile {before.get('demo', {}).get('name')!r}, not {loaded.profile.name!r}"
            raise ConfigError(f"{out} holds a demo run of another profile ({names}; differs in: {', '.join(differ[:8])}"
                              f"{', ...' if len(differ) > 8 else ''}); use another --out, or delete {out} to start over")  # fmt: skip
        return
    if out.is_dir() and any(out.iterdir()):
        return  # a run from before profiles were recorded: nothing to compare with
    write_text_atomic(path, json.dumps(record, indent=2, sort_keys=True))


def _differences(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in _differences(a.get(k), b.get(k), f"{prefix}{k}.")]
    return [] if a == b else [prefix.rstrip(".")]


# ----------------------------------------------------------------------------------------------- training
def stage_config(template: dict, sources: list[Path], output_dir: Path, init_from: str):
    """A ``dexego train`` stage config from a profile's template, with the demo's datasets and folders."""
    from dexego.train import load_stage_config

    data = copy.deepcopy(template)
    data.setdefault("data", {})["sources"] = [{"path": str(s)} for s in sources]
    data["output_dir"] = str(output_dir)
    data["init_from"] = init_from
    return load_stage_config(data)


def arm_template(template: dict, overrides: tuple[str, ...] | list[str] = ()) -> dict:
    """A copy of a stage template with an arm's ``key=value`` overrides applied."""
    from dexego.config import apply_overrides

    return apply_overrides(copy.deepcopy(template), list(overrides))


def train_stage(
    template: dict,
    sources: list[Path],
    output_dir: Path,
    init_from: str,
    seed: int = 0,
    max_steps: int = 0,
    overrides: tuple[str, ...] | list[str] = (),
) -> dict:
    """One training stage; ``seed`` replaces the template's, ``max_steps`` (when > 0) its step budget, ``overrides``
    (``key=value``) are applied to the template first."""
    from dexego.train.build import run_stage

    template = arm_template(template, overrides)
    template["seed"] = seed
    if max_steps:
        template.setdefault("loop", {})["max_steps"] = max_steps
    result = run_stage(stage_config(template, sources, output_dir, init_from))
    return {
        "steps": result.steps,
        "train_loss": result.last_train_loss,
        "val_losses": result.val_losses,
        "samples_per_s": round(result.samples_per_second, 2),
        "final": str(result.final_dir) if result.final_dir else None,
    }


def policy_dir(out: Path, arm: Arm) -> Path:
    run = out / RESULTS / "runs" / arm.name if arm.finetune else pretrain_dir(out, arm.pretraining)
    return run / "final"


def training_datasets(loaded: LoadedProfile, out: Path) -> list[Path]:
    """Every dataset a run trains or validates on (the held-out robot episodes included)."""
    p = loaded.profile
    roots = [out / DATA / "human"] + [
        arm_data_dir(out, Arm("x", robot_fraction=f, robot_looks=w)) for f, w in robot_data_sets(loaded)
    ]
    paths = [out / DATA / "human" / t for t in p.data.human_tasks]
    paths += [root / t for root in roots[1:] for t in p.data.robot_tasks]
    return paths + [out / DATA / "robot_heldout" / t for t in p.data.robot_tasks]


def check_protocol(loaded: LoadedProfile, out: Path) -> dict:
    """The look split and the proof, from the recorded metadata, that no training episode has an evaluation look or seed."""
    from dexego.demo.protocol import check_disjoint, look_split

    report = {
        "look_split": look_split(loaded.profile),
        **check_disjoint(training_datasets(loaded, out), loaded.profile),
    }
    write_text_atomic(out / RESULTS / "protocol.json", json.dumps(report, indent=2))
    return {k: report[k] for k in ("training_episodes", "evaluation_rollouts", "disjoint")}


# --------------------------------------------------------------------------------------------- evaluation
def evaluate_arm(loaded: LoadedProfile, out: Path, arm: Arm, split: str, options: DemoOptions) -> dict:
    from dexego.evaluate.sim_policy import CheckpointPolicyFactory, SimPolicyConfig
    from dexego.sim.evaluation import evaluate

    p = loaded.profile
    video_dir = out / RESULTS / "videos" / arm.name if p.eval.videos and split == p.eval.splits[0] else None
    config = SimPolicyConfig(
        query_every=p.eval.query_every, overlay=video_dir is not None
    )  # predicted paths in the videos
    factory = CheckpointPolicyFactory(str(policy_dir(out, arm)), config)
    results = evaluate(factory, list(p.data.robot_tasks), split, episodes=p.eval.rollouts, workers=options.workers,
                       video_dir=video_dir, env_overrides={"image_size": p.data.image_size, "horizon": p.eval.horizon},
                       progress=ProgressCallback(f"  {arm.name} {split}", "rollouts") if options.progress else None, policy_name=arm.name,
                       looks=p.looks.split(split))  # fmt: skip
    if video_dir is not None:  # keep the first few
        videos = sorted(video_dir.glob(f"*_{split}_*.mp4"), key=lambda v: int(v.stem.rsplit("_", 1)[-1]))
        for extra in videos[p.eval.videos :]:
            extra.unlink()
    results["adapter"] = factory.describe()
    path = out / RESULTS / "eval" / "splits" / f"{arm.name}_{split}.json"
    write_text_atomic(path, json.dumps(results, indent=2))
    return {
        "sr": results["mean_sr"],
        "psr": results["mean_psr"],
        "rollouts": len(results["rollouts"]),
        "results": str(path),
    }


def run_reference_stages(
    loaded: LoadedProfile, out: Path, runner: StageRunner, options: DemoOptions, expert: bool = True
) -> None:
    """The reference stages: the scripted experts on the arms' tasks, looks and seeds (unless ``expert`` is false),
    the held-out motion error of every arm, and of holding still (the baseline every policy has to beat)."""
    p = loaded.profile
    if expert:
        for split in p.eval.splits:
            runner.run(f"eval:{EXPERT}:{split}", lambda s=split: evaluate_expert(loaded, out, s, options))
        merge_eval(out, Arm(EXPERT), p.eval.splits)
    for arm in p.arms:
        runner.run(f"motion:{arm.name}", lambda a=arm: motion_arm(loaded, out, a))
    runner.run(f"motion:{HOLD}", lambda: motion_hold(loaded, out))


def evaluate_expert(loaded: LoadedProfile, out: Path, split: str, options: DemoOptions) -> dict:
    """The scripted experts under the arms' protocol (tasks, split, rollouts, seeds, horizon): the reference row."""
    from dexego.sim.evaluation import ExpertFactory, evaluate

    p = loaded.profile
    results = evaluate(ExpertFactory(), list(p.data.robot_tasks), split, episodes=p.eval.rollouts, workers=options.workers,
                       env_overrides={"image_size": p.data.image_size, "horizon": p.eval.horizon},
                       progress=ProgressCallback(f"  {EXPERT} {split}", "rollouts") if options.progress else None, policy_name=EXPERT,
                       looks=p.looks.split(split))  # fmt: skip
    path = out / RESULTS / "eval" / "splits" / f"{EXPERT}_{split}.json"
    write_text_atomic(path, json.dumps(results, indent=2))
    return {
        "sr": results["mean_sr"],
        "psr": results["mean_psr"],
        "rollouts": len(results["rollouts"]),
        "results": str(path),
    }


def merge_eval(out: Path, arm: Arm, splits: tuple[str, ...]) -> Path:
    """One results file per policy with the rollouts of every split (what dexego.evaluate tabulates)."""
    parts = [json.loads((out / RESULTS / "eval" / "splits" / f"{arm.name}_{s}.json").read_text()) for s in splits]
    merged = {"policy": arm.name, "rollouts": [r for part in parts for r in part["rollouts"]],
              "splits": {s: {"mean_sr": part["mean_sr"], "mean_psr": part["mean_psr"]} for s, part in zip(splits, parts)},
              "adapter": parts[0].get("adapter")}  # fmt: skip
    path = out / RESULTS / "eval" / f"{arm.name}.json"
    write_text_atomic(path, json.dumps(merged, indent=2))
    return path


def motion_arm(loaded: LoadedProfile, out: Path, arm: Arm) -> dict:
    """Motion errors on held-out robot episodes (first robot task) and overlays of predicted vs true chunks."""
    from dexego.evaluate.dataset_motion import run_motion_eval

    p = loaded.profile
    data = out / DATA / "robot_heldout" / p.data.robot_tasks[0]
    overlay_dir = out / RESULTS / "motion" / f"{arm.name}_overlays"
    if overlay_dir.exists():
        shutil.rmtree(overlay_dir)
    result = run_motion_eval(policy_dir(out, arm), data, max_samples=p.eval.motion_samples, overlays=p.eval.overlays,
                             overlay_dir=overlay_dir, overlay_video=motion_video(out, arm.name),
                             video_stride=OVERLAY_VIDEO_STRIDE)  # fmt: skip
    path = out / RESULTS / "motion" / f"{arm.name}.json"
    write_text_atomic(path, json.dumps(result, indent=2))
    overall = result["overall"]
    return {key: overall.get(key) for key in ("samples", "wrist_cm", "rotation_deg", "fingertip_cm")} | {
        "results": str(path)
    }


def motion_hold(loaded: LoadedProfile, out: Path) -> dict:
    """The hold-still baseline (every future step = the current hands) on the arms' held-out samples."""
    from dexego.evaluate.dataset_motion import run_motion_eval

    p = loaded.profile
    data = out / DATA / "robot_heldout" / p.data.robot_tasks[0]
    result = run_motion_eval("hold", data, max_samples=p.eval.motion_samples)
    path = out / RESULTS / "motion" / f"{HOLD}.json"
    write_text_atomic(path, json.dumps(result, indent=2))
    overall = result["overall"]
    return {key: overall.get(key) for key in ("samples", "wrist_cm", "rotation_deg", "fingertip_cm")} | {
        "results": str(path)
    }


def motion_video(out: Path, arm: str) -> Path:
    """The held-out episode with true and predicted chunks of ``arm`` (what the report embeds)."""
    return out / RESULTS / "motion" / f"{arm}_overlay.mp4"


# ------------------------------------------------------------------------------------------------ summary
def paired_tests(loaded: LoadedProfile, out: Path) -> list[dict]:
    """Exact McNemar tests of the first arm against every other arm, per split, on the rollouts both ran."""
    from dexego.evaluate.stats import paired_rollouts

    p = loaded.profile
    rollouts = {a.name: json.loads((out / RESULTS / "eval" / f"{a.name}.json").read_text())["rollouts"] for a in p.arms}
    first = p.arms[0].name
    tests = []
    for other in p.arms[1:]:
        for split in p.eval.splits:
            a = [r for r in rollouts[first] if r["split"] == split]
            b = [r for r in rollouts[other.name] if r["split"] == split]
            tests.append({"a": first, "b": other.name, "split": split, **paired_rollouts(a, b).as_dict()})
    return tests


def build_summary(loaded: LoadedProfile, out: Path, runner: StageRunner) -> dict:
    from dexego.evaluate.metrics_log import read_metrics
    from dexego.evaluate.provenance import run_metadata
    from dexego.evaluate.stats import pooled

    p = loaded.profile
    arms = []
    for arm in p.arms:
        run = out / RESULTS / "runs" / arm.name
        log = read_metrics(run / "metrics.jsonl") if arm.finetune else None
        evals = {s: json.loads(runner.marker(f"eval:{arm.name}:{s}").read_text())["result"] for s in p.eval.splits}
        motion = json.loads(runner.marker(f"motion:{arm.name}").read_text())["result"]
        rollouts = json.loads((out / RESULTS / "eval" / f"{arm.name}.json").read_text())["rollouts"]
        arms.append({
            "name": arm.name, "pretrained": arm.pretrained, "robot_fraction": arm.robot_fraction,
            "pretraining": arm.pretraining if arm.pretrained else None, "finetune": arm.finetune,
            "robot_looks": arm.robot_looks, "finetune_steps": arm.finetune_steps,
            "finetune_overrides": list(arm.finetune_overrides),
            "eval": {s: {k: e[k] for k in ("sr", "psr", "rollouts")} for s, e in evals.items()},
            "pooled": {s: pooled(r["success"] for r in rollouts if r["split"] == s).as_dict() for s in p.eval.splits},
            "val_robot_loss_last": log.last("val_robot", "loss") if log else None,
            "val_robot_loss_best": log.best("val_robot", "loss") if log else None,
            "motion": {k: motion.get(k) for k in ("samples", "wrist_cm", "rotation_deg", "fingertip_cm")},
        })  # fmt: skip
    expert = {s: json.loads(runner.marker(f"eval:{EXPERT}:{s}").read_text())["result"] for s in p.eval.splits}
    hold = json.loads(runner.marker(f"motion:{HOLD}").read_text())["result"]
    pretrain = None
    if loaded.needs_pretraining:
        log = read_metrics(out / RESULTS / "runs" / "pretrain" / "metrics.jsonl")
        pretrain = {"val_human_loss_last": log.last("val_human", "loss"), "train_loss_last": log.last("train", "loss")}
    return {
        "profile": p.name,
        "description": p.description,
        "out": str(out),
        "tasks": {"human": list(p.data.human_tasks), "robot": list(p.data.robot_tasks)},
        "episodes": {"human_per_task": p.data.human_episodes, "robot_per_task": p.data.robot_episodes},
        "rollouts_per_task_and_split": p.eval.rollouts,
        "pretrain": pretrain,
        "arms": arms,
        "train_seed": p.train_seed,
        "protocol": json.loads((out / RESULTS / "protocol.json").read_text()),
        "paired": paired_tests(loaded, out),
        "reference": {
            EXPERT: {s: {k: e[k] for k in ("sr", "psr", "rollouts")} for s, e in expert.items()},
            HOLD: {k: hold.get(k) for k in ("samples", "wrist_cm", "rotation_deg", "fingertip_cm")},
        },
        "timings": runner.timings(),
        "total_seconds": round(sum(r.seconds for r in runner.records), 1),
        "run": run_metadata(),
    }
