"""The training metrics log: ``metrics.jsonl`` in a run directory.

One JSON object per line, appended as training goes::

    {"step": 100, "split": "train", "loss": 0.83, "lr": 0.0001, "loss/wrist_pos": 0.2, "time": 12.5}
    {"step": 100, "split": "val", "loss": 0.91}

- ``step`` (int >= 0) and ``split`` (str: "train", "val", or any name) are required.
- ``loss`` and any other numeric field are metrics of that split at that step
  (plotted as curves by the report). Non-numeric fields are kept out of curves.
- ``data_hours`` or ``data_episodes`` (optional, any line): the amount of training
  data of the run, used by the scaling-law fit; the last value seen wins.

A final line without its newline is a record still being written and is
skipped; any other line that is not a JSON object with these fields is an
error naming the file and line.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from dexego.errors import InputError

FILENAME = "metrics.jsonl"
AMOUNT_KEYS = {"data_hours": "hours", "data_episodes": "episodes"}
_NOT_METRICS = {"step", "split", "epoch", "time", *AMOUNT_KEYS}


@dataclass
class MetricsLog:
    """A training run's ``metrics.jsonl`` read back: records by split, series per metric, the data amount."""

    path: Path
    records: list[dict] = field(default_factory=list)
    data_amount: tuple[float, str] | None = None  # (amount, unit)

    def splits(self) -> list[str]:
        return sorted({r["split"] for r in self.records})

    def metric_names(self, split: str | None = None) -> list[str]:
        names = set()
        for record in self.records:
            if split is None or record["split"] == split:
                names.update(k for k, v in record.items() if k not in _NOT_METRICS and _is_number(v))
        return sorted(names)

    def series(self, split: str, name: str) -> tuple[list[int], list[float]]:
        """Steps and values of one metric of one split, in file order (NaN/inf values dropped)."""
        steps, values = [], []
        for record in self.records:
            value = record.get(name)
            if record["split"] == split and _is_number(value) and math.isfinite(value):
                steps.append(record["step"])
                values.append(float(value))
        return steps, values

    def best(self, split: str, name: str) -> float | None:
        _, values = self.series(split, name)
        return min(values) if values else None

    def last(self, split: str, name: str) -> float | None:
        _, values = self.series(split, name)
        return values[-1] if values else None


def resolve_metrics_path(path: str | Path) -> Path:
    """A run directory or a metrics file -> the metrics file."""
    path = Path(path)
    if path.is_dir():
        path = path / FILENAME
    if not path.is_file():
        raise InputError(path, None, "metrics log not found")
    return path


def read_metrics(path: str | Path) -> MetricsLog:
    path = resolve_metrics_path(path)
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.split("\n")
    log = MetricsLog(path)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        is_partial_tail = number == len(lines) and not text.endswith("\n")
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            if is_partial_tail:
                break
            raise InputError(path, f"line {number}", f"not valid JSON: {exc.msg}") from None
        _check_record(record, path, number)
        for key, unit in AMOUNT_KEYS.items():
            if key in record:
                amount = record[key]
                if not _is_number(amount) or not math.isfinite(amount) or amount <= 0:
                    raise InputError(path, f"line {number}: {key}", f"expected a positive number, got {amount!r}")
                log.data_amount = (float(amount), unit)
        log.records.append(record)
    return log


def _check_record(record: object, path: Path, number: int) -> None:
    if not isinstance(record, dict):
        raise InputError(path, f"line {number}", "expected a JSON object")
    step = record.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise InputError(path, f"line {number}: step", f"expected a non-negative integer, got {step!r}")
    split = record.get("split")
    if not isinstance(split, str) or not split:
        raise InputError(path, f"line {number}: split", f"expected a split name, got {split!r}")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
