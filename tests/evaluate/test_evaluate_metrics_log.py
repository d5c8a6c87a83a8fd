import json

import pytest

from dexego.errors import InputError
from dexego.evaluate.metrics_log import read_metrics


def write(path, lines, newline_at_end=True):
    path.write_text("\n".join(lines) + ("\n" if newline_at_end else ""))
    return path


def test_series_best_last_and_names(tmp_path):
    records = [
        {"step": 0, "split": "train", "loss": 2.0, "lr": 1e-4, "note": "warmup"},
        {"step": 10, "split": "train", "loss": 1.0, "lr": 1e-4, "loss/wrist": 0.4},
        {"step": 10, "split": "val", "loss": 1.5, "data_episodes": 40},
        {"step": 20, "split": "val", "loss": float("nan")},
        {"step": 30, "split": "val", "loss": 1.2},
    ]
    log = read_metrics(write(tmp_path / "metrics.jsonl", [json.dumps(r) for r in records]))
    assert log.splits() == ["train", "val"]
    assert log.metric_names() == ["loss", "loss/wrist", "lr"]
    assert log.metric_names("val") == ["loss"]
    assert log.series("val", "loss") == ([10, 30], [1.5, 1.2])  # NaN dropped
    assert log.best("val", "loss") == 1.2 and log.last("train", "loss") == 1.0
    assert log.best("val", "missing") is None
    assert log.data_amount == (40.0, "episodes")


def test_partial_last_line_is_skipped_but_corrupt_lines_are_errors(tmp_path):
    good = json.dumps({"step": 1, "split": "train", "loss": 1.0})
    log = read_metrics(write(tmp_path / "a.jsonl", [good, '{"step": 2, "spl'], newline_at_end=False))
    assert len(log.records) == 1
    with pytest.raises(InputError, match=r"b.jsonl: line 2: not valid JSON"):
        read_metrics(write(tmp_path / "b.jsonl", [good, '{"step": 2, "spl', good]))
    with pytest.raises(InputError, match=r"line 1: step"):
        read_metrics(write(tmp_path / "c.jsonl", [json.dumps({"step": -1, "split": "train"})]))
    with pytest.raises(InputError, match=r"line 1: split"):
        read_metrics(write(tmp_path / "d.jsonl", [json.dumps({"step": 1, "loss": 3})]))
    with pytest.raises(InputError, match=r"data_hours"):
        read_metrics(write(tmp_path / "e.jsonl", [json.dumps({"step": 1, "split": "x", "data_hours": 0})]))
    with pytest.raises(InputError, match="not found"):
        read_metrics(tmp_path / "missing_dir")
