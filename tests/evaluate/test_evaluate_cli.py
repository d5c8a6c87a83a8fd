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
    assert (
        main(["eval", "motion", "--policy", "hold", "--data", str(dataset), "--out", str(out), "--overlays", "2"]) == 0
    )
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
    assert (
        main(
            [
                "eval",
                "motion",
                "--policy",
                str(tmp_path / "ckpt"),
                "--data",
                str(dataset),
                "--max-samples",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
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
    assert (
        main(
            [
                "eval",
                "scaling",
                str(tmp_path / "points.json"),
                "--predict",
                "50000",
                "--out",
                str(out),
                "--plot",
                str(plot),
            ]
        )
        == 0
    )
    result = json.loads(out.read_text())
    assert result["fit"]["slope"] == pytest.approx(-0.15) and result["fit"]["r2"] == pytest.approx(1.0)
    assert result["predictions"][0]["loss"] == pytest.approx(1.2 - 0.15 * math.log10(50000))
    assert plot.read_bytes().startswith(b"\x89PNG")
    assert main(["eval", "scaling", str(tmp_path / "points.json"), "--predict", "-1"]) == 2


def test_scaling_command_reports_both_laws_and_warns_on_short_or_rising_input(tmp_path, capsys):
    points = [{"amount": x, "loss": 0.5 + 3.0 * x**-0.4 + d} for x in (2, 4, 8, 16, 32) for d in (-0.01, 0.0, 0.01)]
    (tmp_path / "runs.json").write_text(json.dumps({"unit": "minutes", "points": points}))
    out = tmp_path / "fit.json"
    assert main(["eval", "scaling", str(tmp_path / "runs.json"), "--resamples", "50", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert (
        "power_law: loss = c + k * amount^-alpha; R^2 = 0.99" in err
        and "leave-last-out log_linear: fitted below 32 minutes" in err
    )
    analysis = json.loads(out.read_text())["analysis"]
    assert (
        analysis["laws"]["power_law"]["params"]["alpha"] == pytest.approx(0.4, abs=0.05) and analysis["warnings"] == []
    )
    (tmp_path / "two.json").write_text(
        json.dumps({"points": [{"amount": 1, "loss": 1.0}, {"amount": 10, "loss": 2.0}]})
    )
    assert main(["eval", "scaling", str(tmp_path / "two.json")]) == 0
    assert "warning: fewer than 3 different amounts" in capsys.readouterr().err
    rising = [{"amount": x, "loss": v} for x, v in ((1, 1.0), (2, 1.5), (4, 0.8), (8, 0.6))]
    (tmp_path / "rising.json").write_text(json.dumps({"points": rising}))
    assert main(["eval", "scaling", str(tmp_path / "rising.json"), "--resamples", "20"]) == 0
    assert "warning: not monotone: the mean loss rises from 1 at 1 to 1.5 at 2" in capsys.readouterr().err
    assert main(["eval", "scaling", str(tmp_path / "rising.json"), "--resamples", "3"]) == 2


def test_report_command(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text(json.dumps({"step": 1, "split": "train", "loss": 1.0}) + "\n")
    assert main(["eval", "report", str(run), "--out", str(tmp_path / "r.html"), "--title", "T"]) == 0
    assert "<title>T</title>" in (tmp_path / "r.html").read_text()
    assert main(["eval", "report", str(tmp_path / "missing")]) == 2
