"""Checkpoint directories of a run: atomic publication, listing, keep-last-k.

Layout of a run directory::

    <output_dir>/checkpoints/step-00000120/   model.safetensors, optimizer.{json,safetensors},
                                              scheduler.json, rng-rank0.{json,safetensors},
                                              ema.safetensors (optional), state.json
    <output_dir>/final/                        the same weights files + policy/ (Policy.save export)
    <output_dir>/metrics.jsonl, tensorboard/, config.json

A checkpoint is written into ``.tmp-step-XXXXXXXX-<pid>`` and renamed when
complete, so a kill at any moment leaves either the old set of checkpoints
or the old set plus one complete new one. ``state.json`` is written last.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from dexego.errors import InputError
from dexego.utils.files import TMP_MARK, atomic_directory

CHECKPOINTS = "checkpoints"
FINAL = "final"
STATE_FILE = "state.json"
WEIGHTS_FILE = "model.safetensors"
_STEP_DIR = re.compile(r"^step-(\d+)$")
_TMP_PREFIX = TMP_MARK  # atomic_directory's temporaries: ".tmp-<name>-<pid>"


def checkpoint_name(step: int) -> str:
    return f"step-{step:08d}"


def publish_dir(final: Path, fill: Callable[[Path], None]) -> Path:
    """Create ``final`` atomically: ``fill`` writes into a temporary sibling that is then renamed."""
    with atomic_directory(final) as tmp:
        fill(tmp)
    return final


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        match = _STEP_DIR.match(path.name)
        if match and (path / STATE_FILE).is_file():
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def latest_checkpoint(run_dir: Path) -> Path | None:
    checkpoints = list_checkpoints(run_dir)
    return checkpoints[-1] if checkpoints else None


def prune_checkpoints(run_dir: Path, keep_last: int) -> list[Path]:
    """Delete all but the newest ``keep_last`` checkpoints and any leftover temporaries; returns what went."""
    removed = list_checkpoints(run_dir)[:-keep_last]
    root = Path(run_dir) / CHECKPOINTS
    if root.is_dir():
        removed += [p for p in root.iterdir() if p.name.startswith(_TMP_PREFIX) and not p.name.endswith(f"-{os.getpid()}")]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def resolve_weights(source: str | Path) -> Path:
    """``init_from`` -> a weights file: a file itself, a checkpoint dir, or a run dir (its final/, else its last checkpoint)."""
    path = Path(source)
    if path.is_file():
        return path
    candidates = [path / WEIGHTS_FILE, path / FINAL / WEIGHTS_FILE]
    latest = latest_checkpoint(path) if path.is_dir() else None
    if latest is not None:
        candidates.append(latest / WEIGHTS_FILE)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise InputError(path, "init_from", f"no {WEIGHTS_FILE} here, in {FINAL}/ or in {CHECKPOINTS}/ (is the earlier stage finished?)")
