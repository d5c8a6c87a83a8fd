"""Reading a v3.0 dataset's metadata: info.json, tasks.parquet, the episodes tables, stats.json."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dexego.data import layout
from dexego.data.checks import Problems, check_episode_rows, check_info, check_tasks
from dexego.data.stats import stats_from_json
from dexego.errors import InputError
from dexego.utils.files import read_json

INFO_KEYS = (
    "codebase_version", "robot_type", "total_episodes", "total_frames", "total_tasks", "chunks_size",
    "data_files_size_in_mb", "video_files_size_in_mb", "fps", "splits", "data_path", "video_path", "features",
)  # fmt: skip


def load_info(root: Path) -> dict:
    """meta/info.json as it is (only the file and its JSON are checked)."""
    path = root / layout.INFO_PATH
    if not path.is_file():
        raise InputError(path, None, "missing: not a LeRobot dataset (no meta/info.json)")
    return read_json(path, expect=dict)


def read_info(root: Path, versions: tuple[str, ...] = ("v3", "v2")) -> dict:
    """meta/info.json, checked (:func:`dexego.data.checks.check_info`): the first error is raised."""
    info = load_info(root)
    check_info(info, root / layout.INFO_PATH, versions).raise_first()
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
    if len(set(indices)) != len(indices):
        raise InputError(path, "task_index", "repeated task_index values")
    for task, index in zip(tasks, indices):
        if not isinstance(index, int) or not 0 <= index < len(tasks):
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
    for path, table in zip(files, tables):
        for column in ("episode_index", "length"):
            if column not in table.column_names:
                raise InputError(path, column, "missing column of the episodes table")
        if not pa.types.is_integer(table.schema.field("episode_index").type):
            raise InputError(
                path, "episode_index", f"expected integers, the column holds {table.schema.field('episode_index').type}"
            )
    try:
        table = pa.concat_tables(tables, promote_options="default")
    except (pa.ArrowException, ValueError) as exc:
        raise InputError(folder, None, f"the episodes tables do not share one schema: {exc}") from None
    table = table.sort_by("episode_index")
    index = table.column("episode_index").to_numpy()
    table = table.filter(pa.array(index < total_episodes))
    if table.num_rows != total_episodes:
        raise InputError(folder, "episode_index", f"{table.num_rows} episode rows for total_episodes={total_episodes}")
    return table


def read_stats(
    root: Path, features: dict | None = None, total_frames: int | None = None
) -> dict[str, dict[str, np.ndarray]]:
    """The usable entries of meta/stats.json (with ``features``: those :func:`~dexego.data.checks.stats_problem` accepts).

    Missing, unreadable or unusable statistics are left out: readers recompute them."""
    from dexego.data.checks import stats_problem

    path = root / layout.STATS_PATH
    if not path.is_file():
        return {}
    try:
        data = read_json(path, expect=dict)
    except InputError:
        return {}
    out = {}
    for name, entry in data.items():
        if features is not None and (name not in features or stats_problem(entry, features[name], total_frames)):
            continue
        try:
            out.update(stats_from_json({name: entry}))
        except (ValueError, TypeError, AttributeError):
            continue
    return out


def episode_stats_from_row(row: dict, features: dict) -> dict[str, dict[str, np.ndarray]]:
    """Per-episode statistics stored as ``stats/{feature}/{stat}`` columns of an episodes row."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for key, value in row.items():
        if not key.startswith("stats/") or value is None:
            continue
        feat, stat = key[len("stats/") :].rsplit("/", 1)
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
        """The committed metadata, checked as ``dexego data validate`` checks it (the first error is raised)."""
        meta, problems = cls.load_checked(root)
        problems.raise_first()
        return meta

    @classmethod
    def load_checked(cls, root: Path) -> tuple[DatasetMeta, Problems]:
        """(metadata, problems): every problem of info.json, the tasks and the episodes table; raises only
        when the metadata cannot be read at all."""
        from dexego.data import features as F

        root = Path(root)
        info = read_info(root, versions=("v3",))
        problems = Problems()
        problems.extend(check_info(info, root / layout.INFO_PATH).warnings)
        tasks = read_tasks(root)
        problems.extend(check_tasks(tasks, info, root / layout.TASKS_PATH))
        if "total_tasks" in info:
            tasks = tasks[: info["total_tasks"]]
        episodes = read_episodes(root, int(info["total_episodes"]))
        problems.extend(
            check_episode_rows(episodes.to_pylist(), info, root / "meta/episodes", F.video_keys(info["features"]))
        )
        return cls(root, info, tasks, episodes, read_stats(root, info["features"], int(info["total_frames"]))), problems


def tasks_table(tasks: list[str]) -> pa.Table:
    """meta/tasks.parquet: a ``task_index`` column indexed by the task string (pandas index named ``task``)."""
    table = pa.table({"task_index": pa.array(range(len(tasks)), pa.int64()), "task": pa.array(tasks, pa.string())})
    pandas_meta = {
        "index_columns": ["task"],
        "column_indexes": [
            {
                "name": None,
                "field_name": None,
                "pandas_type": "unicode",
                "numpy_type": "object",
                "metadata": {"encoding": "UTF-8"},
            }
        ],
        "columns": [
            {
                "name": "task_index",
                "field_name": "task_index",
                "pandas_type": "int64",
                "numpy_type": "int64",
                "metadata": None,
            },
            {"name": "task", "field_name": "task", "pandas_type": "unicode", "numpy_type": "object", "metadata": None},
        ],
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.0",
    }
    return table.replace_schema_metadata({b"pandas": json.dumps(pandas_meta).encode()})
