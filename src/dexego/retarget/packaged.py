"""Robot descriptions that ship inside an installed Python distribution, read without importing it.

A hand or robot file may name its description as a file of an installed
distribution instead of a path::

    description: {distribution: robosuite, file: robosuite/models/assets/grippers/inspire_right_hand.xml}

The file is looked up in the distribution's own file list
(``importlib.metadata``), so the package is never imported: its Python
dependencies need not be installed (robosuite's, for example, clash with
dexego's: ``opencv-python`` beside ``opencv-python-headless``, a pinned
``mink``). ``make install`` installs robosuite 1.5.2 with ``--no-deps`` for the
built-in robosuite hands; see docs/retarget.md.
"""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path
from typing import Any

from dexego.errors import InputError

# What to run when a built-in description's distribution is missing (the files only; see the module docstring).
INSTALL_HINT = {"robosuite": "pip install --no-deps robosuite==1.5.2 (make install does this)"}


def distribution_file(
    distribution: str, file: str, origin: str | os.PathLike | None = None, field: str = "description"
) -> Path:
    """The absolute path of ``file`` (as listed in the distribution's RECORD) inside the installed ``distribution``."""
    hint = INSTALL_HINT.get(distribution, f"pip install --no-deps {distribution}")
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise InputError(
            origin, field, f"the Python distribution {distribution!r} is not installed; install its files with: {hint}"
        ) from None
    wanted = file.replace("\\", "/").lstrip("/")
    listed = {str(p).replace("\\", "/") for p in dist.files or ()}
    if wanted not in listed:
        raise InputError(origin, field, f"{distribution} {dist.version} has no file {wanted!r}")
    path = Path(dist.locate_file(wanted)).resolve()
    if not path.is_file():
        raise InputError(
            origin,
            field,
            f"{distribution} {dist.version} lists {wanted!r} but the file is missing at {path}; reinstall: {hint}",
        )
    return path


def resolve_description(
    value: Any, origin: str | os.PathLike, base_dir: Path | None, field: str = "description"
) -> str:
    """A description entry (a path relative to ``base_dir``, or ``{distribution: D, file: F}``) -> an absolute path."""
    if isinstance(value, dict):
        if set(value) != {"distribution", "file"} or not all(isinstance(v, str) for v in value.values()):
            raise InputError(origin, field, "expected a path, or {distribution: NAME, file: PATH inside it}")
        return str(distribution_file(value["distribution"], value["file"], origin, field))
    if not isinstance(value, str):
        raise InputError(origin, field, "expected a path, or {distribution: NAME, file: PATH inside it}")
    if base_dir is not None and not value.startswith("<"):
        return str((base_dir / value).resolve())
    return value
