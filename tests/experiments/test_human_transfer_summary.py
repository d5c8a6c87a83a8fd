"""experiments/human_transfer/run.py --summarise-only: pooled counts, the expert counted once, paired and
leave-one-task-out tests, per-task and per-seed tables, from hand-written seed folders with known outcomes."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "experiments" / "human_transfer" / "run.py"
TASKS = ("Close-Drawer", "Push-Box")


def _rollouts(outcome) -> list[dict]:
    """Two tasks x one split x 3 rollout seeds; outcome(task, i) says which succeed."""
    return [
        {"task": t, "split": "unseen", "room": 5, "table": 1 + i, "seed": 1000 + i, "success": bool(outcome(t, i))}
        for t in TASKS
        for i in range(3)
    ]


def _seed_folder(work: Path, seed: int, pretrained_wins: bool) -> None:
    folder = work / f"seed{seed}"
    (folder / "results" / "eval").mkdir(parents=True)
    arms = {
        # the pretrained arm wins every Close-Drawer rollout; the robot-only arm one Push-Box rollout (seed 1 only)
        "human_pretrained": _rollouts(lambda t, i: t == "Close-Drawer" and pretrained_wins),
        "no_pretraining": _rollouts(lambda t, i: t == "Push-Box" and i == 0 and seed == 1),
    }
    for name, records in arms.items():
        (folder / "results" / "eval" / f"{name}.json").write_text(json.dumps({"rollouts": records}))
    (folder / "results" / "eval" / "expert.json").write_text(json.dumps({"rollouts": _rollouts(lambda t, i: i < 2)}))
    protocol = {"look_split": {"robot (split seen)": [[1, 1]], "evaluation only (split unseen)": [[5, 1]]}}
    (folder / "results" / "protocol.json").write_text(json.dumps({**protocol, "training_episodes": 12}))
    summary = {
        "arms": [
            {"name": n, "eval": {"unseen": {}}, "motion": {"wrist_cm": 1.0 + k, "fingertip_cm": 2.0}}
            for k, n in enumerate(arms)
        ],
        "reference": {"hold": {"wrist_cm": 3.0, "fingertip_cm": 3.5}},
        "timings": [{"stage": "pretrain", "seconds": 60.0}, {"stage": "report", "seconds": 30.0}],
    }
    (folder / "summary.json").write_text(json.dumps(summary))


def test_summary_pools_seeds_counts_the_expert_once_and_tests_each_task_left_out(tmp_path):
    work = tmp_path / "work"
    for seed in (0, 1):
        _seed_folder(work / "default", seed, pretrained_wins=True)
    out = tmp_path / "out"
    cmd = [sys.executable, str(SCRIPT), "--seeds", "0", "1", "--summarise-only", "--work", str(work), "--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    result = json.loads((out / "results.json").read_text())

    assert (
        result["pooled"]["human_pretrained"]["unseen"]["k"] == 6
        and result["pooled"]["human_pretrained"]["unseen"]["n"] == 12
    )
    assert result["pooled"]["no_pretraining"]["unseen"]["k"] == 1
    assert (result["expert"]["unseen"]["k"], result["expert"]["unseen"]["n"]) == (4, 6)  # not 8/12: once per rollout
    (paired,) = result["paired_vs_human_pretrained"]
    assert (paired["pairs"], paired["a_only"], paired["b_only"]) == (12, 6, 1)
    loo = {t["left_out"]: t for t in result["paired_human_pretrained_vs_no_pretraining_leaving_one_task_out"]}
    assert (loo["Close-Drawer"]["a_only"], loo["Close-Drawer"]["b_only"], loo["Close-Drawer"]["p_value"]) == (0, 1, 1.0)
    assert (loo["Push-Box"]["a_only"], loo["Push-Box"]["b_only"]) == (6, 0)
    assert abs(loo["Push-Box"]["p_value"] - 2 / 64) < 1e-12  # exact McNemar, 6 vs 0 discordant
    by_task = result["pooled_by_task"]["human_pretrained"]["unseen"]
    assert (by_task["Close-Drawer"]["k"], by_task["Push-Box"]["k"]) == (6, 0)
    assert set(result["pooled_by_seed"]["no_pretraining"]["unseen"]) == {"0", "1"}
    assert [result["pooled_by_seed"]["no_pretraining"]["unseen"][s]["k"] for s in ("0", "1")] == [0, 1]
    motion = result["heldout_motion_error_mean_over_seeds"]
    assert motion["no_pretraining"]["wrist_cm"] == 2.0 and motion["hold still (baseline)"]["seeds"] == 2
    assert result["stage_seconds_per_seed"] == {"0": 90.0, "1": 90.0}
    text = (out / "results.md").read_text()
    assert "| human_pretrained | 6/12 = 50 % [25, 75] |" in text
    assert "| scripted expert (reference) | 4/6 = 67 % [30, 90] |" in text
    assert "| Push-Box | never-seen looks | 6 | 6 | 0 | 0.0312 |" in text


def test_summary_without_a_finished_seed_says_so(tmp_path):
    cmd = [
        sys.executable,
        str(SCRIPT),
        "--seeds",
        "0",
        "--summarise-only",
        "--work",
        str(tmp_path),
        "--out",
        str(tmp_path / "out"),
    ]
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 1 and "no finished seed" in run.stderr + run.stdout
    assert not (tmp_path / "out").exists()


def test_an_unfinished_seed_adds_only_its_evaluated_arms_when_asked(tmp_path):
    work = tmp_path / "work"
    _seed_folder(work / "default", 0, pretrained_wins=True)
    _seed_folder(work / "default", 1, pretrained_wins=True)
    (work / "default" / "seed1" / "summary.json").unlink()  # seed 1 still running: no expert or motion stage yet
    (work / "default" / "seed1" / "results" / "eval" / "no_pretraining.json").unlink()  # nor this arm's rollouts
    (work / "default" / "seed1" / "stages").mkdir()  # one reference stage done: motion of the pretrained arm
    (work / "default" / "seed1" / "stages" / "motion__human_pretrained.json").write_text(
        json.dumps(
            {"name": "motion:human_pretrained", "seconds": 1.0, "result": {"wrist_cm": 3.0, "fingertip_cm": 2.0}}
        )
    )
    out = tmp_path / "out"
    cmd = [sys.executable, str(SCRIPT), "--seeds", "0", "1", "--summarise-only", "--work", str(work), "--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    assert json.loads((out / "results.json").read_text())["seeds"] == [0]  # by default only finished seeds
    subprocess.run([*cmd, "--include-unfinished"], check=True, capture_output=True, text=True, cwd=ROOT)
    result = json.loads((out / "results.json").read_text())
    assert result["seeds"] == [0, 1]
    assert (
        result["pooled"]["human_pretrained"]["unseen"]["n"] == 12
        and result["pooled"]["no_pretraining"]["unseen"]["n"] == 6
    )
    assert result["expert"]["unseen"]["n"] == 6 and result["stage_seconds_per_seed"] == {"0": 90.0, "1": 1.0}
    motion = result["heldout_motion_error_mean_over_seeds"]
    assert motion["human_pretrained"] == {"wrist_cm": 2.0, "fingertip_cm": 2.0, "seeds": 2}  # (1.0 + 3.0) / 2
    assert motion["no_pretraining"]["seeds"] == 1
    missing = result["unfinished_seeds_missing_arms"]["1"]
    assert "no_pretraining" in missing and "human_pretrained" not in missing
    (paired,) = result["paired_vs_human_pretrained"]
    assert paired["pairs"] == 6  # only the rollouts both arms ran
    text = (out / "results.md").read_text()
    assert "**Partial:** seed 1 is unfinished" in text
    assert "| no_pretraining | 0/6 | not evaluated |" in text
