"""Named registries of backbone and head configurations.

A configuration class registers under the name a policy config selects it by (``model.backbone = "tiny"``,
``model.head = "flow"``), the way LeRobot registers config subclasses and openpi names its configs::

    @register_head_config("flow")
    @dataclass(frozen=True)
    class FlowHeadConfig: ...

``PolicyConfig`` holds one table per registered name (``model.flow.width = 256``) and checks that the names it
selects are registered; ``dexego.models.registry`` maps the same names to the modules that build them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

C = TypeVar("C", bound=type)

BACKBONE_CONFIGS: dict[str, type] = {}
HEAD_CONFIGS: dict[str, type] = {}


def _register(registry: dict[str, type], kind: str, name: str) -> Callable[[C], C]:
    def add(cls: C) -> C:
        if name in registry and registry[name] is not cls:
            raise ValueError(f"{kind} config {name!r} is already registered ({registry[name].__name__})")
        registry[name] = cls
        return cls

    return add


def register_backbone_config(name: str) -> Callable[[C], C]:
    return _register(BACKBONE_CONFIGS, "backbone", name)


def register_head_config(name: str) -> Callable[[C], C]:
    return _register(HEAD_CONFIGS, "head", name)


def check_choice(registry: dict[str, type], kind: str, name: str) -> type:
    """The config class registered as ``name``; a ValueError listing the registered names otherwise."""
    if name not in registry:
        raise ValueError(f"unknown {kind} {name!r}; registered: {', '.join(registry)}")
    return registry[name]
