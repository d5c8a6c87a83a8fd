"""experiments/scaling_human_data/run.py: nested, look-balanced amounts (fast) and the --tiny version end to end (slow)."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "experiments" / "scaling_human_data" / "run.py"


def _module():
    spec = importlib.util.spec_from_file_location("scaling_run", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["scaling_run"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_amounts_are_nested_prefixes_that_show_every_look_once_large_enough():
    run = _module()
    looks = [(r, t) for r in range(1, 5) for t in range(1, 5)]  # 16 training looks
    pool = [run.Episode(Path(task), i, task, *looks[i % 16]) for task in ("A", "B", "C") for i in range(40)]
    order = run.balanced_order(pool)
    assert sorted((e.task, e.index) for e in order) == sorted((e.task, e.index) for e in pool)  # a permutation
    for amount in (16, 24, 48, 96):
        prefix = order[:amount]
        assert {(e.room, e.table) for e in prefix} == set(looks)  # looks held fixed across amounts
        per_task = [sum(e.task == t for e in prefix) for t in "ABC"]
        assert max(per_task) - min(per_task) <= 1
    assert not any(run.held_out(*look) for look in looks) and run.held_out(5, 1) and run.held_out(2, 5)
    full, reduced = run.FULL, run.REDUCED
    assert len(full["amounts"]) >= 7 and max(full["amounts"]) / min(full["amounts"]) >= 30 and len(full["seeds"]) >= 3
    assert (
        len(full["finetune_amounts"]) >= 4
        and len(full["finetune_seeds"]) >= 2
        and set(full["finetune_amounts"]) <= set(full["amounts"])
    )
    assert reduced["finetune_amounts"] == [] and len(reduced["amounts"]) == 5
    medium = run.MEDIUM  # the committed results' size: the issue's shape at a CPU budget
    assert len(medium["amounts"]) >= 7 and max(medium["amounts"]) / min(medium["amounts"]) >= 30
    assert len(medium["seeds"]) >= 3 and len(medium["finetune_amounts"]) >= 4 and len(medium["finetune_seeds"]) >= 2
    assert set(medium["finetune_amounts"]) <= set(medium["amounts"])
    looks = [tuple(x) for x in medium["train_looks"]]
    assert not any(run.held_out(*look) for look in looks)
    pool = [run.Episode(Path(t), i, t, *looks[i % len(looks)]) for t in medium["tasks"] for i in range(64)]
    order = run.balanced_order(pool)
    for amount in medium["amounts"]:  # even the smallest amount shows every fixed training look
        assert {(e.room, e.table) for e in order[:amount]} == set(looks)


@pytest.mark.slow  # recording 6 episodes dominates: about 2 minutes on the loaded 2-core machine
def test_tiny_version_runs_end_to_end_and_resumes(tmp_path):
    work, out = tmp_path / "work", tmp_path / "out"
    cmd = [sys.executable, str(SCRIPT), "--tiny", "--work", str(work), "--out", str(out)]
    subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True, text=True)
    result = json.loads((out / "results.json").read_text())
    assert result["version"] == "tiny" and result["commit"] and result["training_seconds"] > 0
    runs = result["runs"]
    assert [(r["amount_episodes"], r["seed"]) for r in runs] == [(1, 0), (2, 0), (3, 0)]
    assert all(r["hours"] > 0 and r["looks"] >= 1 and r["val_human_loss"] > 0 for r in runs)
    assert [r["rollouts"] for r in runs] == [1, None, 1] and all(r["val_robot_loss"] for r in (runs[0], runs[2]))
    assert result["scaling"]["laws"]["log_linear"]["r2"] <= 1 and result["loss_success"]["pretrain_loss"] is None
    # validation looks and episodes: never in training, read back from the datasets' metadata
    from dexego.data import Dataset

    def looks_and_seeds(path, episodes=None):
        data = Dataset(path)
        metas = [data.episode_meta(i)["metadata"] for i in (range(data.num_episodes) if episodes is None else episodes)]
        return {(m["room"], m["table"]) for m in metas}, {m["seed"] for m in metas}

    val_looks, val_seeds = looks_and_seeds(work / "human_val" / "Push-Box", result["validation_episodes"]["Push-Box"])
    train_looks, train_seeds = looks_and_seeds(
        work / "human" / "Push-Box"
    )  # every recorded episode, the largest amount's too
    assert val_looks and all(5 in look for look in val_looks) and not any(5 in look for look in train_looks)
    assert not val_seeds & train_seeds and {tuple(x) for x in result["training_looks"]} <= train_looks
    for name in ("results.md", "scaling_fit.json", "scaling.png"):
        assert (out / name).stat().st_size > 0
    assert "| 3 | 0 |" in (out / "results.md").read_text()
    # the mid-training arm: mid-trained then fine-tuned in the padded robot space, rolled out like the hand-space run
    arm = result["midtrain_arm"]
    assert [(r["amount_episodes"], r["seed"], r["steps"]) for r in arm["runs"]] == [(3, 0, [1, 1])]
    assert arm["recipe_sr"]["n"] == arm["hand_space_sr"]["n"] == 1 and arm["paired_test"]["pairs"] == 1
    assert json.loads((work / "runs" / "finetune_robot" / "episodes_0003_seed0" / "run.json").read_text())[
        "init_from"
    ].endswith("midtrain/episodes_0003_seed0")
    # resumable: a second invocation re-uses every run (no run.json rewritten)
    stamps = {p: p.stat().st_mtime_ns for p in work.rglob("run.json")}
    subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True, text=True)
    assert len(stamps) == 7 and stamps == {p: p.stat().st_mtime_ns for p in work.rglob("run.json")}
