"""What every external-dataset source shares: options, sequence references, skips, placeholders.

A source module exposes ``NAME``, ``find_sequences(root) -> list[SequenceRef]``,
``dataset_fps(root) -> int`` and ``load(ref, options) -> Episode``. ``load``
parses the dataset's own files completely before returning, so a missing or
truncated file raises (``InputError`` / ``SkipSequence``) and nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dexego.errors import DexegoError, InputError


@dataclass(frozen=True)
class SourceOptions:
    """Options shared by every converter (the CLI fills them)."""

    mano_dir: Path | None = None
    max_frames: int | None = None  # truncate long sequences (tests, previews)
    camera: str | None = None  # lerobot: the video key to keep (default: the dataset's first)
    robot: str | None = None  # lerobot: the robot description (YAML or built-in name) the joints belong to
    joint_map: Path | None = None  # lerobot: the map of the dataset's columns to the robot's joints (TOML)


@dataclass(frozen=True)
class SequenceRef:
    """One sequence of an external dataset: a stable id (used for resume) and its paths."""

    source_id: str
    path: Path
    extra: dict[str, Any] = field(default_factory=dict)


class SkipSequence(DexegoError):
    """A sequence that cannot be converted; the converter logs ``reason`` and continues."""

    def __init__(self, source_id: str, reason: str):
        self.source_id = source_id
        self.reason = reason
        super().__init__(f"{source_id}: {reason}")


def placeholder_instructions(length: int, text: str) -> tuple[list[tuple[int, int, str]], dict[str, Any]]:
    """A whole-episode instruction that does not come from the dataset's labels, and the metadata marking it."""
    return [(0, length, text)], {"instruction_placeholder": True}


def labelled_instructions(length: int, text: str, origin: str) -> tuple[list[tuple[int, int, str]], dict[str, Any]]:
    """A whole-episode instruction built from the dataset's own labels; ``origin`` names which."""
    return [(0, length, text)], {"instruction_placeholder": False, "instruction_origin": origin}


def require_file(path: Path, source_id: str) -> Path:
    if not path.is_file():
        raise SkipSequence(source_id, f"missing file {path}")
    return path


def check_array(path: Path | str, name: str, value: Any, shape: tuple[int | None, ...]) -> np.ndarray:
    """``value`` as float64 with the given shape (None = any size); InputError naming file and field otherwise."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(path, name, f"not a numeric array: {exc}") from None
    if array.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, array.shape)):
        want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
        raise InputError(path, name, f"expected shape {want}, got {array.shape}")
    return array


def truncate(length: int, options: SourceOptions) -> int:
    return length if options.max_frames is None else min(length, options.max_frames)


def rigid_from_rt(rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """(..., 3, 3) and (..., 3) -> (..., 4, 4)."""
    out = np.zeros(rotation.shape[:-2] + (4, 4))
    out[..., :3, :3] = rotation
    out[..., :3, 3] = translation
    out[..., 3, 3] = 1.0
    return out
