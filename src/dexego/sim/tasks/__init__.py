"""The benchmark's tasks, by name (the paper's names, e.g. "Push-Box")."""

from __future__ import annotations

# the built-in tasks register on import (short-horizon ones first)
from dexego.sim.tasks import long_horizon, short_horizon  # noqa: F401
from dexego.sim.tasks.registry import get_task, register_task, task_names

__all__ = ["get_task", "register_task", "task_names"]
