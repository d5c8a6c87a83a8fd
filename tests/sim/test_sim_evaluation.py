import json

import numpy as np
import pytest

from dexego.cli import main
from dexego.errors import ConfigError
from dexego.evaluate.results import parse_results
from dexego.sim.demos import MAX_DATA_SEED, SEED_STRIDE
from dexego.sim.evaluation import ExpertFactory, evaluate, protocol, resolve_tasks, write_results
from dexego.sim.scene import ALL_CONFIGS, EVAL_LOOKS, HUMAN_LOOKS, ROBOT_LOOKS
from dexego.sim.tasks import task_names


class HoldStill:
    """A policy that keeps the hands where they are (never succeeds)."""

    uses_images = False

    def reset(self, seed):
        self.calls = 0

    def act(self, observation):
        return np.concatenate([observation["ee_pose"], observation["hand_joint_pos"]], axis=1).ravel()


def test_protocol_counts_looks_and_fixed_seeds():
    seen, human, unseen = (protocol("Stack-Can", split) for split in ("seen", "human", "unseen"))
    assert (len(seen), len(human), len(unseen)) == (27, 26, 27)
    assert {(s.room, s.table) for s in seen} == set(ROBOT_LOOKS)
    assert {(s.room, s.table) for s in human} == set(HUMAN_LOOKS) and len(HUMAN_LOOKS) == 13
    assert {(s.room, s.table) for s in unseen} == set(EVAL_LOOKS) and len(EVAL_LOOKS) == 9
    assert all(room == 5 or table == 5 for room, table in EVAL_LOOKS)  # room 5 and table 5 appear only here
    assert set(ROBOT_LOOKS) | set(HUMAN_LOOKS) | set(EVAL_LOOKS) == set(ALL_CONFIGS)
    assert protocol("Stack-Can", "unseen") == unseen
    all_seeds = [
        s.seed for t in task_names() for split in ("seen", "human", "unseen") for s in protocol(t, split, 3000)
    ]
    assert len(set(all_seeds)) == len(all_seeds)
    # every evaluation seed lies above every seed a demonstration can use (data seed <= 999, attempt < 1e6)
    assert min(all_seeds) >= (MAX_DATA_SEED + 1) * SEED_STRIDE
    with pytest.raises(ConfigError, match="split"):
        protocol("Stack-Can", "both")
    with pytest.raises(ConfigError, match="episodes"):
        protocol("Stack-Can", "seen", 3001)
    assert {(s.room, s.table) for s in protocol("Stack-Can", "human", 4, looks=((2, 2),))} == {(2, 2)}


def test_resolve_tasks():
    assert resolve_tasks("all") == task_names()
    assert resolve_tasks("stack-can, push_box") == ["Stack-Can", "Push-Box"]
    with pytest.raises(ConfigError, match="unknown task"):
        resolve_tasks("Stack-Can,Nope")


def test_a_python_policy_object_is_evaluated_and_scored(tmp_path):
    results = evaluate(lambda task: HoldStill(), "Open-Laptop", "seen", episodes=2, env_overrides={"horizon": 20})
    s = results["summary"]["Open-Laptop"]
    assert s["sr"] == 0.0 and s["psr"] == 0.0 and s["rollouts"] == 2
    out, md = write_results(results, tmp_path / "r.json")
    parsed = parse_results(json.loads(out.read_text()))
    assert parsed.scores["seen"]["Open-Laptop"].sr == 0.0
    assert "| Open-Laptop | 0.000 | 0.000 | 2 |" in md.read_text()


def test_rollout_videos_hold_every_observed_frame(tmp_path):
    from dexego.data.video import probe_video, read_frames_naive
    from dexego.utils.files import TMP_MARK

    results = evaluate(lambda task: HoldStill(), "Open-Laptop", "seen", episodes=1, video_dir=tmp_path,
                       env_overrides={"horizon": 5, "image_size": 64})  # fmt: skip
    row = results["rollouts"][0]
    probe = probe_video(row["video"], 30, "video")
    assert (probe.frames, probe.width, probe.height) == (row["steps"] + 1, 64, 64)  # the reset frame and one per step
    assert read_frames_naive(row["video"], [0, row["steps"]], 30).shape == (2, 64, 64, 3)
    assert [p.name for p in tmp_path.iterdir() if TMP_MARK in p.name] == []


def test_expert_evaluation_is_reproducible():
    a = evaluate(ExpertFactory(), "Close-Drawer", "unseen", episodes=2)
    b = evaluate(ExpertFactory(), "Close-Drawer", "unseen", episodes=2)
    assert a["rollouts"] == b["rollouts"]
    assert a["summary"]["Close-Drawer"]["sr"] == 1.0 and a["summary"]["Close-Drawer"]["psr"] == 1.0


def test_cli_list_and_errors(capsys, tmp_path):
    assert main(["sim", "list"]) == 0
    out = capsys.readouterr().out
    assert "Stack-Can" in out and "Put can on the saucer" in out
    assert main(["sim", "eval", "--tasks", "Nope", "--out", str(tmp_path / "r.json")]) == 2
    assert "unknown task" in capsys.readouterr().err
    assert main(["sim", "eval", "--tasks", "Stack-Can", "--split", "both", "--out", str(tmp_path / "r.json")]) == 2
    assert not (tmp_path / "r.json").exists()


def test_cli_eval_writes_json_and_markdown(tmp_path):
    out = tmp_path / "res.json"
    assert (
        main(
            [
                "sim",
                "eval",
                "--policy",
                "expert",
                "--tasks",
                "Open-Laptop",
                "--split",
                "seen",
                "--episodes",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    data = json.loads(out.read_text())
    assert data["summary"]["Open-Laptop"]["rollouts"] == 1 and (tmp_path / "res.md").is_file()
