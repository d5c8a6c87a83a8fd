"""``DatasetWriter``: append episodes to a LeRobot v3.0 dataset, crash-safely.

Commit protocol (one episode at a time). Everything new is first written under
a temporary name (``<name>.tmp-<pid>``): the video files (the current file
remuxed with the new episode appended, no re-encoding), the tasks, the data
parquet (the current file's committed rows plus the new ones), the episodes
table, info.json and stats.json. They are then renamed over their final names
in that order. ``meta/info.json`` is the manifest and its rename the commit
point: readers (and ``dexego data validate``) trust only the episodes, tasks
and frames it counts (``total_episodes``, ``total_tasks``, each episode's
index and time ranges), so before that rename they see exactly the previously
committed episodes, with at most an ignored tail (frames at the end of the
last video file, rows at the end of the last data file, a row of the episodes
table, tasks beyond ``total_tasks``, a file nothing references yet); after
it, all of the new episode. The statistics follow the commit (readers
recompute statistics whose count does not match the manifest). A kill at any
moment therefore leaves a valid dataset. The order is also the order of
reference (what is referenced is published before what refers to it: videos
and tasks, then the data rows, then the episode's row, then the counts), so a
reader that ignores the manifest and reads every data and episodes file whole,
as LeRobot's own loader does, never meets a row pointing at something missing.
Re-opening removes temporaries and continues the dataset; an ignored tail is
dropped by the next commit. One writer per dataset at a time: a writer holds a
lock on the dataset folder until ``close``, and a second one is refused with a
named error (it would otherwise remove the first one's temporaries).

Files roll over to the next ``file-NNN`` (and ``chunk-NNN`` after
``chunks_size`` files) once they reach their size limit.

One embodiment per dataset: ``info.json``'s ``embodiment`` declares it (the first
episode's, or ``WriterConfig.embodiment``) and an episode of another embodiment is
refused, unless the dataset is declared ``"mixed"`` (``WriterConfig(mixed=True)``);
each episode's own embodiment is in its episodes-table row and its ``episode.dexego``
data column (the copy LeRobot's edit tools keep).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dexego.actions import keypoints_to_action
from dexego.data import features as F
from dexego.data import layout
from dexego.data.checks import MIXED
from dexego.data.episode import Episode
from dexego.data.meta import DatasetMeta, episode_stats_from_row, read_parquet, tasks_table
from dexego.data.stats import STAT_NAMES, aggregate_stats, feature_stats, image_stats, stats_to_json
from dexego.data.video import VideoCodecConfig, concat_videos, encode_video, remove_quietly
from dexego.errors import ConfigError, InputError
from dexego.utils.files import WriteLock


@dataclass(frozen=True)
class WriterConfig:
    """Dataset-wide settings of :class:`DatasetWriter`: frame rate, robot type, video size and file chunking."""

    fps: int = 30
    robot_type: str | None = None
    embodiment: str | None = None  # the dataset's declared embodiment; None: the first episode's
    mixed: bool = False  # allow episodes of several embodiments (info.json embodiment = "mixed")
    video_size: tuple[int, int] | None = None  # (height, width); None: the first episode's (made even)
    chunks_size: int = layout.DEFAULT_CHUNKS_SIZE
    data_files_size_in_mb: float = layout.DEFAULT_DATA_FILE_SIZE_MB
    video_files_size_in_mb: float = layout.DEFAULT_VIDEO_FILE_SIZE_MB
    codec: VideoCodecConfig = field(default_factory=VideoCodecConfig)


@dataclass
class _FileCursor:
    """The file episodes are currently appended to, and how many committed rows/frames it holds."""

    chunk: int = 0
    file: int = 0
    count: int = 0
    exists: bool = False


class DatasetWriter:
    """Write episodes into ``root`` (created, or continued when it already holds a dataset).

    Use ``add_episode(Episode)``, or stream ``add_frame(...)`` then
    ``commit_episode(...)``. Use as a context manager; ``close()`` finalises
    meta/stats.json.
    """

    def __init__(self, root: str | Path, config: WriterConfig | None = None, **overrides: Any):
        self.root = Path(root)
        self.config = config or WriterConfig(**overrides)
        if config is not None and overrides:
            raise ConfigError("pass either a WriterConfig or keyword overrides, not both")
        self._buffer: list[dict[str, Any]] = []
        self._episode_rows: list[dict[str, Any]] = []
        self._episode_stats: list[dict[str, dict[str, np.ndarray]]] = []
        self._tasks: dict[str, int] = {}
        self.features: dict[str, dict] | None = None
        self.total_frames = 0
        self._data = _FileCursor()
        self._videos: dict[str, _FileCursor] = {}
        self._meta = _FileCursor()
        self._embodiment = MIXED if self.config.mixed else self.config.embodiment
        self.publish_hook = None  # called as hook(step, final_path) before each rename of a commit (fault injection)
        # one writer per dataset: a second one would remove the first one's temporaries mid-commit
        self._lock = WriteLock(self.root, "dataset")
        try:
            if (self.root / layout.INFO_PATH).is_file():
                self._resume()
            else:
                layout.remove_temporaries(self.root)  # an interrupted first commit
        except BaseException:
            self._lock.release()
            raise
        self.closed = False

    # ----------------------------------------------------------------- state
    @property
    def total_episodes(self) -> int:
        return len(self._episode_rows)

    @property
    def fps(self) -> int:
        return int(self.config.fps)

    def _resume(self) -> None:
        layout.remove_temporaries(self.root)
        meta = DatasetMeta.load(self.root)
        info = meta.info
        if int(info["fps"]) != self.fps:
            raise ConfigError(f"{self.root}: dataset is at {info['fps']} fps, the writer was asked for {self.fps}")
        self.features = info["features"]
        self.config = _replace(self.config, chunks_size=int(info.get("chunks_size", self.config.chunks_size)))
        rows_ = meta.episodes.to_pylist()
        declared = info.get("embodiment") or (rows_[0].get("embodiment") if rows_ else None)
        if self.config.embodiment and declared and declared != MIXED and self.config.embodiment != declared:
            raise ConfigError(
                f"{self.root}: the dataset holds {declared!r} episodes, the writer was asked for {self.config.embodiment!r}"
            )
        self._embodiment = MIXED if self.config.mixed else declared
        self._tasks = {task: i for i, task in enumerate(meta.tasks)}
        rows = meta.episodes.to_pylist()
        self._episode_rows = rows
        self._episode_stats = [episode_stats_from_row(r, self.features) for r in rows]
        self.total_frames = int(sum(r["length"] for r in rows))
        if rows:
            last = rows[-1]
            self._data = self._cursor_from(rows, "data/chunk_index", "data/file_index", "length")
            for key in F.video_keys(self.features):
                self._videos[key] = self._cursor_from(
                    rows, f"videos/{key}/chunk_index", f"videos/{key}/file_index", "length"
                )
            self._meta = _FileCursor(last["meta/episodes/chunk_index"], last["meta/episodes/file_index"], 0, True)
            self._meta.count = sum(
                1
                for r in rows
                if (r["meta/episodes/chunk_index"], r["meta/episodes/file_index"])
                == (self._meta.chunk, self._meta.file)
            )

    @staticmethod
    def _cursor_from(rows, chunk_key, file_key, count_key) -> _FileCursor:
        last = rows[-1]
        where = (last[chunk_key], last[file_key])
        count = sum(r[count_key] for r in rows if (r[chunk_key], r[file_key]) == where)
        return _FileCursor(where[0], where[1], int(count), True)

    # ------------------------------------------------------------- streaming
    def add_frame(self, *, keypoints_world, hand_valid, world_from_camera, intrinsics, frame=None, robot_state=None, robot_action=None,
                  hand_mano=None) -> None:  # fmt: skip
        """Buffer one frame of the current episode (commit with ``commit_episode``)."""
        self._buffer.append(
            dict(keypoints_world=keypoints_world, hand_valid=hand_valid, world_from_camera=world_from_camera,
                 intrinsics=intrinsics, frame=frame, robot_state=robot_state, robot_action=robot_action, hand_mano=hand_mano)
        )  # fmt: skip

    def discard_episode(self) -> None:
        self._buffer = []

    def commit_episode(self, **episode_fields: Any) -> int:
        """Commit the buffered frames as one episode; ``episode_fields`` are the Episode's episode-level fields."""
        if not self._buffer:
            raise InputError(self.root, "frames", "commit_episode called with no buffered frames")
        buf, self._buffer = self._buffer, []

        def stack(name):
            values = [b[name] for b in buf]
            return None if any(v is None for v in values) else np.stack([np.asarray(v) for v in values])

        intr = [b["intrinsics"] for b in buf]
        intrinsics = np.stack([i.vector if hasattr(i, "vector") else np.asarray(i) for i in intr]).astype(np.float32)
        episode = Episode(
            keypoints_world=stack("keypoints_world"), hand_valid=stack("hand_valid"),
            world_from_camera=stack("world_from_camera"), intrinsics=intrinsics, frames=stack("frame"),
            robot_state=stack("robot_state"), robot_action=stack("robot_action"), hand_mano=stack("hand_mano"), **episode_fields,
        )  # fmt: skip
        return self.add_episode(episode)

    # ---------------------------------------------------------------- commit
    def add_episode(self, episode: Episode) -> int:
        """Validate, write and commit one episode; returns its episode_index."""
        if self.closed:
            raise RuntimeError("the writer is closed")
        index = self.total_episodes
        where = f"{self.root} (episode {index})"
        episode.check(where)
        if abs(float(episode.fps) - self.fps) > 1e-6:
            raise InputError(where, "fps", f"episode is at {episode.fps} fps, the dataset at {self.fps}")
        if self._embodiment is None:
            self._embodiment = episode.embodiment
        elif self._embodiment != MIXED and episode.embodiment != self._embodiment:
            raise InputError(where, "embodiment", f"{episode.embodiment!r} episode, the dataset holds {self._embodiment!r} episodes "
                                                  "(one embodiment per dataset; write it to another folder, or declare the dataset mixed)")  # fmt: skip
        if self.features is None:
            self.features = self._initial_features(episode)
        self._check_schema(episode, where)
        frames, intrinsics = self._frames_at_stored_size(episode)
        n = episode.length

        tasks_before = dict(self._tasks)
        task_names = episode.task_per_frame()
        for task in task_names:
            self._tasks.setdefault(task, len(self._tasks))
        try:
            columns = self._frame_columns(episode, index, intrinsics, task_names)
            row = self._write_episode_files(episode, index, columns, frames)
        except BaseException:
            self._tasks = tasks_before
            raise
        self._episode_rows.append(row)
        self._episode_stats.append(episode_stats_from_row(row, self.features))
        self.total_frames += n
        return index

    def _initial_features(self, episode: Episode) -> dict[str, dict]:
        video_shape = None
        if episode.frames is not None:
            video_shape = self.config.video_size or tuple(s - s % 2 for s in episode.frames.shape[1:3])
        state_names = list(episode.robot_state_names or _default_names("state", episode.robot_state))
        action_names = list(episode.robot_action_names or _default_names("action", episode.robot_action))
        return F.dexego_features(
            self.fps,
            video_shape,
            state_names if episode.robot_state is not None else None,
            action_names if episode.robot_action is not None else None,
            mano=episode.hand_mano is not None,
        )

    def _check_schema(self, episode: Episode, where: str) -> None:
        has_video = bool(F.video_keys(self.features))
        if has_video and episode.frames is None:
            raise InputError(where, "frames", "this dataset stores video; the episode has no frames")
        if (episode.hand_mano is None) != (F.HAND_MANO not in self.features):
            raise InputError(
                where,
                "hand_mano",
                "must be given for every episode of a dataset that declares observation.hands.mano, and only then",
            )
        for name, feat in (("robot_state", F.ROBOT_STATE), ("robot_action", F.ROBOT_ACTION)):
            value = getattr(episode, name)
            declared = self.features.get(feat)
            if (value is None) != (declared is None):
                raise InputError(
                    where, name, "must be given for every episode of a dataset that declares it, and only then"
                )
            if value is not None and np.shape(value)[1] != declared["shape"][0]:
                raise InputError(
                    where, name, f"dimension {np.shape(value)[1]} differs from the dataset's {declared['shape'][0]}"
                )

    def _frames_at_stored_size(self, episode: Episode) -> tuple[np.ndarray | None, np.ndarray]:
        intrinsics = episode.intrinsics_array().astype(np.float32)
        keys = F.video_keys(self.features)
        if not keys or episode.frames is None:
            return None, intrinsics
        height, width = self.features[keys[0]]["shape"][:2]
        frames = episode.frames
        if frames.shape[1:3] != (height, width):
            sx, sy = width / frames.shape[2], height / frames.shape[1]
            intrinsics = intrinsics * np.array([sx, sy, sx, sy], dtype=np.float32)
            frames = resize_frames(frames, height, width)
        return frames, intrinsics

    def _frame_columns(
        self, episode: Episode, index: int, intrinsics: np.ndarray, task_names: list[str]
    ) -> dict[str, np.ndarray]:
        n = episode.length
        kp = np.asarray(episode.keypoints_world, dtype=np.float64)
        valid = np.asarray(episode.hand_valid, dtype=bool)
        pose = np.asarray(episode.world_from_camera, dtype=np.float64)
        state = keypoints_to_action(kp, pose, valid, F.STORED_SPACE)
        next_kp = np.concatenate([kp[1:], kp[-1:]])
        next_valid = np.concatenate([valid[1:], valid[-1:]])
        action = keypoints_to_action(next_kp, pose, next_valid, F.STORED_SPACE)
        columns = {
            F.STATE: state.astype(np.float32),
            F.ACTION: action.astype(np.float32),
            F.KEYPOINTS: np.asarray(episode.keypoints_world, dtype=np.float32).reshape(n, -1),
            F.HAND_VALID: valid,
            F.CAMERA_POSE: np.asarray(episode.world_from_camera, dtype=np.float32).reshape(n, 16),
            F.INTRINSICS: intrinsics,
            F.TIMESTAMP: (np.arange(n) / self.fps).astype(np.float32),
            F.FRAME_INDEX: np.arange(n, dtype=np.int64),
            F.EPISODE_INDEX: np.full(n, index, dtype=np.int64),
            F.INDEX: self.total_frames + np.arange(n, dtype=np.int64),
            F.TASK_INDEX: np.array([self._tasks[t] for t in task_names], dtype=np.int64),
        }
        if episode.hand_mano is not None:
            mano = np.asarray(episode.hand_mano, dtype=np.float32).copy()
            mano[~valid] = np.nan  # an invalid hand has no MANO parameters
            columns[F.HAND_MANO] = mano.reshape(n, -1)
        if F.EPISODE_META in self.features:
            columns[F.EPISODE_META] = [json.dumps(episode_meta_record(episode), default=str)] * n
        if episode.robot_state is not None:
            columns[F.ROBOT_STATE] = np.asarray(episode.robot_state, dtype=np.float32)
        if episode.robot_action is not None:
            columns[F.ROBOT_ACTION] = np.asarray(episode.robot_action, dtype=np.float32)
        return columns

    def _write_episode_files(self, episode: Episode, index: int, columns: dict[str, np.ndarray], frames) -> dict:
        n = episode.length
        publish: list[tuple[Path, Path]] = []
        try:
            row: dict[str, Any] = {
                "episode_index": index,
                "tasks": list(dict.fromkeys(episode.task_per_frame())),
                "length": n,
            }
            # Video files.
            for key in F.video_keys(self.features):
                cursor = self._roll(self._videos.setdefault(key, _FileCursor()), lambda c, f: layout.video_file(self.root, key, c, f),
                                    self.config.video_files_size_in_mb)  # fmt: skip
                final = layout.video_file(self.root, key, cursor.chunk, cursor.file)
                segment = layout.temp_path(final.with_name(final.name + ".episode"))
                tmp = layout.temp_path(final)
                publish.append((tmp, final))
                encode_video(segment, frames, self.fps, self.config.codec)
                try:
                    concat_videos(final if cursor.exists else None, cursor.count, segment, tmp, self.fps)
                finally:
                    remove_quietly(segment)
                row[f"videos/{key}/chunk_index"] = cursor.chunk
                row[f"videos/{key}/file_index"] = cursor.file
                row[f"videos/{key}/from_timestamp"] = cursor.count / self.fps
                row[f"videos/{key}/to_timestamp"] = (cursor.count + n) / self.fps
            # Data parquet.
            cursor = self._roll(
                self._data, lambda c, f: layout.data_file(self.root, c, f), self.config.data_files_size_in_mb
            )
            final = layout.data_file(self.root, cursor.chunk, cursor.file)
            table = self._frame_table(columns)
            if cursor.exists:
                table = pa.concat_tables(
                    [
                        read_parquet(final, "index")
                        .slice(0, cursor.count)
                        .select(table.column_names)
                        .cast(table.schema),
                        table,
                    ]
                )
            tmp = layout.temp_path(final)
            pq.write_table(table, tmp)
            publish.append((tmp, final))
            row["data/chunk_index"], row["data/file_index"] = cursor.chunk, cursor.file
            row["dataset_from_index"] = self.total_frames
            row["dataset_to_index"] = self.total_frames + n
            # Episode metadata and statistics.
            row.update(self._episode_stat_columns(columns, frames))
            record = episode_meta_record(episode)
            row["source"], row["embodiment"], row["fps"] = record["source"], record["embodiment"], record["fps"]
            row["instructions"] = json.dumps(record["instructions"])
            row["metadata"] = json.dumps(record["metadata"], default=str)
            cursor = self._roll(
                self._meta, lambda c, f: layout.episodes_file(self.root, c, f), self.config.data_files_size_in_mb
            )
            row["meta/episodes/chunk_index"], row["meta/episodes/file_index"] = cursor.chunk, cursor.file
            final = layout.episodes_file(self.root, cursor.chunk, cursor.file)
            rows = [
                r
                for r in self._episode_rows
                if (r["meta/episodes/chunk_index"], r["meta/episodes/file_index"]) == (cursor.chunk, cursor.file)
            ]
            tmp = layout.temp_path(final)
            pq.write_table(self._episodes_table(rows + [row]), tmp)
            publish.append((tmp, final))  # after the data rows it points at
            tasks = tasks_table(list(self._tasks))
            tmp = layout.temp_path(self.root / layout.TASKS_PATH)
            pq.write_table(tasks, tmp)
            publish.insert(len(publish) - 2, (tmp, self.root / layout.TASKS_PATH))  # after the videos, before the data
            # info.json: the manifest, renamed last of what readers trust (the commit point); stats.json follows.
            tmp = layout.temp_path(self.root / layout.INFO_PATH)
            tmp.write_text(json.dumps(self._info(index + 1, self.total_frames + n), indent=4))
            publish.append((tmp, self.root / layout.INFO_PATH))
            stats = self._dataset_stats(self._episode_stats + [episode_stats_from_row(row, self.features)])
            tmp = layout.temp_path(self.root / layout.STATS_PATH)
            tmp.write_text(json.dumps(stats_to_json(stats), indent=2))
            publish.append((tmp, self.root / layout.STATS_PATH))
        except BaseException:
            for tmp, _ in publish:
                remove_quietly(tmp)
            raise
        for step, (tmp, final) in enumerate(publish):
            if self.publish_hook is not None:  # fault injection (tests): called before each rename
                self.publish_hook(step, final)
            layout.publish(tmp, final)
        # Advance the cursors only once the files are published.
        for key in F.video_keys(self.features):
            self._videos[key].count += n
            self._videos[key].exists = True
        self._data.count += n
        self._data.exists = True
        self._meta.count += 1
        self._meta.exists = True
        return row

    def _roll(self, cursor: _FileCursor, path_of, limit_mb: float) -> _FileCursor:
        if cursor.exists:
            path = path_of(cursor.chunk, cursor.file)
            if path.is_file() and path.stat().st_size >= limit_mb * 1024 * 1024:
                cursor.chunk, cursor.file = layout.next_file(cursor.chunk, cursor.file, self.config.chunks_size)
                cursor.count, cursor.exists = 0, False
        return cursor

    def _frame_table(self, columns: dict[str, np.ndarray]) -> pa.Table:
        arrays, names = [], []
        for name, feat in self.features.items():
            if feat["dtype"] in ("video", "image") or (feat["dtype"] == "string" and name not in columns):
                continue
            arrays.append(
                pa.array(columns[name], pa.string()) if feat["dtype"] == "string" else to_arrow(columns[name], feat)
            )
            names.append(name)
        return pa.Table.from_arrays(arrays, names=names)

    def _episode_stat_columns(self, columns: dict[str, np.ndarray], frames) -> dict[str, list]:
        out = {}
        for name, feat in self.features.items():
            if feat["dtype"] == "video":
                stats = image_stats(frames)
            elif feat["dtype"] in ("image", "string"):
                continue
            else:
                stats = feature_stats(np.asarray(columns[name]).reshape(len(columns[name]), -1))
            for stat in STAT_NAMES:
                out[f"stats/{name}/{stat}"] = np.asarray(stats[stat]).reshape(-1).tolist()
        return out

    def _episodes_table(self, rows: list[dict]) -> pa.Table:
        schema_fields = [
            ("episode_index", pa.int64()), ("tasks", pa.list_(pa.string())), ("length", pa.int64()),
            ("data/chunk_index", pa.int64()), ("data/file_index", pa.int64()),
            ("dataset_from_index", pa.int64()), ("dataset_to_index", pa.int64()),
        ]  # fmt: skip
        for key in F.video_keys(self.features):
            schema_fields += [(f"videos/{key}/chunk_index", pa.int64()), (f"videos/{key}/file_index", pa.int64()),
                              (f"videos/{key}/from_timestamp", pa.float64()), (f"videos/{key}/to_timestamp", pa.float64())]  # fmt: skip
        schema_fields += [("meta/episodes/chunk_index", pa.int64()), ("meta/episodes/file_index", pa.int64())]
        for name, feat in self.features.items():
            if feat["dtype"] in ("image", "string"):
                continue
            for stat in STAT_NAMES:
                schema_fields.append(
                    (f"stats/{name}/{stat}", pa.list_(pa.int64() if stat == "count" else pa.float64()))
                )
        schema_fields += [("source", pa.string()), ("embodiment", pa.string()), ("fps", pa.float64()),
                          ("instructions", pa.string()), ("metadata", pa.string())]  # fmt: skip
        schema = pa.schema(schema_fields)
        return pa.Table.from_pylist([{k: r.get(k) for k in schema.names} for r in rows], schema=schema)

    def _dataset_stats(self, per_episode: list[dict]) -> dict[str, dict[str, np.ndarray]]:
        names = per_episode[0].keys() if per_episode else []
        return {name: aggregate_stats([e[name] for e in per_episode]) for name in names}

    def _info(self, total_episodes: int, total_frames: int) -> dict:
        has_video = bool(F.video_keys(self.features))
        return {
            "codebase_version": layout.CODEBASE_VERSION,
            "robot_type": self.config.robot_type,
            "total_episodes": total_episodes,
            "total_frames": total_frames,
            "total_tasks": len(self._tasks),
            "chunks_size": self.config.chunks_size,
            "data_files_size_in_mb": self.config.data_files_size_in_mb,
            "video_files_size_in_mb": self.config.video_files_size_in_mb,
            "fps": self.fps,
            "splits": {"train": f"0:{total_episodes}"},
            "data_path": layout.DATA_PATH,
            "video_path": layout.VIDEO_PATH if has_video else None,
            "features": self.features,
            "embodiment": self._embodiment,
        }

    # ------------------------------------------------------------- lifetime
    def close(self) -> None:
        """Finalise: rewrite meta/stats.json from every committed episode. Buffered frames are dropped."""
        if self.closed:
            return
        self._buffer = []
        try:
            if self._episode_rows:
                layout.write_json_atomic(
                    self.root / layout.STATS_PATH, stats_to_json(self._dataset_stats(self._episode_stats))
                )
        finally:
            self._lock.release()
        self.closed = True

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def episode_meta_record(episode: Episode) -> dict:
    """The episode-level fields stored per episode (episodes table) and per row (``episode.dexego``)."""
    return {"source": episode.source, "embodiment": episode.embodiment, "fps": float(episode.fps),
            "instructions": [[int(s), int(e), t] for s, e, t in episode.instructions], "metadata": episode.metadata}  # fmt: skip


def to_arrow(values: np.ndarray, feature: dict) -> pa.Array:
    """A column of N values of a feature: scalars for shape (1,), fixed-size lists otherwise."""
    dtype = pa.from_numpy_dtype(np.dtype(feature["dtype"]))
    values = np.asarray(values)
    shape = feature["shape"]
    if list(shape) == [1]:
        return pa.array(values.reshape(-1).astype(feature["dtype"]), type=dtype)
    size = int(np.prod(shape))
    flat = pa.array(values.reshape(-1).astype(feature["dtype"]), type=dtype)
    return pa.FixedSizeListArray.from_arrays(flat, size)


def resize_frames(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    import av

    out = np.empty((len(frames), height, width, 3), dtype=np.uint8)
    for i, image in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        out[i] = frame.to_ndarray(format="rgb24", width=width, height=height, interpolation="BILINEAR")
    return out


def _default_names(kind: str, values) -> list[str]:
    return [] if values is None else [f"{kind}_{i}" for i in range(np.shape(values)[1])]


def _replace(config: WriterConfig, **changes) -> WriterConfig:
    import dataclasses

    return dataclasses.replace(config, **changes)
