import base64
import io
import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest
from evaluate_helpers import hand_chunk
from headless_chromium import dump_dom, measured, requires_chromium
from PIL import Image

from dexego.drawing.overlay import overlay_chunk, save_png
from dexego.errors import InputError
from dexego.evaluate.motion import MotionMetrics, motion_errors
from dexego.evaluate.report import ReportConfig, build_report, write_report
from dexego.evaluate.scaling import ScalingPoint, analyse_scaling, fit_log_linear, scaling_result
from dexego.geometry import Intrinsics

K = Intrinsics(fx=100.0, fy=100.0, cx=32.0, cy=32.0, width=64, height=64)


class PageParser(HTMLParser):
    """Collects <img> sources, <h2> titles, and the body rows of every <table>."""

    def __init__(self):
        super().__init__()
        self.images, self.headings, self.table_rows, self.scripts = [], [], [], []
        self._in_h2 = self._in_tbody = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs)
        elif tag == "h2":
            self._in_h2 = True
        elif tag == "table":
            self.table_rows.append(0)
        elif tag == "tbody":
            self._in_tbody = True
        elif tag == "tr" and self._in_tbody:
            self.table_rows[-1] += 1
        elif tag in ("script", "link", "iframe"):
            self.scripts.append(attrs)

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False
        elif tag == "tbody":
            self._in_tbody = False

    def handle_data(self, data):
        if self._in_h2:
            self.headings.append(data.strip())


@pytest.fixture
def run_dir(tmp_path):
    run = tmp_path / "run"
    (run / "eval" / "overlays").mkdir(parents=True)
    lines = [{"step": s, "split": "train", "loss": 2.0 / (1 + s), "lr": 1e-4} for s in range(0, 100, 10)]
    lines += [{"step": s, "split": "val", "loss": 2.5 / (1 + s)} for s in (50, 99)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    (run / "config.json").write_text(json.dumps({"model": {"head": "regression", "horizon": 30}, "lr": 1e-4}))
    # A training run's weights folders hold JSON and PNG-free bookkeeping the report must not list.
    for folder in ("checkpoints/step-00000010", "final/policy"):
        (run / folder).mkdir(parents=True)
        (run / folder / "config.json").write_text(json.dumps({"format": "dexego-policy", "config": {}}))
        (run / folder / "state.json").write_text(json.dumps({"step": 10, "tasks": 3}))
    metrics = MotionMetrics(horizon=30, steps=(10, 30))
    target = hand_chunk()
    predicted = hand_chunk(wrist=((-0.07, 0.0, 0.5), (0.1, 0.0, 0.5)))
    metrics.add(motion_errors(predicted, target, np.ones((30, 2), bool), K, (64, 64)), source="sim", task="Stack-Can")
    (run / "eval" / "motion.json").write_text(json.dumps(metrics.result()))
    rollouts = [
        {"task": "Stack-Can", "split": "seen", "success": i % 2 == 0, "subtasks_done": i % 3, "subtasks_total": 2}
        for i in range(4)
    ]
    (run / "eval" / "sim_results.json").write_text(json.dumps({"policy": "tiny", "rollouts": rollouts}))
    points = [ScalingPoint(x, 1.0 - 0.1 * np.log10(x), unit="hours") for x in (1, 10, 100)]
    fit = fit_log_linear([p.amount for p in points], [p.loss for p in points], "hours")
    analysis = analyse_scaling(points, resamples=20)
    (run / "eval" / "scaling.json").write_text(json.dumps(scaling_result(points, fit, [1000], analysis)))
    frame = np.full((64, 64, 3), 90, np.uint8)
    save_png(run / "eval" / "overlays" / "sample_0.png", overlay_chunk(frame, K, predicted, target))
    return run


def test_report_embeds_valid_pngs_and_filled_tables(run_dir):
    path = write_report(run_dir, config=ReportConfig(title="My run"))
    assert path == run_dir / "report.html"
    text = path.read_text()
    parser = PageParser()
    parser.feed(text)
    assert parser.headings == [
        "Training",
        "Configuration: config.json",
        "Motion prediction: eval/motion.json",
        "Scaling law",
        "Benchmark",
        "Images",
    ]
    # Plots: loss, lr, the motion error curve, the scaling plot; plus the overlay.
    assert len(parser.images) == 5
    for image in parser.images:
        match = re.fullmatch(r"data:image/png;base64,([A-Za-z0-9+/=]+)", image["src"])
        assert match, image["src"][:40]
        decoded = Image.open(io.BytesIO(base64.b64decode(match.group(1))))
        decoded.verify()
        assert decoded.format == "PNG" and decoded.size[0] > 10 and decoded.size[1] > 10
        assert image["alt"]
    assert parser.images[-1]["style"].startswith("width:320px")  # the 64-pixel overlay is shown enlarged
    assert len(parser.table_rows) >= 6 and all(rows > 0 for rows in parser.table_rows)
    assert all(tag.get("src") is None and tag.get("href") is None for tag in parser.scripts)  # nothing external
    assert "http://" not in text and "https://" not in text
    assert "<td>Stack-Can</td><td>50.0</td><td>37.5</td>" in text  # SR 2/4, PSR (0 + 1/2 + 1 + 0) / 4
    assert "<td>model.horizon</td><td>30</td>" in text
    assert "<li>log_linear: loss = a + b * log10(amount); R^2 = 1.0000 over 3 runs" in text  # eval scaling's analysis
    assert "<li>warning: power_law: needs at least 4 different amounts, got 3; not fitted</li>" in text


def test_report_is_rebuilt_without_reading_itself(run_dir):
    write_report(run_dir)
    first = (run_dir / "report.html").read_text()
    write_report(run_dir)
    assert (run_dir / "report.html").read_text() == first
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "checkpoints",
        "config.json",
        "eval",
        "final",
        "metrics.jsonl",
        "report.html",
    ]


