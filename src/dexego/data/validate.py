"""``validate_dataset``: every problem of a v3.0 dataset, each with its file and field."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dexego.actions import get_space
from dexego.data import features as F
from dexego.data import layout
from dexego.data.meta import INFO_KEYS, read_episodes, read_parquet, read_tasks
from dexego.data.reader import _column_to_numpy
from dexego.data.video import probe_video
from dexego.errors import InputError
from dexego.utils.files import read_json

EPISODE_COLUMNS = ("episode_index", "tasks", "length", "data/chunk_index", "data/file_index", "dataset_from_index",
                   "dataset_to_index", "meta/episodes/chunk_index", "meta/episodes/file_index")  # fmt: skip
TIMESTAMP_TOLERANCE_S = 1e-4


@dataclass(frozen=True)
class Problem:
    path: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.field}: {self.message}" if self.field else f"{self.path}: {self.message}"


def validate_dataset(root: str | Path, progress: Callable[[str], None] | None = None) -> list[Problem]:
    """Every problem found in the dataset at ``root``; ``progress`` is called with each data/video file before it is read."""
    root = Path(root)
    progress = progress or (lambda path: None)
    problems: list[Problem] = []

    def report(path, field, message):
        problems.append(Problem(str(path), field or "", message))

    info_path = root / layout.INFO_PATH
    try:
        info = read_json(info_path, expect=dict)
    except InputError as exc:
        report(info_path, exc.field, exc.problem)
        return problems
    for key in INFO_KEYS:
        if key not in info:
            report(info_path, key, "missing key")
    if problems:
        return problems
    if not str(info["codebase_version"]).startswith("v3"):
        report(info_path, "codebase_version", f"{info['codebase_version']}: only v3.x datasets are validated")
        return problems
    fps = int(info["fps"])
    features = info["features"]
    for name in F.DEFAULT_FEATURES:
        if name not in features:
            report(info_path, f"features.{name}", "missing default feature")
    for name, feat in features.items():
        for key in ("dtype", "shape", "names"):
            if key not in feat:
                report(info_path, f"features.{name}.{key}", "missing")
        if feat.get("dtype") == "video" and "info" not in feat:
            report(info_path, f"features.{name}.info", "missing video info")
    if info["splits"] != {"train": f"0:{info['total_episodes']}"} and "train" not in info["splits"]:
        report(info_path, "splits", "no train split")

    try:
        tasks = read_tasks(root)
        if len(tasks) != info["total_tasks"]:
            report(root / layout.TASKS_PATH, "task_index", f"{len(tasks)} tasks, info.json total_tasks={info['total_tasks']}")
    except InputError as exc:
        report(exc.path, exc.field, exc.problem)
        tasks = []
    try:
        episodes = read_episodes(root, int(info["total_episodes"])).to_pylist()
    except InputError as exc:
        report(exc.path, exc.field, exc.problem)
        return problems

    episodes_dir = root / "meta/episodes"
    expected_from = 0
    vkeys = F.video_keys(features)
    for i, row in enumerate(episodes):
        required = list(EPISODE_COLUMNS) + [f"videos/{k}/{c}" for k in vkeys for c in ("chunk_index", "file_index", "from_timestamp", "to_timestamp")]
        missing = [c for c in required if c not in row]
        if missing:
            report(episodes_dir, missing[0], f"episode row {i}: missing column")
            return problems
        if row["episode_index"] != i:
            report(episodes_dir, "episode_index", f"expected {i}, got {row['episode_index']} (not continuous)")
        if row["dataset_from_index"] != expected_from:
            report(episodes_dir, "dataset_from_index", f"episode {i}: {row['dataset_from_index']}, expected {expected_from}")
        if row["dataset_to_index"] - row["dataset_from_index"] != row["length"]:
            report(episodes_dir, "length", f"episode {i}: length {row['length']} != to - from index")
        for key in vkeys:
            span = row[f"videos/{key}/to_timestamp"] - row[f"videos/{key}/from_timestamp"]
            if abs(span * fps - row["length"]) > 0.5:
                report(episodes_dir, f"videos/{key}/to_timestamp", f"episode {i}: video span {span:.4f}s != length {row['length']} at {fps} fps")
        expected_from = row["dataset_to_index"]
    if expected_from != info["total_frames"]:
        report(info_path, "total_frames", f"{info['total_frames']}, the episodes hold {expected_from}")

    _check_data_files(root, info, episodes, tasks, report, progress)
    _check_videos(root, info, episodes, report, progress)
    stats_path = root / layout.STATS_PATH
    if episodes and not stats_path.is_file():
        report(stats_path, None, "missing")
    elif stats_path.is_file():
        try:
            stats = read_json(stats_path, expect=dict)
            for name in F.numeric_keys(features):
                if name not in stats:
                    report(stats_path, name, "no statistics for this feature")
        except InputError as exc:
            report(stats_path, exc.field, exc.problem)
    return problems


def _check_data_files(root: Path, info: dict, episodes: list[dict], tasks: list[str], report, progress) -> None:
    features = info["features"]
    fps = int(info["fps"])
    declared = [k for k, v in features.items() if v.get("dtype") not in ("video", "image")]
    by_file: dict[tuple[int, int], list[dict]] = {}
    for row in episodes:
        by_file.setdefault((row["data/chunk_index"], row["data/file_index"]), []).append(row)
    space = get_space(F.STORED_SPACE)
    for (chunk, file), rows in sorted(by_file.items()):
        path = layout.data_file(root, chunk, file)
        progress(str(path))
        try:
            table = read_parquet(path, "index")
        except InputError as exc:
            report(exc.path, exc.field, exc.problem)
            continue
        for name in table.column_names:
            if name not in declared:
                report(path, name, "column not declared in meta/info.json features (unknown feature)")
        missing = [c for c in declared if c not in table.column_names]
        for name in missing:
            report(path, name, "declared feature missing")
        if missing:
            continue
        cols = {name: _column_to_numpy(table.column(name), path, name) for name in declared}
        for name in declared:
            shape = features[name]["shape"]
            width = 1 if list(shape) == [1] else int(np.prod(shape))
            got = 1 if cols[name].ndim == 1 else cols[name].shape[1]
            if got != width:
                report(path, name, f"rows have {got} values, features say shape {shape}")
        described = sum(r["length"] for r in rows)
        if table.num_rows != described:
            report(path, "index", f"{table.num_rows} rows, the episodes table describes {described}")
        ep_col = cols[F.EPISODE_INDEX].reshape(-1)
        for row in rows:
            i = row["episode_index"]
            sel = np.flatnonzero(ep_col == i)
            if len(sel) != row["length"]:
                report(path, F.EPISODE_INDEX, f"episode {i}: {len(sel)} rows, length says {row['length']}")
                continue
            index = cols[F.INDEX].reshape(-1)[sel]
            if not np.array_equal(index, np.arange(row["dataset_from_index"], row["dataset_to_index"])):
                report(path, F.INDEX, f"episode {i}: global index not continuous from {row['dataset_from_index']}")
            frame_index = cols[F.FRAME_INDEX].reshape(-1)[sel]
            if not np.array_equal(frame_index, np.arange(row["length"])):
                report(path, F.FRAME_INDEX, f"episode {i}: frame_index not 0..{row['length'] - 1}")
            ts = cols[F.TIMESTAMP].reshape(-1)[sel].astype(np.float64)
            if len(ts) > 1 and not (np.diff(ts) > 0).all():
                report(path, F.TIMESTAMP, f"episode {i}: timestamps not strictly increasing")
            elif np.abs(ts - frame_index / fps).max(initial=0) > TIMESTAMP_TOLERANCE_S:
                report(path, F.TIMESTAMP, f"episode {i}: timestamps differ from frame_index / fps")
            task_index = cols[F.TASK_INDEX].reshape(-1)[sel]
            if len(task_index) and (task_index.min() < 0 or task_index.max() >= max(len(tasks), 1)):
                report(path, F.TASK_INDEX, f"episode {i}: task_index out of range 0..{len(tasks) - 1}")
        for name in declared:
            values = cols[name]
            if values.dtype.kind != "f":
                continue
            if name == F.KEYPOINTS and F.HAND_VALID in cols:
                kp = values.reshape(len(values), 2, 21, 3)[:, :, list(space.required_keypoints)]
                bad = cols[F.HAND_VALID].astype(bool) & ~np.isfinite(kp).all(axis=(-1, -2))
                if bad.any():
                    r = int(np.argwhere(bad)[0][0])
                    report(path, name, f"NaN or inf keypoints of a valid hand (episode {int(ep_col[r])}, frame {int(cols[F.FRAME_INDEX].reshape(-1)[r])})")
            elif name == F.HAND_MANO and F.HAND_VALID in cols:
                bad = cols[F.HAND_VALID].astype(bool) & ~np.isfinite(values.reshape(len(values), 2, -1)).all(axis=-1)
                if bad.any():
                    r = int(np.argwhere(bad)[0][0])
                    report(path, name, f"NaN or inf MANO parameters of a valid hand (episode {int(ep_col[r])}, frame {int(cols[F.FRAME_INDEX].reshape(-1)[r])})")
            elif not np.isfinite(values).all():
                r = int(np.argwhere(~np.isfinite(values.reshape(len(values), -1)).all(1))[0][0])
                report(path, name, f"NaN or inf (episode {int(ep_col[r])}, frame {int(cols[F.FRAME_INDEX].reshape(-1)[r])})")


def _check_videos(root: Path, info: dict, episodes: list[dict], report, progress) -> None:
    fps = int(info["fps"])
    for key in F.video_keys(info["features"]):
        height, width = info["features"][key]["shape"][:2]
        by_file: dict[tuple[int, int], list[dict]] = {}
        for row in episodes:
            by_file.setdefault((row[f"videos/{key}/chunk_index"], row[f"videos/{key}/file_index"]), []).append(row)
        for (chunk, file), rows in sorted(by_file.items()):
            path = layout.video_file(root, key, chunk, file)
            progress(str(path))
            if not path.is_file():
                report(path, key, "missing video file")
                continue
            try:
                probe = probe_video(path, fps, key)
            except InputError as exc:
                report(exc.path, exc.field, exc.problem)
                continue
            if (probe.height, probe.width) != (height, width):
                report(path, key, f"video is {probe.width}x{probe.height}, features say {width}x{height}")
            end = max(round(r[f"videos/{key}/to_timestamp"] * fps) for r in rows)
            if probe.frames < end:
                report(path, key, f"video has {probe.frames} frames, the episodes need {end} (truncated)")
            elif probe.frames > end:
                report(path, key, f"video has {probe.frames} frames, the episodes describe {end}")
            starts = sorted((r[f"videos/{key}/from_timestamp"], r[f"videos/{key}/to_timestamp"]) for r in rows)
            for (_, prev_end), (start, _) in zip(starts, starts[1:]):
                if start < prev_end - TIMESTAMP_TOLERANCE_S:
                    report(path, f"videos/{key}/from_timestamp", f"episodes overlap in the video at {start:.4f}s")
