"""Benchmark results JSON (what ``dexego sim eval`` writes) and its per-task summary.

Accepted layout (one file per evaluated policy)::

    {
      "policy": "egovla-tiny",            # label of the policy (optional; else the file name)
      "rollouts": [                       # one record per rollout
        {"task": "Stack-Can", "split": "seen", "seed": 3, "background": 1,
         "success": true, "subtasks_done": 2, "subtasks_total": 3},
        ...
      ]
    }

``progress`` (completed / total subtasks, in [0, 1]) may replace
``subtasks_done``/``subtasks_total``. A file may instead (or also) carry a
summary ``"tasks": {task: {split: {"sr": 0.7, "psr": 0.8, "rollouts": 27}}}``
(rates in [0, 1]); rollouts win when both are present. ``split`` is "seen", "human" or
"unseen". Other keys are kept as metadata and ignored here.

PSR follows the benchmark spec: per rollout the fraction of subtasks that were
completed, the final success counting as the last subtask; averaged over rollouts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dexego.errors import InputError
from dexego.utils.files import read_json

SPLITS = ("seen", "human", "unseen")  # robot looks, human looks, evaluation-only looks (dexego.sim.scene)


@dataclass(frozen=True)
class TaskScore:
    """SR and PSR of one policy on one task and split, over ``rollouts`` rollouts."""

    sr: float  # success rate in [0, 1]
    psr: float  # progress rate in [0, 1]
    rollouts: int


@dataclass(frozen=True)
class BenchmarkResults:
    """SR/PSR of one policy: scores[split][task]."""

    policy: str
    scores: dict[str, dict[str, TaskScore]]
    source: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def tasks(self) -> list[str]:
        return sorted({task for split in self.scores.values() for task in split})


def drop_parts(results: list[BenchmarkResults]) -> list[BenchmarkResults]:
    """Leave out a file that is part of another file of the same policy.

    ``dexego demo`` (and a user running ``dexego sim eval`` once per split) keeps per-split
    files beside the merged one: ``eval/splits/A_seen.json`` is a part of ``eval/A.json``. A result is a
    part of another when the policy names agree and every (split, task) score it holds appears,
    equal, in the other, which holds more (or is an identical earlier file). Order is kept."""
    kept = []
    for i, result in enumerate(results):
        cells = {(split, task): score for split, tasks in result.scores.items() for task, score in tasks.items()}
        covered = False
        for j, other in enumerate(results):
            if j == i or other.policy != result.policy:
                continue
            others = {(split, task): score for split, tasks in other.scores.items() for task, score in tasks.items()}
            if all(others.get(key) == score for key, score in cells.items()) and (len(others) > len(cells) or j < i):
                covered = True
                break
        if not covered:
            kept.append(result)
    return kept


def load_results(path: str | Path) -> BenchmarkResults:
    """Read one results JSON file (see the module docstring)."""
    path = Path(path)
    return parse_results(read_json(path), path)


def parse_results(data: Any, path: str | Path = "<results>") -> BenchmarkResults:
    if not isinstance(data, dict):
        raise InputError(path, None, "expected a JSON object")
    policy = data.get("policy") or Path(str(path)).stem
    if not isinstance(policy, str):
        raise InputError(path, "policy", f"expected a string, got {policy!r}")
    if "rollouts" in data:
        scores = _scores_from_rollouts(data["rollouts"], path)
    elif "tasks" in data:
        scores = _scores_from_summary(data["tasks"], path)
    else:
        raise InputError(path, "rollouts", "missing (a results file needs 'rollouts' or a 'tasks' summary)")
    metadata = {k: v for k, v in data.items() if k not in ("policy", "rollouts", "tasks")}
    return BenchmarkResults(policy, scores, str(path), metadata)


def _scores_from_rollouts(rollouts: Any, path) -> dict[str, dict[str, TaskScore]]:
    if not isinstance(rollouts, list):
        raise InputError(path, "rollouts", "expected a list of rollout records")
    grouped: dict[tuple[str, str], list[tuple[bool, float]]] = {}
    for i, record in enumerate(rollouts):
        where = f"rollouts[{i}]"
        if not isinstance(record, dict):
            raise InputError(path, where, "expected an object")
        task = record.get("task")
        if not isinstance(task, str) or not task:
            raise InputError(path, f"{where}.task", f"expected a task name, got {task!r}")
        split = _split(record.get("split"), path, f"{where}.split")
        success = record.get("success")
        if not isinstance(success, bool):
            raise InputError(path, f"{where}.success", f"expected true/false, got {success!r}")
        grouped.setdefault((split, task), []).append((success, _progress(record, success, path, where)))
    scores: dict[str, dict[str, TaskScore]] = {}
    for (split, task), runs in sorted(grouped.items()):
        sr = sum(s for s, _ in runs) / len(runs)
        psr = sum(p for _, p in runs) / len(runs)
        scores.setdefault(split, {})[task] = TaskScore(sr, psr, len(runs))
    return scores


def _progress(record: dict, success: bool, path, where: str) -> float:
    if "subtasks_done" in record or "subtasks_total" in record:
        done, total = record.get("subtasks_done"), record.get("subtasks_total")
        if not isinstance(total, int) or isinstance(total, bool) or total <= 0:
            raise InputError(path, f"{where}.subtasks_total", f"expected a positive integer, got {total!r}")
        if not isinstance(done, int) or isinstance(done, bool) or not 0 <= done <= total:
            raise InputError(path, f"{where}.subtasks_done", f"expected an integer in 0..{total}, got {done!r}")
        return done / total
    if "progress" in record:
        return _rate(record["progress"], path, f"{where}.progress")
    return 1.0 if success else 0.0  # no subtasks: the final success is the only one


def _scores_from_summary(tasks: Any, path) -> dict[str, dict[str, TaskScore]]:
    if not isinstance(tasks, dict):
        raise InputError(path, "tasks", "expected an object {task: {split: {sr, psr, rollouts}}}")
    scores: dict[str, dict[str, TaskScore]] = {}
    for task, splits in tasks.items():
        if not isinstance(splits, dict):
            raise InputError(path, f"tasks.{task}", "expected an object {split: {sr, psr, rollouts}}")
        for split, entry in splits.items():
            where = f"tasks.{task}.{split}"
            _split(split, path, where)
            if not isinstance(entry, dict):
                raise InputError(path, where, "expected an object with sr, psr, rollouts")
            sr = _rate(entry.get("sr"), path, f"{where}.sr")
            psr = _rate(entry.get("psr", sr), path, f"{where}.psr")
            count = entry.get("rollouts", 0)
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise InputError(path, f"{where}.rollouts", f"expected a non-negative integer, got {count!r}")
            scores.setdefault(split, {})[task] = TaskScore(sr, psr, count)
    return scores


def _split(value: Any, path, where: str) -> str:
    if value not in SPLITS:
        raise InputError(path, where, f"expected one of {', '.join(SPLITS)}, got {value!r}")
    return value


def _rate(value: Any, path, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise InputError(path, where, f"expected a number in [0, 1], got {value!r}")
    return float(value)