def test_report_errors(tmp_path, run_dir):
    with pytest.raises(InputError, match="nothing to report"):
        build_report(_empty(tmp_path))
    (run_dir / "eval" / "overlays" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="broken.png: not a PNG"):
        build_report(run_dir)
    with pytest.raises(InputError, match="not found"):
        build_report(tmp_path / "missing")


def test_unrelated_json_with_a_tasks_key_is_listed_as_skipped(run_dir):
    (run_dir / "other.json").write_text(json.dumps({"tasks": ["a", "b"]}))
    text = build_report(run_dir)
    assert "Skipped files" in text and "other.json: not benchmark results" in text


def _empty(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("hello")
    return empty


@requires_chromium
def test_report_renders_in_headless_chromium_within_1280_px(run_dir, tmp_path):
    path = write_report(run_dir)
    dom = dump_dom(path, tmp_path / "profile")
    loaded, images, width = measured(dom)
    assert loaded == images == 5
    assert width <= 1280  # nothing makes the page wider than the window
    assert 'class="broken"' not in dom
    assert dom.count("<table>") >= 6 and "Motion prediction: eval/motion.json" in dom


def test_experiment_with_several_runs_gets_one_training_section_each(tmp_path):
    for name, loss in (("small", 1.0), ("large", 0.5)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.jsonl").write_text(
            json.dumps({"step": 1, "split": "val_human", "loss": loss}) + "\n"
        )
    parser = PageParser()
    parser.feed(build_report(tmp_path))
    assert parser.headings == ["Training: large", "Training: small"]
    assert len(parser.images) == 2


def test_per_split_result_files_are_not_extra_policies(tmp_path):
    """dexego demo keeps eval/splits/<arm>_<split>.json beside the merged eval/<arm>.json: one policy, not three."""
    from dexego.evaluate.results import drop_parts, parse_results

    def rollouts(split, successes):
        return [{"task": "Push-Box", "split": split, "success": s, "progress": 1.0 if s else 0.5} for s in successes]

    seen, unseen = rollouts("seen", [True, False]), rollouts("unseen", [False, False])
    for arm in ("human_pretrained", "no_pretraining"):
        (tmp_path / "eval" / "splits").mkdir(parents=True, exist_ok=True)
        (tmp_path / "eval" / f"{arm}.json").write_text(json.dumps({"policy": arm, "rollouts": seen + unseen}))
        (tmp_path / "eval" / "splits" / f"{arm}_seen.json").write_text(json.dumps({"policy": arm, "rollouts": seen}))
        (tmp_path / "eval" / "splits" / f"{arm}_unseen.json").write_text(
            json.dumps({"policy": arm, "rollouts": unseen})
        )
    text = build_report(tmp_path)
    overview = text.split("Mean success (SR) and progress (PSR) rates", 1)[1].split("</table>", 1)[0]
    assert overview.count("<tr>") == 1 + 2  # header + one row per policy
    assert "human_pretrained #2" not in text and "no_pretraining #2" not in text
    # a file of the same policy with other numbers is kept (and labelled), a file of another policy too
    merged = parse_results({"policy": "a", "rollouts": seen + unseen}, "a.json")
    part = parse_results({"policy": "a", "rollouts": seen}, "a_seen.json")
    rerun = parse_results({"policy": "a", "rollouts": rollouts("seen", [True, True])}, "a_seen_rerun.json")
    other = parse_results({"policy": "b", "rollouts": seen}, "b.json")
    assert [r.source for r in drop_parts([part, merged, rerun, other])] == ["a.json", "a_seen_rerun.json", "b.json"]
    assert [
        r.source for r in drop_parts([merged, parse_results({"policy": "a", "rollouts": seen + unseen}, "copy.json")])
    ] == ["a.json"]
