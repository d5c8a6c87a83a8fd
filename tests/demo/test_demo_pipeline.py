"""`dexego demo` end to end on the micro profile, resume, and the real --quick profile (slow)."""

from __future__ import annotations

import json
import re

import pytest
from headless_chromium import chromium_binary, dump_dom, measured, requires_chromium

from dexego.demo import DemoOptions, run_demo, stage_names
from dexego.demo.profile import load_profile

PNG = b"\x89PNG\r\n\x1a\n"


def _check_report(out, arms):
    report = (out / "report.html").read_text()
    # the answer comes first: the findings, the SR table (arms + the expert's reference row), losses and motion errors
    # (arms + the hold-still baseline), the fine-tuning loss comparison; then every other section folded
    answer, _, rest = report.partition("</section>")
    assert answer.index('id="run-metadata"') < answer.index('id="answer"')
    for key in ("commit ", "machine ", "written ", "wall time "):
        assert key in answer.split('id="answer"')[0], key
    sr = answer.split("Success (SR) and progress (PSR) in the simulator", 1)[1].split("</table>", 1)[0]
    assert [r[8:-5] for r in re.findall(r"<tr><td>[^<]*</td>", sr)] == [*arms, "scripted expert (reference)"]
    motion = answer.split("Held-out robot loss and motion errors", 1)[1].split("</table>", 1)[0]
    assert [r[8:-5] for r in re.findall(r"<tr><td>[^<]*</td>", motion)] == [*arms, "hold still (baseline)"]
    assert "fine-tuning loss with and without human pretraining" in answer and "<details" not in answer
    assert rest.count("<details") >= 6 and "<h2>Summary</h2>" not in report
    assert report.count("<h2>Benchmark</h2>") == 0 and report.count("Mean success (SR)") == 0  # no second SR overview
    assert "Human motion prediction" not in report
    rollouts = rest.split("Every rollout", 1)[1].split("</table>", 1)[0]
    assert rollouts.count("<tr><td>") == 3 * len(rollouts_of(out, arms[0]))  # every rollout of 2 arms + the expert
    assert len(re.findall(r'<img alt="[^"]*"[^>]* src="data:image/png;base64,', report)) >= 6
    # per arm: the held-out overlay video (true vs predicted) and a rollout video labelled with its outcome
    assert report.count("data:video/mp4;base64,") == 2 * len(arms)
    assert report.count("true future wrist and fingertip paths (green) and the predicted ones (magenta)") == len(arms)
    assert len(re.findall(r'<video [^>]*data-outcome="(success|failure)"', report)) == len(arms)
    figures = out / "results" / "figures"
    for name in ["finetune_loss_comparison.png", "dataset_frames.png", *(f"rollout_frames_{a}.png" for a in arms)]:
        assert (figures / name).read_bytes().startswith(PNG), name
    for arm in arms:
        assert list((out / "results" / "motion" / f"{arm}_overlays").glob("*.png")), arm
        motion = json.loads((out / "results" / "motion" / f"{arm}.json").read_text())
        video = out / "results" / "motion" / f"{arm}_overlay.mp4"
        assert motion["overlay_video"]["path"] == str(video) and motion["overlay_video"]["frames"] >= 2, arm
        assert _frame_count(video) == motion["overlay_video"]["frames"]
        adapter = json.loads((out / "results" / "eval" / f"{arm}.json").read_text())["adapter"]
        assert adapter["overlay"] is True  # the first split records videos: they show the predicted chunks
    return report


def rollouts_of(out, arm):
    return json.loads((out / "results" / "eval" / f"{arm}.json").read_text())["rollouts"]


def _frame_count(video) -> int:
    import av

    with av.open(str(video)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_micro_demo_runs_end_to_end_and_resumes(tmp_path):
    out = tmp_path / "demo"
    lines: list[str] = []
    summary = run_demo("micro", out, DemoOptions(progress=False), log=lines.append)
    loaded = load_profile("micro")
    arms = [a.name for a in loaded.profile.arms]
    _check_report(out, arms)
    if chromium_binary() is not None:  # the page in a browser window of 1280 px (skipped where none is installed)
        _check_in_chromium(out, tmp_path)

    saved = json.loads((out / "summary.json").read_text())
    assert [a["name"] for a in saved["arms"]] == arms == [a["name"] for a in summary["arms"]]
    for arm in saved["arms"]:
        seen = arm["eval"]["seen"]
        assert seen["rollouts"] == loaded.profile.eval.rollouts * len(loaded.profile.data.robot_tasks)
        assert 0.0 <= seen["sr"] <= seen["psr"] <= 1.0  # success is the last subtask, so SR <= PSR
        assert arm["val_robot_loss_last"] > 0 and arm["motion"]["wrist_cm"] >= 0
    # the merged results file is in the benchmark format, one rollout record per episode
    results = json.loads((out / "results" / "eval" / f"{arms[0]}.json").read_text())
    assert results["policy"] == arms[0] and len(results["rollouts"]) == loaded.profile.eval.rollouts
    # the pretrained arm started from the human run, the other from scratch
    configs = {a: json.loads((out / "results" / "runs" / a / "config.json").read_text()) for a in arms}
    assert (
        configs["human_pretrained"]["init_from"].endswith("runs/pretrain")
        and configs["no_pretraining"]["init_from"] == ""
    )
    assert configs["human_pretrained"]["loop"] == configs["no_pretraining"]["loop"]  # same fine-tuning budget
    names = stage_names(loaded)
    assert sum(line.endswith("s") and "done in" in line for line in lines) == len(names)
    assert [t["stage"] for t in saved["timings"]] == names

    # re-running skips every stage and leaves the datasets and runs as they were
    before = (out / "results" / "runs" / "no_pretraining" / "final" / "model.safetensors").stat().st_mtime_ns
    again: list[str] = []
    run_demo("micro", out, DemoOptions(progress=False), log=again.append)
    assert sum("already done" in line for line in again) == len(names)
    assert (out / "results" / "runs" / "no_pretraining" / "final" / "model.safetensors").stat().st_mtime_ns == before
    _check_report(out, arms)


def _check_in_chromium(out, tmp_path):
    dom = dump_dom(out / "report.html", tmp_path / "chromium-profile")
    loaded, images, width = measured(dom)
    assert loaded == images >= 6 and width <= 1280
    assert 'id="answer"' in dom and 'id="run-metadata"' in dom and 'class="broken"' not in dom


@requires_chromium
def test_demo_report_fits_a_1280_px_window(tmp_path):
    """A report with wide content (long configuration values, many columns) still fits the window."""
    from dexego.demo.report import folded
    from dexego.evaluate.html_page import page
    from dexego.evaluate.tables import Table

    wide = Table(
        "wide", tuple(f"column {i} with a long title" for i in range(30)), (tuple("x" * 40 for _ in range(30)),)
    )
    path = tmp_path / "page.html"
    path.write_text(page("wide", folded("open", wide.to_html(), open_=True) + wide.to_html()))
    _, _, width = measured(dump_dom(path, tmp_path / "profile"))
    assert width <= 1280


@pytest.mark.slow
def test_quick_demo_writes_the_report(tmp_path):
    out = tmp_path / "quick"
    summary = run_demo("quick", out, DemoOptions(progress=False), log=lambda line: None)
    _check_report(out, [a["name"] for a in summary["arms"]])
    assert {s for a in summary["arms"] for s in a["eval"]} == {"seen", "unseen"}
