"""Progress output, one way everywhere: a tqdm bar on a terminal, plain lines when stderr is a file or a pipe.

:func:`progress_bar` returns a tqdm bar (``update``, ``set_postfix``, ``close``) or, without a terminal, an object
with the same methods that prints one line per tenth of the work and one at the end, so a redirected log holds
readable lines instead of carriage-return updates. :class:`ProgressCallback` wraps it for code that reports
``progress(done, total)``.
"""

from __future__ import annotations

import sys
from typing import Any

LINE_STEPS = 10  # plain-line mode: a line per tenth of the work


def is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stderr
        return False


def progress_bar(total: int | None, desc: str = "", unit: str = "it", initial: int = 0, disable: bool = False):
    """A bar counting to ``total`` on stderr: tqdm on a terminal, plain lines otherwise."""
    if is_terminal() or disable:
        from tqdm.auto import tqdm

        return tqdm(
            total=total, desc=desc, unit=unit, initial=initial, disable=disable, dynamic_ncols=True, file=sys.stderr
        )
    return PlainProgress(total, desc, unit, initial)


class PlainProgress:
    """``desc: n/total unit (postfix)`` lines on stderr, at each tenth of ``total`` and at ``close``."""

    def __init__(self, total: int | None, desc: str = "", unit: str = "it", initial: int = 0):
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self.postfix = ""
        self._printed_step = self._step()
        self._closed = False

    def _step(self) -> int:
        return int(self.n * LINE_STEPS // self.total) if self.total else 0

    def _line(self) -> None:
        head = f"{self.desc}: " if self.desc else ""
        of = f"/{self.total}" if self.total else ""
        post = f" ({self.postfix})" if self.postfix else ""
        print(f"{head}{self.n}{of} {self.unit}{post}", file=sys.stderr, flush=True)

    def update(self, n: int = 1) -> None:
        self.n += n
        step = self._step()
        if step > self._printed_step:
            self._printed_step = step
            self._line()

    def set_postfix(self, **values: Any) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def close(self) -> None:
        if not self._closed and (not self.total or self._printed_step < LINE_STEPS):
            self._line()
        self._closed = True


class ProgressCallback:
    """``callback(done, total)`` drawn with :func:`progress_bar`; the bar closes when ``done`` reaches ``total``."""

    def __init__(self, desc: str = "", unit: str = "it"):
        self.desc, self.unit = desc, unit
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = progress_bar(total, self.desc, self.unit)
        self.bar.update(done - self.bar.n)
        if done >= total:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def progress_iter(iterable, desc: str = "", unit: str = "it", total: int | None = None, disable: bool = False):
    """Iterate ``iterable`` with a :func:`progress_bar` (``total`` defaults to its ``len`` when it has one)."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)
    bar = progress_bar(total, desc, unit, disable=disable)
    try:
        for item in iterable:
            yield item
            bar.update(1)
    finally:
        bar.close()
