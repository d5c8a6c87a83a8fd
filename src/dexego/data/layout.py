"""The LeRobot v3.0 on-disk layout: paths, defaults and atomic file replacement."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from dexego.utils.files import TMP_MARK, atomic_file, publish, temp_path, write_json_atomic  # noqa: F401 (the writer's)

CODEBASE_VERSION = "v3.0"
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
DEFAULT_CHUNKS_SIZE = 1000
DEFAULT_DATA_FILE_SIZE_MB = 100
DEFAULT_VIDEO_FILE_SIZE_MB = 200


def data_file(root: Path, chunk: int, file: int) -> Path:
    return root / DATA_PATH.format(chunk_index=chunk, file_index=file)


def video_file(root: Path, key: str, chunk: int, file: int) -> Path:
    return root / VIDEO_PATH.format(video_key=key, chunk_index=chunk, file_index=file)


def episodes_file(root: Path, chunk: int, file: int) -> Path:
    return root / EPISODES_PATH.format(chunk_index=chunk, file_index=file)


def next_file(chunk: int, file: int, chunks_size: int) -> tuple[int, int]:
    return (chunk + 1, 0) if file + 1 >= chunks_size else (chunk, file + 1)


def write_parquet_atomic(path: Path, table: pa.Table) -> None:
    with atomic_file(path) as tmp:
        pq.write_table(table, tmp)


def remove_temporaries(root: Path) -> list[Path]:
    """Delete the leftovers of an interrupted writer; returns what was removed."""
    removed = []
    for path in root.rglob(f"*{TMP_MARK}*"):
        if path.is_file():
            path.unlink()
            removed.append(path)
    return removed
