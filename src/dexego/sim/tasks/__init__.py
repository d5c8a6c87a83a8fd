"""The benchmark's tasks, by name (the paper's names, e.g. "Push-Box")."""

from __future__ import annotations

from dexego.errors import ConfigError
from dexego.sim.tasks.base import Task

_REGISTRY: dict[str, type[Task]] = {}


def register_task(cls: type[Task]) -> type[Task]:
    _REGISTRY[cls.name] = cls
    return cls


def _load_builtin() -> None:
    from dexego.sim.tasks import long_horizon, short_horizon  # noqa: F401  (register on import)


def task_names(long_horizon: bool | None = None) -> list[str]:
    _load_builtin()
    return [n for n, c in _REGISTRY.items() if long_horizon is None or c.long_horizon == long_horizon]


def get_task(name: str) -> Task:
    """A task instance by name (case-insensitive; '-' and '_' are interchangeable)."""
    _load_builtin()
    key = name.lower().replace("_", "-")
    for n, cls in _REGISTRY.items():
        if n.lower() == key:
            return cls()
    raise ConfigError(f"unknown task {name!r}; available: {', '.join(_REGISTRY)}")
