"""Where and when a result was produced: commit, machine, date (recorded in reports and summaries)."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path

import dexego


def source_commit() -> str:
    """The git commit of the dexego source in use (``+dirty`` with uncommitted changes), or the installed version."""
    root = Path(dexego.__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--", "."],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return f"dexego {dexego.__version__} (not a git checkout)"
    return commit + ("+dirty" if dirty else "")


def machine() -> str:
    """One line: host name, OS, CPU architecture and core count, and the torch build."""
    try:
        import torch

        accel = f"torch {torch.__version__}" + (
            f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", CPU"
        )
    except ImportError:  # pragma: no cover - torch is a core dependency
        accel = "no torch"
    return f"{platform.node()} ({platform.system()} {platform.machine()}, {os.cpu_count()} cores, {accel})"


def run_metadata() -> dict[str, str]:
    """``commit``, ``machine``, ``date`` (UTC, ISO 8601) and the ``python`` and ``dexego`` versions."""
    return {
        "commit": source_commit(),
        "machine": machine(),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "python": platform.python_version(),
        "dexego": dexego.__version__,
    }
