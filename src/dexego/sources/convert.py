"""Convert an external dataset into a dexego dataset: discover, parse (optionally in parallel), write, resume.

Each sequence is parsed completely by its source's ``load`` before anything is
written, and the dataset writer commits an episode atomically, so a missing or
truncated file skips that sequence (logged with its reason) and the output
never holds a half-written episode. Every episode records its ``source_id`` in
its metadata; re-running on the same output skips the ids already there.
"""

from __future__ import annotations

import json
import sys
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from dexego.data import DatasetWriter
from dexego.errors import ConfigError, DexegoError, InputError
from dexego.sources import get_source
from dexego.sources.base import SequenceRef, SkipSequence, SourceOptions


@dataclass
class ConvertSummary:
    source: str
    converted: list[str] = field(default_factory=list)
    already_present: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (source_id, reason)

    def report(self) -> str:
        lines = [
            f"{self.source}: {len(self.converted)} converted, {len(self.already_present)} already in the output, "
            f"{len(self.skipped)} skipped"
        ]
        lines += [f"  skipped {sid}: {reason}" for sid, reason in self.skipped]
        return "\n".join(lines)


def existing_source_ids(output: Path, source: str) -> set[str]:
    """The ``source_id`` of every episode of ``source`` already committed in ``output``."""
    if not (Path(output) / "meta" / "info.json").is_file():
        return set()
    from dexego.data.meta import DatasetMeta

    meta = DatasetMeta.load(Path(output))
    ids = set()
    for row in meta.episodes.select(["source", "metadata"]).to_pylist():
        if row.get("source") == source and row.get("metadata"):
            sid = json.loads(row["metadata"]).get("source_id")
            if sid is not None:
                ids.add(str(sid))
    return ids


def _load_one(source_name: str, ref: SequenceRef, options: SourceOptions):
    """Parse one sequence; returns the Episode or a skip reason (runs in a worker process)."""
    try:
        return get_source(source_name).load(ref, options)
    except ConfigError:
        raise
    except SkipSequence as exc:
        return exc.reason
    except (InputError, DexegoError, OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        return f"{type(exc).__name__}: {exc}"


def _parsed(source_name: str, refs: list[SequenceRef], options: SourceOptions, workers: int) -> Iterator:
    if workers <= 1:
        for ref in refs:
            yield ref, _load_one(source_name, ref, options)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        # A bounded window keeps at most 2 x workers parsed episodes in memory.
        pending = []
        it = iter(refs)
        for ref in it:
            pending.append((ref, pool.submit(_load_one, source_name, ref, options)))
            if len(pending) >= 2 * workers:
                done_ref, fut = pending.pop(0)
                yield done_ref, fut.result()
        for done_ref, fut in pending:
            yield done_ref, fut.result()


def convert(
    source_name: str,
    input_dir: str | Path,
    output: str | Path,
    options: SourceOptions = SourceOptions(),
    workers: int = 1,
    progress: Callable[[str], None] | None = None,
) -> ConvertSummary:
    """Convert every sequence under ``input_dir`` into the dexego dataset ``output`` (created or continued)."""
    source = get_source(source_name)
    input_dir, output = Path(input_dir), Path(output)
    if not input_dir.is_dir():
        raise InputError(input_dir, None, "input directory not found")
    say = progress or (lambda msg: print(msg, file=sys.stderr))
    if hasattr(
        source, "check_options"
    ):  # options that depend on the input (a joint map) fail before anything is written
        source.check_options(input_dir, options)
    refs = source.find_sequences(input_dir)
    if not refs:
        raise InputError(
            input_dir,
            None,
            f"no {source_name} sequences found (see dexego.sources.{source_name} for the expected layout)",
        )
    summary = ConvertSummary(source_name)
    done = existing_source_ids(output, source_name)
    todo = []
    for ref in refs:
        if ref.source_id in done:
            summary.already_present.append(ref.source_id)
        else:
            todo.append(ref)
    say(f"{source_name}: {len(refs)} sequences found, {len(summary.already_present)} already converted")
    with DatasetWriter(output, fps=source.dataset_fps(input_dir)) as writer:
        for i, (ref, result) in enumerate(_parsed(source_name, todo, options, workers), 1):
            if isinstance(result, str):
                summary.skipped.append((ref.source_id, result))
                say(f"[{i}/{len(todo)}] skipped {ref.source_id}: {result}")
                continue
            try:
                writer.add_episode(result)
            except InputError as exc:
                summary.skipped.append((ref.source_id, str(exc)))
                say(f"[{i}/{len(todo)}] skipped {ref.source_id}: {exc}")
                continue
            summary.converted.append(ref.source_id)
            say(f"[{i}/{len(todo)}] converted {ref.source_id} ({result.length} frames)")
    return summary
