"""Converters from public egocentric human-hand datasets (and LeRobot robot datasets) to dexego datasets.

One module per dataset; each exposes ``NAME``, ``find_sequences``, ``dataset_fps``
and ``load`` (see :mod:`dexego.sources.base`). :func:`dexego.sources.convert.convert`
drives them; :mod:`dexego.data.mixtures` reads multi-source mixture files.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from dexego.errors import ConfigError

SOURCE_NAMES: tuple[str, ...] = ("egodex", "hot3d", "hoi4d", "taco", "holoassist", "arctic", "dexycb", "lerobot")


def get_source(name: str) -> ModuleType:
    """The converter module of a dataset."""
    if name not in SOURCE_NAMES:
        raise ConfigError(f"unknown source {name!r}; valid sources: {', '.join(SOURCE_NAMES)}")
    return importlib.import_module(f"dexego.sources.{name}")


__all__ = ["SOURCE_NAMES", "get_source"]
