"""``validate_dataset``: every problem of a v3.0 dataset, each with its file and field.

The rules are :mod:`dexego.data.checks`, the ones every reader runs when it opens a dataset
and reads its files: a dataset ``validate`` rejects is refused by training, conversion,
retargeting and evaluation with the same message, and one it accepts (perhaps with
warnings) is read by them. On top of what a reader checks, ``validate`` looks at every
file at once: every data file, every video frame decoded, files nothing references.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dexego.data import features as F
from dexego.data import layout
from dexego.data.checks import (
    TIMESTAMP_TOLERANCE_S,
    Problem,
    Problems,
    check_data_file,
    check_episode_rows,
    check_info,
    check_stats,
    check_tasks,
)
from dexego.data.meta import load_info, read_episodes, read_parquet, read_tasks
from dexego.data.video import decode_all, probe_video
from dexego.errors import InputError
from dexego.utils.files import read_json

__all__ = ["Problem", "validate_dataset", "validate_report"]


def validate_dataset(
    root: str | Path, progress: Callable[[str], None] | None = None, decode: bool = True
) -> list[Problem]:
    """The errors found in the dataset at ``root`` (see :func:`validate_report` for warnings too)."""
    return validate_report(root, progress, decode).errors


def validate_report(root: str | Path, progress: Callable[[str], None] | None = None, decode: bool = True) -> Problems:
    """Every error and warning; ``progress`` is called with each data/video file before it is read.

    ``decode``: decode every video frame (otherwise frames are counted from the packets only)."""
    root = Path(root)
    progress = progress or (lambda path: None)
    out = Problems()
    info_path = root / layout.INFO_PATH
    try:
        info = load_info(root)
    except InputError as exc:
        out.error(exc.path, exc.field, exc.problem)
        return out
    found = check_info(info, info_path)
    out.extend(found)
    if found.errors:
        return out
    features = info["features"]
    try:
        tasks = read_tasks(root)
        out.extend(check_tasks(tasks, info, root / layout.TASKS_PATH))
        tasks = tasks[: info.get("total_tasks", len(tasks))]
    except InputError as exc:
        out.error(exc.path, exc.field, exc.problem)
        tasks = []
    try:
        episodes = read_episodes(root, int(info["total_episodes"])).to_pylist()
    except InputError as exc:
        out.error(exc.path, exc.field, exc.problem)
        return out
    found = check_episode_rows(episodes, info, root / "meta/episodes", F.video_keys(features))
    out.extend(found)
    if found.fatal:
        return out
    _check_data_files(root, info, episodes, len(tasks), out, progress)
    _check_videos(root, info, episodes, out, progress, decode)
    stats_path = root / layout.STATS_PATH
    stats = None
    if stats_path.is_file():
        try:
            stats = read_json(stats_path)
        except InputError as exc:
            out.warn(stats_path, exc.field, f"{exc.problem}: readers recompute the statistics")
            stats = {}
    if episodes:
        out.extend(check_stats(stats, features, int(info["total_frames"]), stats_path))
    return out


def _last(paths) -> Path | None:
    return max(paths) if paths else None


def _check_data_files(root: Path, info: dict, episodes: list[dict], num_tasks: int, out: Problems, progress) -> None:
    by_file: dict[Path, list[dict]] = {}
    for row in episodes:
        by_file.setdefault(layout.data_file(root, row["data/chunk_index"], row["data/file_index"]), []).append(row)
    on_disk = set((root / "data").glob("chunk-*/file-*.parquet")) if (root / "data").is_dir() else set()
    last = _last(set(by_file) | on_disk)
    for path in sorted(set(by_file) | on_disk):
        progress(str(path))
        try:
            table = read_parquet(path, "index")
        except InputError as exc:
            out.error(exc.path, exc.field, exc.problem)
            continue
        rows = by_file.get(path, [])
        found, _ = check_data_file(
            table, path, info["features"], int(info["fps"]), rows, num_tasks, int(info["total_episodes"]), path == last
        )
        if not rows and not found.errors:
            found.warn(
                path,
                None,
                "no committed episode uses this file (left by an interrupted write; dexego's readers ignore it)",
            )
        out.extend(found)


def _check_videos(root: Path, info: dict, episodes: list[dict], out: Problems, progress, decode: bool) -> None:
    fps = int(info["fps"])
    for key in F.video_keys(info["features"]):
        height, width = info["features"][key]["shape"][:2]
        by_file: dict[Path, list[dict]] = {}
        for row in episodes:
            by_file.setdefault(
                layout.video_file(root, key, row[f"videos/{key}/chunk_index"], row[f"videos/{key}/file_index"]), []
            ).append(row)
        folder = root / "videos" / key
        on_disk = set(folder.glob("chunk-*/file-*.mp4")) if folder.is_dir() else set()
        for path in sorted(on_disk - set(by_file)):
            out.warn(
                path,
                key,
                "no committed episode uses this file (left by an interrupted write; dexego's readers ignore it)",
            )
        for path, rows in sorted(by_file.items()):
            progress(str(path))
            if not path.is_file():
                out.error(path, key, "missing video file")
                continue
            try:
                probe = probe_video(path, fps, key)
            except InputError as exc:
                out.error(exc.path, exc.field, exc.problem)
                continue
            if (probe.height, probe.width) != (height, width):
                out.error(path, key, f"video is {probe.width}x{probe.height}, features say {width}x{height}")
                continue
            end = max(round(r[f"videos/{key}/to_timestamp"] * fps) for r in rows)
            frames = probe.frames
            if decode:
                try:
                    frames = decode_all(path, fps, key)
                except InputError as exc:
                    out.error(exc.path, exc.field, exc.problem)
                    continue
            if frames < end:
                out.error(path, key, f"video has {frames} frames, the episodes need {end} (truncated)")
            elif frames > end:
                out.warn(path, key, f"video has {frames} frames, the episodes use {end} (the rest is ignored: "
                                    "left by an interrupted write, the next write drops it)")  # fmt: skip
            spans = sorted((r[f"videos/{key}/from_timestamp"], r[f"videos/{key}/to_timestamp"]) for r in rows)
            for (_, prev_end), (start, _) in zip(spans, spans[1:]):
                if start < prev_end - TIMESTAMP_TOLERANCE_S:
                    out.error(path, f"videos/{key}/from_timestamp", f"episodes overlap in the video at {start:.4f}s")
