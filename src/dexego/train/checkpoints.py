"""Checkpoint directories of a run: atomic publication, listing, keep-last-k, ``init_from`` weights.

The layout (every checkpoint is a policy folder with the trainer's resumable state in ``trainer/``) is
:mod:`dexego.models.pretrained`'s; this module publishes and prunes checkpoints. A checkpoint is written into
``.tmp-step-XXXXXXXX-<pid>`` and renamed when complete, so a kill at any moment leaves either the old set of
checkpoints or the old set plus one complete new one.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from dexego.errors import InputError
from dexego.models.pretrained import (  # noqa: F401 (the run layout, re-exported for the trainer)
    CHECKPOINTS,
    EMA_FILE,
    FINAL,
    STATE_FILE,
    TRAINER_DIR,
    WEIGHTS_FILE,
    checkpoint_name,
    checkpoint_step,
    ema_file,
    latest_checkpoint,
    list_checkpoints,
    raw_weights_file,
    trainer_dir,
)
from dexego.utils.files import TMP_MARK, atomic_directory

_TMP_PREFIX = TMP_MARK  # atomic_directory's temporaries: ".tmp-<name>-<pid>"


def publish_dir(final: Path, fill: Callable[[Path], None]) -> Path:
    """Create ``final`` atomically: ``fill`` writes into a temporary sibling that is then renamed."""
    with atomic_directory(final) as tmp:
        fill(tmp)
    return final


def prune_checkpoints(run_dir: Path, keep_last: int) -> list[Path]:
    """Delete all but the newest ``keep_last`` checkpoints and any leftover temporaries; returns what went."""
    removed = list_checkpoints(run_dir)[:-keep_last]
    root = Path(run_dir) / CHECKPOINTS
    if root.is_dir():
        removed += [
            p for p in root.iterdir() if p.name.startswith(_TMP_PREFIX) and not p.name.endswith(f"-{os.getpid()}")
        ]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def remove_leftovers(run_dir: Path) -> list[Path]:
    """Temporaries a killed run left beside ``final/`` (``.tmp-final-<pid>``, ``.tmp-old-final-<pid>``) and in
    ``checkpoints/``; returns what went. A ``final/`` swapped out but not yet replaced is put back first."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    mine = f"-{os.getpid()}"
    final = run_dir / FINAL
    stale = [p for p in run_dir.iterdir() if p.name.startswith(_TMP_PREFIX) and not p.name.endswith(mine)]
    if not final.exists():
        old = sorted(p for p in stale if p.name.startswith(f"{_TMP_PREFIX}old-{FINAL}-"))
        if old:
            os.replace(old[-1], final)
            stale.remove(old[-1])
    root = run_dir / CHECKPOINTS
    if root.is_dir():
        stale += [p for p in root.iterdir() if p.name.startswith(_TMP_PREFIX) and not p.name.endswith(mine)]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    return stale


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
    raise InputError(
        path, "init_from", f"no {WEIGHTS_FILE} here, in {FINAL}/ or in {CHECKPOINTS}/ (is the earlier stage finished?)"
    )
