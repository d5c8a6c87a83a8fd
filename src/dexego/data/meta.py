"""Reading a v3.0 dataset's metadata: info.json, tasks.parquet, the episodes tables, stats.json."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dexego.data import layout
from dexego.data.stats import stats_from_json
from dexego.errors import InputError
from dexego.utils.files import read_json

INFO_KEYS = (
    "codebase_version", "robot_type", "total_episodes", "total_frames", "total_tasks", "chunks_size",
    "data_files_size_in_mb", "video_files_size_in_mb", "fps", "splits", "data_path", "video_path", "features",
)  # fmt: skip


def read_info(root: Path) -> dict:
    path = root / layout.INFO_PATH
    if not path.is_file():
        raise InputError(path, None, "missing: not a LeRobot dataset (no meta/info.json)")
    info = read_json(path, expect=dict)
    for key in ("codebase_version", "fps", "features", "total_episodes", "total_frames"):
        if key not in info:
            raise InputError(path, key, "missing")
    return info


def read_parquet(path: Path, field: str | None = None) -> pa.Table:
    if not path.is_file():
        raise InputError(path, field, "missing parquet file")
    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(path, field, f"unreadable parquet: {exc}") from exc


def read_tasks(root: Path) -> list[str]:
    """Task strings ordered by task_index."""
    path = root / layout.TASKS_PATH
    table = read_parquet(path, "task_index")
    names = table.column_names
    task_col = "task" if "task" in names else "__index_level_0__" if "__index_level_0__" in names else None
    if task_col is None or "task_index" not in names:
        raise InputError(path, "task", "expected a 'task' index and a 'task_index' column")
    tasks = table.column(task_col).to_pylist()
    indices = table.column("task_index").to_pylist()
    out = [""] * len(tasks)
    for task, index in zip(tasks, indices):
        if not 0 <= index < len(tasks):
            raise InputError(path, "task_index", f"task_index {index} out of range 0..{len(tasks) - 1}")
        out[index] = task
    return out


def read_episodes(root: Path, total_episodes: int) -> pa.Table:
    """All episode rows (sorted by episode_index), limited to the committed ``total_episodes``."""
    folder = root / "meta" / "episodes"
    files = sorted(p for p in folder.glob("chunk-*/file-*.parquet")) if folder.is_dir() else []
    if total_episodes and not files:
        raise InputError(folder, None, "missing episodes tables")
    tables = [read_parquet(p, "episode_index") for p in files]
    if not tables:
        return pa.table({"episode_index": pa.array([], pa.int64())})
    table = pa.concat_tables(tables, promote_options="default")
    table = table.sort_by("episode_index")
    index = table.column("episode_index").to_numpy()
    table = table.filter(pa.array(index < total_episodes))
    if table.num_rows != total_episodes:
        raise InputError(folder, "episode_index", f"{table.num_rows} episode rows for total_episodes={total_episodes}")
    return table


def read_stats(root: Path) -> dict[str, dict[str, np.ndarray]]:
    path = root / layout.STATS_PATH
    if not path.is_file():
        return {}
    data = read_json(path, expect=dict)
    try:
        return stats_from_json(data)
    except (ValueError, TypeError) as exc:
        raise InputError(path, None, f"invalid statistics: {exc}") from exc


def episode_stats_from_row(row: dict, features: dict) -> dict[str, dict[str, np.ndarray]]:
    """Per-episode statistics stored as ``stats/{feature}/{stat}`` columns of an episodes row."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for key, value in row.items():
        if not key.startswith("stats/") or value is None:
            continue
        feat, stat = key[len("stats/"):].rsplit("/", 1)
        arr = np.asarray(value, dtype=np.int64 if stat == "count" else np.float64)
        if stat != "count" and features.get(feat, {}).get("dtype") == "video":
            arr = arr.reshape(3, 1, 1)
        out.setdefault(feat, {})[stat] = arr
    return out


@dataclass
class DatasetMeta:
    root: Path
    info: dict
    tasks: list[str]
    episodes: pa.Table
    stats: dict = field(default_factory=dict)

    @classmethod
    def load(cls, root: Path) -> DatasetMeta:
        root = Path(root)
        info = read_info(root)
        version = str(info["codebase_version"])
        if not version.startswith("v3"):
            raise InputError(root / layout.INFO_PATH, "codebase_version", f"{version} is not v3.x (use read_v21 for v2.1)")
        return cls(root, info, read_tasks(root), read_episodes(root, int(info["total_episodes"])), read_stats(root))


def tasks_table(tasks: list[str]) -> pa.Table:
    """meta/tasks.parquet: a ``task_index`` column indexed by the task string (pandas index named ``task``)."""
    table = pa.table({"task_index": pa.array(range(len(tasks)), pa.int64()), "task": pa.array(tasks, pa.string())})
    pandas_meta = {
        "index_columns": ["task"],
        "column_indexes": [{"name": None, "field_name": None, "pandas_type": "unicode", "numpy_type": "object", "metadata": {"encoding": "UTF-8"}}],
        "columns": [
            {"name": "task_index", "field_name": "task_index", "pandas_type": "int64", "numpy_type": "int64", "metadata": None},
            {"name": "task", "field_name": "task", "pandas_type": "unicode", "numpy_type": "object", "metadata": None},
        ],
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.0",
    }
    return table.replace_schema_metadata({b"pandas": json.dumps(pandas_meta).encode()})
