import json
import math

import numpy as np
import pytest

from dexego.cli import main


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from dexego.data import DatasetWriter, WriterConfig
    from dexego.data.synthetic import synthetic_episode

    root = tmp_path_factory.mktemp("data") / "synthetic"
    with DatasetWriter(root, WriterConfig()) as writer:
        writer.add_episode(synthetic_episode(length=45, seed=0))
        writer.add_episode(synthetic_episode(length=40, seed=1, invalid_left_frames=slice(20, 40)))
    return root


def test_motion_hold_baseline_matches_the_samples(dataset, tmp_path):
    from dexego.data import SampleConfig, SampleSource

    out = tmp_path / "eval" / "motion.json"
    assert main(["eval", "motion", "--policy", "hold", "--data", str(dataset), "--out", str(out), "--overlays", "2"]) == 0
    result = json.loads(out.read_text())
    # Independent check: holding the current pose errs by |future wrist - current wrist| over valid hands.
    source = SampleSource(dataset, SampleConfig())
    distances = []
    for episode in source.episodes:
        for s in source.samples(episode, source.anchors[episode]):
            for hand in range(2):
                now = s["state"][24 * hand : 24 * hand + 3]
                future = s["actions"][:, 24 * hand : 24 * hand + 3]
                distances += list(100 * np.linalg.norm(future - now, axis=1)[s["action_valid"][:, hand]])
    assert result["overall"]["hand_steps"] == len(distances)
    assert result["overall"]["wrist_cm"] == pytest.approx(np.mean(distances), rel=1e-4)
    assert result["by_source"]["synthetic"]["samples"] == result["overall"]["samples"]
    assert len(result["overlays"]) == 2 and all(p.endswith(".png") for p in result["overlays"])
    assert sorted(p.name for p in (tmp_path / "eval" / "motion").iterdir()) == sorted(
        p.split("/")[-1] for p in result["overlays"]
    )


def test_motion_with_a_policy_checkpoint(dataset, tmp_path):
    from dexego.models import Policy, PolicyConfig

    Policy(PolicyConfig()).save(tmp_path / "ckpt")
    out = tmp_path / "m.json"
    assert main(["eval", "motion", "--policy", str(tmp_path / "ckpt"), "--data", str(dataset), "--max-samples", "2", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["overall"]["samples"] == 2 and math.isfinite(result["overall"]["wrist_cm"])


def test_motion_bad_paths_fail_cleanly(tmp_path, capsys):
    assert main(["eval", "motion", "--policy", str(tmp_path / "nope"), "--data", str(tmp_path)]) == 2
    assert "nope" in capsys.readouterr().err


def test_table_command_markdown_and_html(tmp_path, capsys):
    for name, success in (("a", True), ("b", False)):
        rollouts = [{"task": "Push-Box", "split": "seen", "success": success, "progress": 1.0 if success else 0.5}]
        (tmp_path / f"{name}.json").write_text(json.dumps({"policy": name, "rollouts": rollouts}))
    files = [str(tmp_path / "a.json"), str(tmp_path / "b.json")]
    assert main(["eval", "table", *files]) == 0
    assert "| Push-Box | 100.0 | 100.0 | 0.0 | 50.0 |" in capsys.readouterr().out
    assert main(["eval", "table", *files, "--out", str(tmp_path / "t.html")]) == 0
    page = (tmp_path / "t.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<td>Push-Box</td><td>100.0</td>" in page
    (tmp_path / "bad.json").write_text("[1, 2]")
    assert main(["eval", "table", str(tmp_path / "bad.json")]) == 2
    assert "bad.json: expected a JSON object" in capsys.readouterr().err


def test_scaling_command_writes_fit_and_plot(tmp_path):
    points = [{"amount": x, "loss": 1.2 - 0.15 * math.log10(x)} for x in (5, 50, 500, 5000)]
    (tmp_path / "points.json").write_text(json.dumps({"unit": "hours", "points": points}))
    out, plot = tmp_path / "fit.json", tmp_path / "fit.png"
    assert main(["eval", "scaling", str(tmp_path / "points.json"), "--predict", "50000", "--out", str(out), "--plot", str(plot)]) == 0
    result = json.loads(out.read_text())
    assert result["fit"]["slope"] == pytest.approx(-0.15) and result["fit"]["r2"] == pytest.approx(1.0)
    assert result["predictions"][0]["loss"] == pytest.approx(1.2 - 0.15 * math.log10(50000))
    assert plot.read_bytes().startswith(b"\x89PNG")
    assert main(["eval", "scaling", str(tmp_path / "points.json"), "--predict", "-1"]) == 2


def test_report_command(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text(json.dumps({"step": 1, "split": "train", "loss": 1.0}) + "\n")
    assert main(["eval", "report", str(run), "--out", str(tmp_path / "r.html"), "--title", "T"]) == 0
    assert "<title>T</title>" in (tmp_path / "r.html").read_text()
    assert main(["eval", "report", str(tmp_path / "missing")]) == 2
