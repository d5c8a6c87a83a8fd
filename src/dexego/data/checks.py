"""The checks every reader of a dataset shares with ``dexego data validate``.

One rule book, three depths:

- metadata (``check_info``, ``check_tasks``, ``check_episode_rows``): run whenever a
  dataset is opened (:class:`dexego.data.reader.Dataset`), so training, conversion,
  retargeting and evaluation refuse what ``validate`` rejects, with the same message;
- values (``check_data_file``): run on each data file as a reader loads it, and by
  ``validate`` on every file;
- video (``check_video``): the size and frame count whenever a reader opens a video file;
  ``validate`` also decodes every frame.

A :class:`Problem` is an ``error`` (reading or training would be wrong or fail) or a
``warning`` (something readers repair themselves: statistics that are missing, stale or
degenerate are recomputed or floored; optional LeRobot fields that are absent; the
uncommitted tail an interrupted writer leaves behind, which readers ignore because they
trust only what ``meta/info.json`` lists). A warning never stops a reader or ``validate``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from dexego.data import features as F
from dexego.errors import InputError

ERROR, WARNING = "error", "warning"
REQUIRED_INFO_KEYS = ("codebase_version", "fps", "features", "total_episodes", "total_frames")
OPTIONAL_INFO_KEYS = ("robot_type", "total_tasks", "chunks_size", "data_files_size_in_mb", "video_files_size_in_mb",
                      "splits", "data_path", "video_path")  # fmt: skip
EPISODE_COLUMNS = (
    "episode_index",
    "length",
    "data/chunk_index",
    "data/file_index",
    "dataset_from_index",
    "dataset_to_index",
)
OPTIONAL_EPISODE_COLUMNS = ("tasks", "meta/episodes/chunk_index", "meta/episodes/file_index")
NON_NUMERIC = ("video", "image", "string")
TIMESTAMP_TOLERANCE_S = 1e-4
# Values beyond these magnitudes make samples meaningless (metres for positions, pixels for intrinsics).
MAX_ABS = {F.KEYPOINTS: 1e3, F.STATE: 1e3, F.ACTION: 1e3, F.CAMERA_POSE: 1e4, F.INTRINSICS: 1e6, F.HAND_MANO: 1e3}
MAX_ABS_DEFAULT = 1e9
# The widths dexego's own features must have (a foreign dataset without them is not checked against these).
DEXEGO_WIDTHS = {F.KEYPOINTS: 126, F.HAND_VALID: 2, F.CAMERA_POSE: 16, F.INTRINSICS: 4}
# Declared with info.json's "embodiment": one embodiment per dataset unless it says "mixed".
MIXED = "mixed"


@dataclass(frozen=True)
class Problem:
    path: str
    field: str
    message: str
    severity: str = ERROR

    def __str__(self) -> str:
        return f"{self.path}: {self.field}: {self.message}" if self.field else f"{self.path}: {self.message}"

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def to_error(self) -> InputError:
        return InputError(self.path, self.field or None, self.message)


class Problems(list):
    """A list of :class:`Problem` with ``error``/``warn`` helpers; ``fatal``: later checks cannot run."""

    fatal = False

    def error(self, path, field, message) -> None:
        self.append(Problem(str(path), field or "", message, ERROR))

    def warn(self, path, field, message) -> None:
        self.append(Problem(str(path), field or "", message, WARNING))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self if not p.is_error]

    def raise_first(self) -> None:
        """Raise the first error as an :class:`InputError` (warnings pass)."""
        for problem in self:
            if problem.is_error:
                raise problem.to_error()


def is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def feature_width(feature: dict) -> int:
    return int(np.prod(feature["shape"]))


# ------------------------------------------------------------------ info.json
def check_info(info, path: str | Path, versions: tuple[str, ...] = ("v3",)) -> Problems:
    """Schema of meta/info.json: keys, types, features. Errors stop every reader."""
    out = Problems()
    if not isinstance(info, dict):
        out.error(path, None, f"expected a JSON object, got {type(info).__name__}")
        return out
    for key in REQUIRED_INFO_KEYS:
        if key not in info:
            out.error(path, key, "missing")
    if out:
        return out
    version = info["codebase_version"]
    if not isinstance(version, str) or not version.startswith(versions):
        out.error(
            path,
            "codebase_version",
            f"{version!r} is not a supported version ({', '.join(v + '.x' for v in versions)})",
        )
    fps = info["fps"]
    if not is_int(fps) or fps <= 0:
        out.error(path, "fps", f"must be a positive integer (frames per second), got {fps!r}")
    for key in ("total_episodes", "total_frames", "total_tasks", "chunks_size"):
        if key in info and (not is_int(info[key]) or info[key] < 0):
            out.error(path, key, f"must be a non-negative integer, got {info[key]!r}")
    for key in OPTIONAL_INFO_KEYS:
        if key not in info:
            out.warn(path, key, "missing (optional for dexego's readers; LeRobot writes it)")
    splits = info.get("splits")
    if "splits" in info and not (isinstance(splits, dict) and all(isinstance(v, str) for v in splits.values())):
        out.warn(path, "splits", f"expected a mapping of split names to 'start:end' ranges, got {splits!r}")
    embodiment = info.get("embodiment")
    if embodiment is not None and (not isinstance(embodiment, str) or not embodiment):
        out.error(path, "embodiment", f"expected a name (or {MIXED!r}), got {embodiment!r}")
    out.extend(check_features(info["features"], path, fps if is_int(fps) else None))
    return out


def check_features(features, path, fps: int | None) -> Problems:
    out = Problems()
    if not isinstance(features, dict):
        out.error(
            path,
            "features",
            f"expected a mapping of feature names to {{dtype, shape, names}}, got {type(features).__name__}",
        )
        return out
    for name, feat in features.items():
        where = f"features.{name}"
        if not isinstance(feat, dict):
            out.error(path, where, f"expected a mapping with dtype, shape and names, got {type(feat).__name__}")
            continue
        dtype = feat.get("dtype")
        if "dtype" not in feat:
            out.error(path, f"{where}.dtype", "missing")
        elif not isinstance(dtype, str):
            out.error(path, f"{where}.dtype", f"expected a dtype name, got {dtype!r}")
        elif dtype not in NON_NUMERIC:
            try:
                kind = np.dtype(dtype).kind
            except TypeError:
                kind = None
            if kind not in ("b", "i", "u", "f"):
                out.error(path, f"{where}.dtype", f"unknown dtype {dtype!r}")
        shape = feat.get("shape")
        if "shape" not in feat:
            out.error(path, f"{where}.shape", "missing")
        elif not (isinstance(shape, (list, tuple)) and shape and all(is_int(s) and s > 0 for s in shape)):
            out.error(path, f"{where}.shape", f"expected a list of positive integers, got {shape!r}")
        elif dtype == "video" and len(shape) != 3:
            out.error(path, f"{where}.shape", f"a video feature has shape (height, width, channels), got {shape!r}")
        elif name in DEXEGO_WIDTHS and int(np.prod(shape)) != DEXEGO_WIDTHS[name]:
            out.error(
                path, f"{where}.shape", f"dexego's {name} has {DEXEGO_WIDTHS[name]} values, the shape says {shape!r}"
            )
        elif name in (F.STATE, F.ACTION) and F.KEYPOINTS in features and int(np.prod(shape)) != _stored_width():
            out.error(
                path,
                f"{where}.shape",
                f"dexego's {name} ({F.STORED_SPACE}) has {_stored_width()} values, the shape says {shape!r}",
            )
        if "names" not in feat:
            out.warn(path, f"{where}.names", "missing")
        if dtype == "video":
            video_info = feat.get("info")
            if not isinstance(video_info, dict):
                out.warn(path, f"{where}.info", "missing video info (height, width, codec, fps)")
            elif isinstance(shape, (list, tuple)) and len(shape) == 3:
                for key, index in (("video.height", 0), ("video.width", 1)):
                    if key in video_info and video_info[key] != shape[index]:
                        out.error(path, f"{where}.info.{key}", f"{video_info[key]!r} differs from shape {shape!r}")
                if fps is not None and "video.fps" in video_info and video_info["video.fps"] != fps:
                    out.error(
                        path,
                        f"{where}.info.video.fps",
                        f"{video_info['video.fps']!r} differs from the dataset's fps {fps}",
                    )
    for name in (F.EPISODE_INDEX, F.INDEX, F.FRAME_INDEX, F.TIMESTAMP, F.TASK_INDEX):
        if name not in features:
            out.error(path, f"features.{name}", "missing default feature")
    return out


def _stored_width() -> int:
    from dexego.actions import get_space

    return get_space(F.STORED_SPACE).dim


# ------------------------------------------------------------------ tasks and episodes
def check_tasks(tasks: list[str], info: dict, path) -> Problems:
    out = Problems()
    total = info.get("total_tasks")
    if is_int(total):
        if len(tasks) < total:
            out.error(path, "task_index", f"{len(tasks)} tasks, info.json total_tasks={total}")
        elif len(tasks) > total:
            out.warn(path, "task_index", f"{len(tasks) - total} task(s) beyond total_tasks={total} "
                                         "(left by an interrupted write; readers ignore them)")  # fmt: skip
    return out


def check_episode_rows(rows: list[dict], info: dict, folder, video_keys: list[str]) -> Problems:
    """The committed episode rows (``episode_index < total_episodes``): columns, continuity, embodiment."""
    out = Problems()
    fps = info["fps"]
    expected_from = 0
    required = list(EPISODE_COLUMNS) + [
        f"videos/{k}/{c}" for k in video_keys for c in ("chunk_index", "file_index", "from_timestamp", "to_timestamp")
    ]
    declared = info.get("embodiment")
    first_embodiment = None
    for i, row in enumerate(rows):
        missing = [c for c in required if c not in row or row[c] is None]
        if missing:
            out.error(folder, missing[0], f"episode row {i}: missing column")
            out.fatal = True
            return out
        bad = [c for c in required if not c.endswith("_timestamp") and not is_int(row[c])]
        if bad:
            out.error(folder, bad[0], f"episode row {i}: expected an integer, got {row[bad[0]]!r}")
            out.fatal = True
            return out
        if row["episode_index"] != i:
            out.error(folder, "episode_index", f"expected {i}, got {row['episode_index']} (not continuous)")
            out.fatal = True
            return out
        if row["length"] < 1:
            out.error(folder, "length", f"episode {i}: length {row['length']} (an episode has at least one frame)")
        if row["dataset_from_index"] != expected_from:
            out.error(
                folder, "dataset_from_index", f"episode {i}: {row['dataset_from_index']}, expected {expected_from}"
            )
        if row["dataset_to_index"] - row["dataset_from_index"] != row["length"]:
            out.error(folder, "length", f"episode {i}: length {row['length']} != dataset_to_index - dataset_from_index")
        for key in video_keys:
            start, end = row[f"videos/{key}/from_timestamp"], row[f"videos/{key}/to_timestamp"]
            if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (start, end)) or start < 0:
                out.error(
                    folder,
                    f"videos/{key}/from_timestamp",
                    f"episode {i}: video span {start!r}..{end!r} is not a valid time range",
                )
            elif abs((end - start) * fps - row["length"]) > 0.5:
                out.error(
                    folder,
                    f"videos/{key}/to_timestamp",
                    f"episode {i}: video span {end - start:.4f}s != length {row['length']} at {fps} fps",
                )
        embodiment = row.get("embodiment")
        if embodiment:
            first_embodiment = first_embodiment or embodiment
            allowed = declared if declared and declared != MIXED else first_embodiment
            if declared != MIXED and embodiment != allowed:
                out.error(folder, "embodiment", f"episode {i} is {embodiment!r}, the dataset holds {allowed!r} episodes "
                                                f"(declare \"embodiment\": \"{MIXED}\" in meta/info.json to mix embodiments)")  # fmt: skip
        expected_from = row["dataset_to_index"]
    if is_int(info["total_frames"]) and expected_from != info["total_frames"] and not out.errors:
        out.error(
            Path(folder).parent / "info.json",
            "total_frames",
            f"{info['total_frames']}, the episodes hold {expected_from}",
        )
    return out


# ------------------------------------------------------------------ data files
def column_to_numpy(column: pa.ChunkedArray, path, name: str) -> np.ndarray:
    """A parquet column as (N,) or (N, D); rows of uneven length or non-numeric values are an InputError."""
    array = column.combine_chunks()
    n = len(array)
    if pa.types.is_fixed_size_list(array.type) or pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
        if array.null_count:
            raise InputError(path, name, f"{array.null_count} null row(s)")
        if not pa.types.is_fixed_size_list(array.type):
            lengths = np.diff(np.asarray(array.offsets.to_numpy(zero_copy_only=False)))
            if len(lengths) and (lengths != lengths[0]).any():
                r = int(np.flatnonzero(lengths != lengths[0])[0])
                raise InputError(
                    path, name, f"rows have different lengths (row 0 has {lengths[0]} values, row {r} has {lengths[r]})"
                )
        values = array.flatten()
        if not (
            pa.types.is_integer(values.type) or pa.types.is_floating(values.type) or pa.types.is_boolean(values.type)
        ):
            raise InputError(path, name, f"expected numbers, the column holds {values.type}")
        values = values.to_numpy(zero_copy_only=False)
        return values.reshape(n, -1) if n else values.reshape(0, 0)
    if not (pa.types.is_integer(array.type) or pa.types.is_floating(array.type) or pa.types.is_boolean(array.type)):
        raise InputError(path, name, f"expected numbers, the column holds {array.type}")
    if array.null_count:
        raise InputError(path, name, f"{array.null_count} null row(s)")
    return array.to_numpy(zero_copy_only=False)


def check_data_file(table: pa.Table, path, features: dict, fps: int, rows: list[dict], num_tasks: int, total_episodes: int,
                    last_file: bool) -> tuple[Problems, dict[str, np.ndarray]]:  # fmt: skip
    """Schema and values of one data file holding the committed episodes ``rows``; returns (problems, columns).

    Rows of episodes at or beyond ``total_episodes`` at the end of the last data file are the
    uncommitted tail of an interrupted write: a warning, and not part of the returned columns.
    """
    out = Problems()
    declared = [k for k, v in features.items() if v.get("dtype") not in NON_NUMERIC]
    stored = [k for k, v in features.items() if v.get("dtype") not in ("video", "image")]
    for name in table.column_names:
        if name not in stored and not name.startswith("__"):
            out.error(path, name, "column not declared in meta/info.json features (unknown feature)")
    for name in stored:
        if name not in table.column_names:
            out.error(path, name, "declared feature missing from the data file")
    for name in stored:
        if name not in declared and name in table.column_names and not pa.types.is_string(table.schema.field(name).type) \
                and not pa.types.is_large_string(table.schema.field(name).type):  # fmt: skip
            out.error(path, name, f"features say string, the column holds {table.schema.field(name).type}")
    if out.errors:
        return out, {}
    cols: dict[str, np.ndarray] = {}
    for name in declared:
        try:
            cols[name] = column_to_numpy(table.column(name), path, name)
        except InputError as exc:
            out.error(path, name, exc.problem)
    if out.errors:
        return out, {}
    for name in declared:
        feat = features[name]
        width = feature_width(feat)
        got = 1 if cols[name].ndim == 1 else cols[name].shape[1]
        if got != width:
            out.error(path, name, f"rows have {got} values, features say shape {list(feat['shape'])}")
            continue
        want = np.dtype(feat["dtype"]).kind
        have = cols[name].dtype.kind
        if (want == "f") != (have == "f") and not (want == "f" and have in "iu"):
            out.error(path, name, f"values are {cols[name].dtype}, features say {feat['dtype']}")
    if out.errors:
        return out, {}

    episodes = cols[F.EPISODE_INDEX].reshape(-1)
    committed = episodes < total_episodes
    if not committed.all():
        first = int(np.flatnonzero(~committed)[0])
        if last_file and committed[:first].all() and not committed[first:].any():
            out.warn(path, F.EPISODE_INDEX, f"{len(episodes) - first} row(s) of episode(s) beyond total_episodes={total_episodes} at the "
                                            "end (left by an interrupted write; readers ignore them, the next write drops them)")  # fmt: skip
        else:
            out.error(
                path, F.EPISODE_INDEX, f"rows of episode {int(episodes[first])}, beyond total_episodes={total_episodes}"
            )
            return out, {}
        cols = {name: col[:first] for name, col in cols.items()}
        episodes = episodes[:first]
    described = sum(r["length"] for r in rows)
    if len(episodes) != described:
        out.error(path, "index", f"{len(episodes)} rows, the episodes table describes {described}")
    frame_index = cols[F.FRAME_INDEX].reshape(-1)
    for row in rows:
        i = row["episode_index"]
        sel = np.flatnonzero(episodes == i)
        if len(sel) != row["length"]:
            out.error(path, F.EPISODE_INDEX, f"episode {i}: {len(sel)} rows, length says {row['length']}")
            continue
        if len(sel) and not np.array_equal(sel, np.arange(sel[0], sel[0] + len(sel))):
            out.error(path, F.EPISODE_INDEX, f"episode {i}: rows are not contiguous")
            continue
        index = cols[F.INDEX].reshape(-1)[sel]
        if not np.array_equal(index, np.arange(row["dataset_from_index"], row["dataset_to_index"])):
            out.error(path, F.INDEX, f"episode {i}: global index not continuous from {row['dataset_from_index']}")
        if not np.array_equal(frame_index[sel], np.arange(row["length"])):
            out.error(path, F.FRAME_INDEX, f"episode {i}: frame_index not 0..{row['length'] - 1}")
        ts = cols[F.TIMESTAMP].reshape(-1)[sel].astype(np.float64)
        if not np.isfinite(ts).all():
            out.error(
                path,
                F.TIMESTAMP,
                f"episode {i}: NaN or inf timestamp at frame {int(np.flatnonzero(~np.isfinite(ts))[0])}",
            )
        elif len(ts) > 1 and not (np.diff(ts) > 0).all():
            out.error(
                path,
                F.TIMESTAMP,
                f"episode {i}: timestamps not strictly increasing (frame {int(np.flatnonzero(np.diff(ts) <= 0)[0]) + 1})",
            )
        elif np.abs(ts - np.arange(len(ts)) / fps).max(initial=0) > TIMESTAMP_TOLERANCE_S:
            out.error(path, F.TIMESTAMP, f"episode {i}: timestamps differ from frame_index / fps ({fps})")
        task_index = cols[F.TASK_INDEX].reshape(-1)[sel]
        if len(task_index) and (task_index.min() < 0 or task_index.max() >= max(num_tasks, 1)):
            out.error(path, F.TASK_INDEX, f"episode {i}: task_index {int(task_index.max() if task_index.max() >= num_tasks else task_index.min())} "
                                          f"out of range 0..{num_tasks - 1}")  # fmt: skip
    out.extend(check_values(cols, path, episodes, frame_index))
    return out, cols


def check_values(cols: dict[str, np.ndarray], path, episodes: np.ndarray, frame_index: np.ndarray) -> Problems:
    """NaN/inf and magnitudes: an error naming the file, episode, frame and feature.

    Keypoints and MANO parameters may be NaN only for hands marked invalid.
    """
    from dexego.actions import get_space

    out = Problems()

    def where(row: int) -> str:
        return f"episode {int(episodes[row])}, frame {int(frame_index[row])}"

    valid = cols[F.HAND_VALID].astype(bool) if F.HAND_VALID in cols else None
    for name, values in cols.items():
        if values.dtype.kind != "f" or not len(values):
            continue
        flat = values.reshape(len(values), -1)
        finite = np.isfinite(flat)
        if name == F.KEYPOINTS and valid is not None and flat.shape[1] == 126:
            kp = finite.reshape(len(values), 2, 21, 3)[:, :, list(get_space(F.STORED_SPACE).required_keypoints)]
            bad = valid & ~kp.all(axis=(-1, -2))
            if bad.any():
                r, h = (int(v) for v in np.argwhere(bad)[0])
                out.error(
                    path, name, f"NaN or inf keypoints of the {('left', 'right')[h]} hand marked valid ({where(r)})"
                )
        elif name == F.HAND_MANO and valid is not None and flat.shape[1] % 2 == 0:
            bad = valid & ~finite.reshape(len(values), 2, -1).all(axis=-1)
            if bad.any():
                r, h = (int(v) for v in np.argwhere(bad)[0])
                out.error(
                    path,
                    name,
                    f"NaN or inf MANO parameters of the {('left', 'right')[h]} hand marked valid ({where(r)})",
                )
        elif not finite.all():
            r = int(np.flatnonzero(~finite.all(1))[0])
            out.error(path, name, f"NaN or inf ({where(r)})")
            continue
        limit = MAX_ABS.get(name, MAX_ABS_DEFAULT)
        with np.errstate(invalid="ignore"):
            big = np.abs(np.where(finite, flat, 0.0)) > limit
        if big.any():
            r = int(np.flatnonzero(big.any(1))[0])
            out.error(
                path,
                name,
                f"value {float(flat[r][big[r]][0]):.3g} beyond +-{limit:g} ({where(r)}): not a meaningful sample",
            )
    if F.INTRINSICS in cols and cols[F.INTRINSICS].ndim == 2 and cols[F.INTRINSICS].shape[1] == 4:
        focal = cols[F.INTRINSICS][:, :2]
        bad = ~(focal > 0).all(1)
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            out.error(path, F.INTRINSICS, f"focal lengths must be > 0 ({where(r)})")
    return out


# ------------------------------------------------------------------ statistics
def check_stats(stats, features: dict, total_frames: int, path) -> Problems:
    """Dataset statistics: every problem is a warning, because readers recompute (or floor) what is unusable."""
    out = Problems()
    if stats is None:
        out.warn(path, None, "missing: readers aggregate the statistics from the episodes table (or the data)")
        return out
    if not isinstance(stats, dict):
        out.warn(path, None, f"expected a JSON object, got {type(stats).__name__}: readers recompute the statistics")
        return out
    for name in F.numeric_keys(features):
        if name not in stats:
            kind = "a bookkeeping column" if name in F.DEFAULT_FEATURES else "readers recompute it"
            out.warn(path, name, f"no statistics for this feature ({kind})")
            continue
        problem = stats_problem(stats[name], features[name], total_frames)
        if problem:
            out.warn(path, name, problem)
    return out


def stats_problem(entry, feature: dict, total_frames: int | None) -> str | None:
    """Why a feature's statistics cannot be used as they are (None: usable)."""

    if not isinstance(entry, dict):
        return "not a mapping of statistics: readers recompute them"
    width = feature_width(feature) if feature.get("dtype") not in NON_NUMERIC else None
    for key in ("mean", "std", "min", "max"):
        if key not in entry:
            return f"'{key}' missing: readers recompute the statistics"
        try:
            value = np.asarray(entry[key], dtype=np.float64)
        except (TypeError, ValueError):
            return f"'{key}' is not numeric: readers recompute the statistics"
        if width is not None and value.size != width:
            return f"'{key}' has {value.size} values for a feature of {width}: readers recompute the statistics"
        if not np.isfinite(value).all() and feature.get("dtype") not in ("float32", "float64", "float16"):
            return f"'{key}' holds NaN or inf: readers recompute the statistics"
    count = entry.get("count")
    if total_frames is not None and count is not None and width is not None:
        try:
            count = int(np.asarray(count).reshape(-1)[0])
        except (TypeError, ValueError, IndexError):
            return "'count' is not a number: readers recompute the statistics"
        if count != total_frames:
            return f"count {count} != total_frames {total_frames} (stale): readers recompute the statistics"
    lo, hi, std = (np.asarray(entry[k], dtype=np.float64) for k in ("min", "max", "std"))
    with np.errstate(invalid="ignore"):
        wrong = np.isfinite(std) & (np.abs(std) < 1e-6) & ((hi - lo) > 1e-6)
    if wrong.any():
        first = int(np.flatnonzero(wrong)[0])
        return (
            f"std {float(std.reshape(-1)[first]):g} in dimension {first} whose values span {float(lo.reshape(-1)[first]):g}.."
            f"{float(hi.reshape(-1)[first]):g}: readers recompute the statistics"
        )
    return None
