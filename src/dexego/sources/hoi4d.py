"""hoi4d: converter not implemented yet (see the layout notes in shared/specs/data-formats.md).

Calling it raises a ConfigError saying so, rather than producing a wrong dataset.
"""

from __future__ import annotations

from pathlib import Path

from dexego.errors import ConfigError
from dexego.sources.base import SequenceRef, SourceOptions

NAME = "hoi4d"


def _not_yet() -> ConfigError:
    return ConfigError(f"the '{NAME}' converter is not implemented yet")


def find_sequences(root: Path) -> list[SequenceRef]:
    raise _not_yet()


def dataset_fps(root: Path) -> int:
    raise _not_yet()


def load(ref: SequenceRef, options: SourceOptions):
    raise _not_yet()
