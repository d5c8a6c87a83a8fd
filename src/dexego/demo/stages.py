"""Named stages with progress lines, wall times and resume: a finished stage leaves a marker and is skipped next time."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dexego.evaluate.html_page import write_text_atomic

MARKERS = "stages"


@dataclass
class StageRecord:
    name: str
    seconds: float  # wall time of the run that did the work (not of a resumed, skipped one)
    result: dict[str, Any]
    skipped: bool = False


@dataclass
class StageRunner:
    out: Path
    total: int
    log: Callable[[str], None] = print
    records: list[StageRecord] = field(default_factory=list)

    def marker(self, name: str) -> Path:
        return self.out / MARKERS / f"{name.replace(':', '__').replace('/', '_')}.json"

    def done(self, name: str) -> bool:
        return self.marker(name).is_file()

    def run(self, name: str, work: Callable[[], dict[str, Any] | None]) -> dict[str, Any]:
        """Run ``work`` unless the stage finished before; either way return its result record."""
        index = len(self.records) + 1
        marker = self.marker(name)
        if marker.is_file():
            saved = json.loads(marker.read_text())
            record = StageRecord(name, float(saved["seconds"]), saved.get("result", {}), skipped=True)
            self.records.append(record)
            self.log(f"[{index}/{self.total}] {name}: already done ({record.seconds:.1f} s earlier), skipped")
            return record.result
        self.log(f"[{index}/{self.total}] {name} ...")
        start = time.perf_counter()
        result = work() or {}
        seconds = time.perf_counter() - start
        write_text_atomic(marker, json.dumps({"name": name, "seconds": seconds, "result": result}, indent=2))
        self.records.append(StageRecord(name, seconds, result))
        self.log(f"[{index}/{self.total}] {name}: done in {seconds:.1f} s")
        return result

    def timings(self) -> list[dict[str, Any]]:
        return [{"stage": r.name, "seconds": round(r.seconds, 2), "skipped_now": r.skipped} for r in self.records]
