"""``Dataset``: random access to a LeRobot dataset (v3.0, or v2.1) by global frame index and by episode.

Numeric columns are read per data file (a small LRU of files stays in
memory); video frames come from :class:`VideoReader` objects kept open per
file, so reading frames in order never re-opens or re-seeks a file.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dexego.data import features as F
from dexego.data import layout
from dexego.data.checks import check_data_file, column_to_numpy
from dexego.data.episode import Episode
from dexego.data.meta import DatasetMeta, read_info, read_parquet, read_stats
from dexego.data.video import VideoReader
from dexego.errors import InputError


@dataclass(frozen=True)
class _EpisodeRef:
    """Where one episode lives on disk."""

    index: int
    length: int
    dataset_from_index: int
    data_path: Path
    video_paths: dict[str, Path]
    video_from: dict[str, float]
    row: dict


class Dataset:
    """A LeRobot dataset on disk. ``image_size`` = (height, width) resizes decoded frames."""

    def __init__(self, root: str | Path, image_size: tuple[int, int] | None = None, cached_files: int = 4):
        self.root = Path(root)
        self.image_size = tuple(image_size) if image_size is not None else None
        info = read_info(self.root)  # the checks `dexego data validate` runs on the metadata (dexego.data.checks)
        self.info = info
        self.version = str(info["codebase_version"])
        self.fps = int(info["fps"])
        self.features: dict[str, dict] = info["features"]
        if self.version.startswith("v3"):
            meta, problems = DatasetMeta.load_checked(self.root)
            problems.raise_first()
            self.warnings: list = problems.warnings
            self.tasks, self._stats = meta.tasks, meta.stats
            self._refs = self._refs_v3(meta.episodes.to_pylist())
        else:
            self.warnings = []
            self.tasks, self._refs = self._load_v21()
            self._stats = read_stats(self.root, self.features, int(info["total_frames"]))
        self.video_keys = F.video_keys(self.features)
        self.episode_lengths = np.array([r.length for r in self._refs], dtype=np.int64)
        self.episode_from = np.array([r.dataset_from_index for r in self._refs], dtype=np.int64)
        self._cached_files = cached_files
        self._tables: OrderedDict[Path, dict] = OrderedDict()
        self._videos: OrderedDict[Path, VideoReader] = OrderedDict()

    # ------------------------------------------------------------ metadata
    def _refs_v3(self, rows: list[dict]) -> list[_EpisodeRef]:
        refs = []
        for row in rows:  # checked by dexego.data.checks.check_episode_rows
            data = layout.data_file(self.root, row["data/chunk_index"], row["data/file_index"])
            videos = {
                key: layout.video_file(
                    self.root, key, row[f"videos/{key}/chunk_index"], row[f"videos/{key}/file_index"]
                )
                for key in F.video_keys(self.features)
            }
            starts = {key: float(row[f"videos/{key}/from_timestamp"]) for key in videos}
            refs.append(
                _EpisodeRef(row["episode_index"], row["length"], row["dataset_from_index"], data, videos, starts, row)
            )
        return refs

    def _load_v21(self) -> tuple[list[str], list[_EpisodeRef]]:
        tasks_rows = _read_jsonl(self.root / "meta/tasks.jsonl")
        tasks = [""] * len(tasks_rows)
        for r in tasks_rows:
            tasks[int(r["task_index"])] = r["task"]
        episodes = sorted(_read_jsonl(self.root / "meta/episodes.jsonl"), key=lambda r: r["episode_index"])
        chunks_size = int(self.info.get("chunks_size", layout.DEFAULT_CHUNKS_SIZE))
        data_tpl = self.info.get("data_path", "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet")
        video_tpl = (
            self.info.get("video_path")
            or "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"
        )
        refs, start = [], 0
        for row in episodes:
            ep = int(row["episode_index"])
            fmt = dict(episode_chunk=ep // chunks_size, episode_index=ep)
            videos = {key: self.root / video_tpl.format(video_key=key, **fmt) for key in F.video_keys(self.features)}
            refs.append(
                _EpisodeRef(
                    ep,
                    int(row["length"]),
                    start,
                    self.root / data_tpl.format(**fmt),
                    videos,
                    {k: 0.0 for k in videos},
                    row,
                )
            )
            start += int(row["length"])
        return tasks, refs

    @property
    def stats(self) -> dict[str, dict[str, np.ndarray]]:
        """Per-feature statistics: meta/stats.json's where usable, else aggregated from the episodes'
        statistics (the episodes table), else computed from the data (``dexego.data.checks.check_stats``)."""
        if not getattr(self, "_stats_complete", False):
            missing = [k for k in F.numeric_keys(self.features) if k not in self._stats]
            if missing:
                self._stats = {**self._stats, **self._recompute_stats(missing)}
            self._stats_complete = True
        return self._stats

    def _recompute_stats(self, names: list[str]) -> dict[str, dict[str, np.ndarray]]:
        from dexego.data.meta import episode_stats_from_row
        from dexego.data.stats import aggregate_stats, feature_stats

        out = {}
        per_episode = [episode_stats_from_row(r.row, self.features) for r in self._refs]
        for name in names:
            entries = [e.get(name) for e in per_episode]
            if entries and all(e is not None and {"mean", "std", "min", "max", "count"} <= set(e) for e in entries):
                out[name] = aggregate_stats(entries)
            elif self._refs:
                values = np.concatenate([self.episode_columns(ep)[name].reshape(int(self.episode_lengths[ep]), -1)
                                         for ep in range(self.num_episodes)])  # fmt: skip
                out[name] = feature_stats(values)
        return out

    @property
    def num_episodes(self) -> int:
        return len(self._refs)

    @property
    def num_frames(self) -> int:
        return int(self.episode_lengths.sum())

    def __len__(self) -> int:
        return self.num_frames

    def episode_row(self, episode: int) -> dict:
        """The episode's metadata row (episodes table / episodes.jsonl)."""
        return self._ref(episode).row

    def episode_meta(self, episode: int) -> dict:
        """dexego episode metadata: source, embodiment, fps, instructions, metadata (defaults for foreign datasets).

        From the episodes table; where a tool rewrote that table without dexego's columns (LeRobot's
        ``delete_episodes``, ``split_dataset``), from the episode's ``episode.dexego`` data column."""
        row = self._ref(episode).row
        if not row.get("source") and F.EPISODE_META in self.features:
            recovered = self._recovered_meta(episode)
            if recovered is not None:
                row = {**row, **recovered}
        return {
            "source": row.get("source") or "lerobot",
            "embodiment": row.get("embodiment")
            or self._declared_embodiment()
            or self.info.get("robot_type")
            or "unknown",
            "fps": float(row.get("fps") or self.fps),
            "instructions": [tuple(s) for s in json.loads(row.get("instructions") or "[]")],
            "metadata": json.loads(row.get("metadata") or "{}"),
        }

    def _declared_embodiment(self) -> str | None:
        declared = self.info.get("embodiment")
        return declared if isinstance(declared, str) and declared != "mixed" else None

    def _recovered_meta(self, episode: int) -> dict | None:
        ref = self._ref(episode)
        entry = self._file_columns(ref.data_path)
        column = entry["strings"].get(F.EPISODE_META)
        if column is None or ref.index not in entry["bounds"]:
            return None
        text = column[entry["bounds"][ref.index][0]].as_py()
        try:
            record = json.loads(text) if text else None
        except json.JSONDecodeError as exc:
            raise InputError(ref.data_path, F.EPISODE_META, f"episode {ref.index}: not valid JSON: {exc}") from None
        if not isinstance(record, dict):
            return None
        return {"source": record.get("source"), "embodiment": record.get("embodiment"), "fps": record.get("fps"),
                "instructions": json.dumps(record.get("instructions") or []), "metadata": json.dumps(record.get("metadata") or {})}  # fmt: skip

    def _ref(self, episode: int) -> _EpisodeRef:
        if not 0 <= episode < len(self._refs):
            raise IndexError(f"episode {episode} out of range 0..{len(self._refs) - 1}")
        return self._refs[episode]

    def locate(self, index: int) -> tuple[int, int]:
        """Global frame index -> (episode, frame_index)."""
        if not 0 <= index < self.num_frames:
            raise IndexError(f"frame {index} out of range 0..{self.num_frames - 1}")
        episode = int(np.searchsorted(self.episode_from, index, side="right") - 1)
        return episode, int(index - self.episode_from[episode])

    # ------------------------------------------------------------- columns
    def _file_columns(self, path: Path) -> dict:
        if path in self._tables:
            self._tables.move_to_end(path)
            return self._tables[path]
        table = read_parquet(path, "index")
        rows = [{"episode_index": r.index, "length": r.length, "dataset_from_index": r.dataset_from_index,
                 "dataset_to_index": r.dataset_from_index + r.length} for r in self._refs if r.data_path == path]  # fmt: skip
        last = bool(self._refs) and self._refs[-1].data_path == path
        # The checks `dexego data validate` runs on every data file (dexego.data.checks): values as they are read.
        problems, columns = check_data_file(
            table, path, self.features, self.fps, rows, len(self.tasks), self.num_episodes, last
        )
        problems.raise_first()
        strings = {
            k: table.column(k)
            for k, v in self.features.items()
            if v.get("dtype") == "string" and k in table.column_names
        }
        episodes = columns[F.EPISODE_INDEX].reshape(-1)
        bounds = {}
        change = np.flatnonzero(np.diff(episodes)) + 1
        for s, e in zip(np.r_[0, change], np.r_[change, len(episodes)]):
            bounds[int(episodes[s])] = (int(s), int(e))
        entry = {"columns": columns, "bounds": bounds, "strings": strings}
        self._tables[path] = entry
        while len(self._tables) > self._cached_files:
            self._tables.popitem(last=False)
        return entry

    def episode_columns(self, episode: int) -> dict[str, np.ndarray]:
        """Every numeric column of one episode: (length,) for scalars, (length, D) otherwise."""
        ref = self._ref(episode)
        entry = self._file_columns(ref.data_path)
        if ref.index not in entry["bounds"]:
            raise InputError(ref.data_path, F.EPISODE_INDEX, f"no rows for episode {ref.index}")
        s, e = entry["bounds"][ref.index]
        if e - s != ref.length:
            raise InputError(
                ref.data_path, F.EPISODE_INDEX, f"episode {ref.index} has {e - s} rows, the metadata says {ref.length}"
            )
        return {name: col[s:e] for name, col in entry["columns"].items()}

    def check_files(self, episodes=None) -> None:
        """Run the checks of every data file of ``episodes`` (default: all) and open their videos (size).

        What a reader would find batch by batch, found before anything starts (an InputError
        naming file, field, episode and frame)."""
        episodes = range(self.num_episodes) if episodes is None else episodes
        refs = [self._ref(int(ep)) for ep in episodes]
        for path in dict.fromkeys(r.data_path for r in refs):
            self._file_columns(path)
        for ref in refs:
            self.episode_columns(ref.index)
        for key in self.video_keys:
            for path in dict.fromkeys(r.video_paths[key] for r in refs):
                if not path.is_file():
                    raise InputError(path, key, "missing video file")
                probe = VideoReader(path, self.fps, key, expect_size=tuple(self.features[key]["shape"][:2]))
                probe._open()
                probe.close()

    # --------------------------------------------------------------- video
    def video_path(self, episode: int, key: str | None = None) -> Path:
        return self._ref(episode).video_paths[key or self.video_keys[0]]

    def video_frame_indices(self, episode: int, frame_indices, key: str | None = None) -> np.ndarray:
        """Episode frame indices -> frame indices within the video file (via timestamps)."""
        ref = self._ref(episode)
        key = key or self.video_keys[0]
        timestamps = self.episode_columns(episode)[F.TIMESTAMP].reshape(-1)
        t = ref.video_from[key] + timestamps[np.asarray(frame_indices)]
        return np.round(t * self.fps).astype(np.int64)

    def frames(self, episode: int, frame_indices, key: str | None = None) -> np.ndarray:
        """Decoded RGB frames (N, H, W, 3) uint8 of one episode, at ``image_size`` if set."""
        if not self.video_keys:
            raise InputError(self.root / layout.INFO_PATH, "features", "this dataset has no video feature")
        key = key or self.video_keys[0]
        path = self.video_path(episode, key)
        reader = self._videos.get(path)
        if reader is None:
            if not path.is_file():
                raise InputError(path, key, "missing video file")
            reader = VideoReader(
                path, self.fps, key, self.image_size, expect_size=tuple(self.features[key]["shape"][:2])
            )
            self._videos[path] = reader
            while len(self._videos) > self._cached_files:
                self._videos.popitem(last=False)[1].close()
        self._videos.move_to_end(path)
        return reader.read(self.video_frame_indices(episode, frame_indices, key))

    # --------------------------------------------------------------- items
    def __getitem__(self, index: int) -> dict:
        """One frame: every column, the decoded image(s) and the task string."""
        episode, frame = self.locate(int(index))
        cols = self.episode_columns(episode)
        item = {name: col[frame] for name, col in cols.items()}
        for key in self.video_keys:
            item[key] = self.frames(episode, [frame], key)[0]
        task_index = int(np.asarray(item[F.TASK_INDEX]).reshape(-1)[0])
        item["task"] = self.tasks[task_index] if 0 <= task_index < len(self.tasks) else ""
        return item

    def episode(self, episode: int, frames: bool = True) -> Episode:
        """Rebuild the :class:`Episode` that was written (frames decoded, within codec tolerance)."""
        cols = self.episode_columns(episode)
        missing = [k for k in (F.KEYPOINTS, F.HAND_VALID, F.CAMERA_POSE, F.INTRINSICS) if k not in cols]
        if missing:
            raise InputError(self._ref(episode).data_path, missing[0], "not a dexego dataset: feature missing")
        n = self._ref(episode).length
        meta = self.episode_meta(episode)
        video = self.frames(episode, np.arange(n)) if frames and self.video_keys else None
        return Episode(
            keypoints_world=cols[F.KEYPOINTS].reshape(n, 2, 21, 3),
            hand_valid=cols[F.HAND_VALID].astype(bool),
            world_from_camera=cols[F.CAMERA_POSE].reshape(n, 4, 4),
            intrinsics=cols[F.INTRINSICS],
            frames=video,
            fps=meta["fps"],
            instructions=meta["instructions"],
            source=meta["source"],
            embodiment=meta["embodiment"],
            robot_state=cols.get(F.ROBOT_STATE),
            robot_action=cols.get(F.ROBOT_ACTION),
            robot_state_names=self.features.get(F.ROBOT_STATE, {}).get("names"),
            robot_action_names=self.features.get(F.ROBOT_ACTION, {}).get("names"),
            metadata=meta["metadata"],
            hand_mano=cols[F.HAND_MANO].reshape(n, 2, -1) if F.HAND_MANO in cols else None,
        )

    def close(self) -> None:
        for reader in self._videos.values():
            reader.close()
        self._videos.clear()
        self._tables.clear()

    def __getstate__(self):
        # Worker processes get their own decoders and caches.
        state = self.__dict__.copy()
        state["_tables"], state["_videos"] = OrderedDict(), OrderedDict()
        return state


_column_to_numpy = column_to_numpy  # the name older callers import


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        raise InputError(path, None, "missing")
    rows = []
    for i, line in enumerate(path.read_text().splitlines()):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InputError(path, f"line {i + 1}", f"invalid JSON: {exc}") from exc
    return rows
