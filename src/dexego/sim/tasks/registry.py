"""The registry of benchmark tasks by name; the built-in tasks register when ``dexego.sim.tasks`` is imported."""

from __future__ import annotations

from dexego.errors import ConfigError
from dexego.sim.tasks.base import Task

_REGISTRY: dict[str, type[Task]] = {}


def register_task(cls: type[Task]) -> type[Task]:
    _REGISTRY[cls.name] = cls
    return cls


def task_names(long_horizon: bool | None = None) -> list[str]:
    return [n for n, c in _REGISTRY.items() if long_horizon is None or c.long_horizon == long_horizon]


def get_task(name: str) -> Task:
    """A task instance by name (case-insensitive; '-' and '_' are interchangeable)."""
    key = name.lower().replace("_", "-")
    for n, cls in _REGISTRY.items():
        if n.lower() == key:
            return cls()
    raise ConfigError(f"unknown task {name!r}; available: {', '.join(_REGISTRY)}")
