"""The errors dexego raises for bad input.

One clear message that names the file and the field: ``InputError(path,
field, problem)`` renders as ``<path>: <field>: <problem>``. The CLI prints
it without a traceback and exits with status 2.
"""

from __future__ import annotations

import os

_WORKER_TRACEBACK = "\nOriginal Traceback (most recent call last):"


def _worker_message(message: str) -> str:
    """The error's own message out of the text torch's DataLoader re-raises a worker's exception with.

    A DataLoader worker's exception comes back as ``type(text)``, the text holding the worker's
    traceback; its last line is ``module.ErrorType: message``.
    """
    if _WORKER_TRACEBACK not in message:
        return message
    last = [line for line in message.splitlines() if line.strip()][-1]
    _, sep, own = last.partition(": ")
    return own if sep else last


class DexegoError(Exception):
    """Base class of dexego's own errors."""

    def __init__(self, *args):
        if len(args) == 1 and isinstance(args[0], str):
            args = (_worker_message(args[0]),)
        super().__init__(*args)


class InputError(DexegoError, ValueError):
    """Bad input data: a corrupt or truncated file, a missing key, NaN, a wrong shape."""

    def __init__(self, path: str | os.PathLike | None, field: str | None = None, problem: str | None = None):
        if field is None and problem is None:  # re-created from its message alone (by a DataLoader worker)
            self.path, self.field, self.problem = None, None, _worker_message(str(path))
            super().__init__(self.problem)
            return
        self.path = None if path is None else os.fspath(path)
        self.field = field
        self.problem = problem
        where = ": ".join(str(p) for p in (self.path, field) if p)
        super().__init__(f"{where}: {problem}" if where else problem)


class ConfigError(DexegoError, ValueError):
    """An invalid configuration: unknown keys, wrong types, unknown names."""


class NonFiniteActions(DexegoError, ArithmeticError):
    """A policy computed NaN or infinite actions: they must never reach a robot."""
