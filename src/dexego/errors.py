"""The errors dexego raises for bad input.

One clear message that names the file and the field: ``InputError(path,
field, problem)`` renders as ``<path>: <field>: <problem>``. The CLI prints
it without a traceback and exits with status 2.
"""

from __future__ import annotations

import os


class DexegoError(Exception):
    """Base class of dexego's own errors."""


class InputError(DexegoError, ValueError):
    """Bad input data: a corrupt or truncated file, a missing key, NaN, a wrong shape."""

    def __init__(self, path: str | os.PathLike | None, field: str | None, problem: str):
        self.path = None if path is None else os.fspath(path)
        self.field = field
        self.problem = problem
        where = ": ".join(str(p) for p in (self.path, field) if p)
        super().__init__(f"{where}: {problem}" if where else problem)


class ConfigError(DexegoError, ValueError):
    """An invalid configuration: unknown keys, wrong types, unknown names."""
