"""Atomic file and directory writes, and checked JSON reads: the one implementation every package uses.

A write goes to a temporary sibling ``<name>.tmp-<pid>`` (a directory: ``.tmp-<name>-<pid>``),
is flushed to disk and renamed into place, so a killed process leaves either
the old file or the new one, never half of one. Leftover temporaries carry
``TMP_MARK`` in their names, so a writer that starts again can find and
remove them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dexego.errors import InputError

TMP_MARK = ".tmp-"  # temporary files are "<name>.tmp-<pid>"; anything with it is not a finished output


def temp_path(path: str | os.PathLike) -> Path:
    """The temporary sibling of ``path`` this process writes before renaming (its folder is created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f"{path.name}{TMP_MARK}{os.getpid()}")


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(directory: Path) -> None:
    """Flush every file below ``directory`` to disk (before the directory is renamed into place)."""
    for root, _, files in os.walk(directory):
        for name in files:
            fsync_file(Path(root) / name)


def publish(tmp: Path, final: Path) -> None:
    """Make a fully written temporary file visible under its final name, atomically."""
    fsync_file(tmp)
    os.replace(tmp, final)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; it replaces ``path`` only when the block succeeds."""
    final = Path(path)
    tmp = temp_path(final)
    try:
        yield tmp
        publish(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike, data: Any, indent: int = 4) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=indent) + "\n")


class WriteLock:
    """An exclusive, advisory lock on a folder for the lifetime of one writer (released by ``release``).

    Two writers on one dataset would remove each other's temporaries; the second
    one gets a named error instead. The lock is the kernel's ``flock`` on the
    folder itself, so it vanishes with the process (a killed writer leaves no
    stale lock). Not available on Windows, where it is a no-op.
    """

    def __init__(self, folder: str | os.PathLike, what: str = "folder"):
        self.folder = Path(folder)
        self._fd: int | None = None
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise InputError(
                f"{self.folder}: this {what} is being written by another process; wait for it to finish"
            ) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __del__(self) -> None:  # a writer dropped without close() must not keep its folder locked
        self.release()


def temp_directory(path: str | os.PathLike) -> Path:
    """The temporary sibling directory this process fills before renaming it to ``path``."""
    final = Path(path)
    return final.parent / f"{TMP_MARK}{final.name}-{os.getpid()}"


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary directory that replaces ``path`` (and all it held) only when the block succeeds."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_directory(final)
    if tmp.exists():  # left by an earlier process with the same pid
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
        fsync_tree(tmp)
        if final.exists():  # swap the old directory out, then remove it
            old = final.parent / f"{TMP_MARK}old-{final.name}-{os.getpid()}"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_json(path: str | os.PathLike, what: str | None = None, expect: type | None = None) -> Any:
    """The JSON value in ``path``; a missing file, bad JSON or (with ``expect``) the wrong top-level type is an InputError."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, None, f"file not found ({what})" if what else "file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(path, None, f"not valid JSON: {exc}") from None
    except UnicodeDecodeError as exc:
        raise InputError(path, None, f"not valid JSON (not UTF-8 text): {exc}") from None
    if expect is not None and not isinstance(data, expect):
        kind = {dict: "a JSON object", list: "a JSON list"}.get(expect, expect.__name__)
        raise InputError(path, None, f"expected {kind}, got {type(data).__name__}")
    return data


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as sorted, indented JSON inside a folder that ``atomic_directory`` publishes (no rename of its own)."""
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
