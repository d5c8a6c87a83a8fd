"""Small LeRobot robot datasets in the v2.1 and v3.0 layouts, written as LeRobot writes them (for the lerobot converter tests)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dexego.data.meta import tasks_table
from dexego.data.video import encode_video

FPS = 10
HEIGHT, WIDTH = 32, 48
CAMERAS = ("observation.images.top", "observation.images.wrist")
JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
TASKS = ["pick up the cube", "open the drawer", "close the drawer"]


@dataclass
class RobotEpisode:
    state: np.ndarray  # (T, 6) float32
    action: np.ndarray  # (T, 6) float32
    task_index: np.ndarray  # (T,)
    frames: dict[str, np.ndarray]  # camera -> (T, H, W, 3)


def make_episodes(lengths=(5, 4), seed=0) -> list[RobotEpisode]:
    """Episode 1 changes task half-way (open, then close the drawer)."""
    rng = np.random.default_rng(seed)
    episodes = []
    yy, xx = np.mgrid[:HEIGHT, :WIDTH]
    for e, n in enumerate(lengths):
        state = rng.normal(size=(n, 6)).astype(np.float32)
        action = (state + rng.normal(scale=0.1, size=(n, 6))).astype(np.float32)
        task = np.zeros(n, np.int64) if e == 0 else np.where(np.arange(n) < n // 2, 1, 2)
        frames = {}
        for c, cam in enumerate(CAMERAS):
            video = np.zeros((n, HEIGHT, WIDTH, 3), np.uint8)
            for t in range(n):  # smooth, frame-specific images: the codec keeps them within a few levels
                video[t, ..., 0] = 60 + 40 * c + 2 * xx + 10 * t
                video[t, ..., 1] = 30 + 4 * yy + 20 * e
                video[t, ..., 2] = 200 - 120 * c
            frames[cam] = video
        episodes.append(RobotEpisode(state, action, task, frames))
    return episodes


def _features(fps: int, with_fps: bool) -> dict:
    def scalar(dtype):
        f = {"dtype": dtype, "shape": [1], "names": None}
        return {**f, "fps": fps} if with_fps else f

    video = {cam: {"dtype": "video", "shape": [HEIGHT, WIDTH, 3], "names": ["height", "width", "channels"],
                   "info": {"video.height": HEIGHT, "video.width": WIDTH, "video.codec": "h264", "video.pix_fmt": "yuv420p",
                            "video.is_depth_map": False, "video.fps": fps, "video.channels": 3, "has_audio": False}}
             for cam in CAMERAS}  # fmt: skip
    vec = {"dtype": "float32", "shape": [6], "names": {"motors": JOINTS}}
    if with_fps:
        vec = {**vec, "fps": fps}
    return {**video, "observation.state": vec, "action": dict(vec), "timestamp": scalar("float32"), "frame_index": scalar("int64"),
            "episode_index": scalar("int64"), "index": scalar("int64"), "task_index": scalar("int64")}  # fmt: skip


def _frame_table(episodes: list[RobotEpisode], first_index: int, first_episode: int, fixed: bool) -> pa.Table:
    vec = pa.list_(pa.float32(), 6) if fixed else pa.list_(pa.float32())
    cols = {
        "observation.state": [],
        "action": [],
        "timestamp": [],
        "frame_index": [],
        "episode_index": [],
        "index": [],
        "task_index": [],
    }
    index = first_index
    for e, ep in enumerate(episodes):
        n = len(ep.state)
        cols["observation.state"] += list(ep.state)
        cols["action"] += list(ep.action)
        cols["timestamp"] += list(np.arange(n, dtype=np.float32) / FPS)
        cols["frame_index"] += list(range(n))
        cols["episode_index"] += [first_episode + e] * n
        cols["index"] += list(range(index, index + n))
        cols["task_index"] += list(ep.task_index)
        index += n
    return pa.table({
        "observation.state": pa.array(cols["observation.state"], vec), "action": pa.array(cols["action"], vec),
        "timestamp": pa.array(cols["timestamp"], pa.float32()), "frame_index": pa.array(cols["frame_index"], pa.int64()),
        "episode_index": pa.array(cols["episode_index"], pa.int64()), "index": pa.array(cols["index"], pa.int64()),
        "task_index": pa.array(cols["task_index"], pa.int64()),
    })  # fmt: skip


def _vector_stats(values: np.ndarray) -> dict:
    return {"min": values.min(0).tolist(), "max": values.max(0).tolist(), "mean": values.mean(0).tolist(),
            "std": values.std(0).tolist(), "count": [len(values)]}  # fmt: skip


def _info(version: str, episodes: list[RobotEpisode], robot_type: str) -> dict:
    return {"codebase_version": version, "robot_type": robot_type, "total_episodes": len(episodes),
            "total_frames": int(sum(len(e.state) for e in episodes)), "total_tasks": len(TASKS), "chunks_size": 1000, "fps": FPS,
            "splits": {"train": f"0:{len(episodes)}"}}  # fmt: skip


def write_lerobot_v30(root: Path, episodes: list[RobotEpisode], robot_type: str = "so100") -> None:
    """v3.0: every episode in one data file and one video file per camera; meta/episodes parquet with offsets."""
    (root / "meta" / "episodes" / "chunk-000").mkdir(parents=True)
    (root / "data" / "chunk-000").mkdir(parents=True)
    info = {**_info("v3.0", episodes, robot_type), "data_files_size_in_mb": 100, "video_files_size_in_mb": 200,
            "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
            "video_path": "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4",
            "features": _features(FPS, with_fps=True)}  # fmt: skip
    (root / "meta" / "info.json").write_text(json.dumps(info, indent=4))
    pq.write_table(tasks_table(TASKS), root / "meta" / "tasks.parquet")
    pq.write_table(_frame_table(episodes, 0, 0, fixed=True), root / "data" / "chunk-000" / "file-000.parquet")
    for cam in CAMERAS:
        (root / "videos" / cam / "chunk-000").mkdir(parents=True)
        encode_video(
            root / "videos" / cam / "chunk-000" / "file-000.mp4", np.concatenate([e.frames[cam] for e in episodes]), FPS
        )
    rows, start = [], 0
    for i, ep in enumerate(episodes):
        n = len(ep.state)
        row = {"episode_index": i, "tasks": [TASKS[t] for t in dict.fromkeys(ep.task_index.tolist())], "length": n,
               "data/chunk_index": 0, "data/file_index": 0, "dataset_from_index": start, "dataset_to_index": start + n}  # fmt: skip
        for cam in CAMERAS:
            row.update({f"videos/{cam}/chunk_index": 0, f"videos/{cam}/file_index": 0,
                        f"videos/{cam}/from_timestamp": start / FPS, f"videos/{cam}/to_timestamp": (start + n) / FPS})  # fmt: skip
        row.update({"meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0})
        rows.append(row)
        start += n
    pq.write_table(pa.Table.from_pylist(rows), root / "meta" / "episodes" / "chunk-000" / "file-000.parquet")
    everything = np.concatenate([e.state for e in episodes])
    stats = {
        "observation.state": _vector_stats(everything),
        "action": _vector_stats(np.concatenate([e.action for e in episodes])),
    }
    (root / "meta" / "stats.json").write_text(json.dumps(stats))


def write_lerobot_v21(root: Path, episodes: list[RobotEpisode], robot_type: str = "koch") -> None:
    """v2.1: one parquet and one mp4 per camera per episode; jsonl metadata."""
    (root / "meta").mkdir(parents=True)
    info = {**_info("v2.1", episodes, robot_type), "total_videos": len(episodes) * len(CAMERAS), "total_chunks": 1,
            "data_path": "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet",
            "video_path": "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4",
            "features": _features(FPS, with_fps=False)}  # fmt: skip
    (root / "meta" / "info.json").write_text(json.dumps(info, indent=4))
    (root / "meta" / "tasks.jsonl").write_text(
        "".join(json.dumps({"task_index": i, "task": t}) + "\n" for i, t in enumerate(TASKS))
    )
    lines, stats_lines, start = [], [], 0
    for i, ep in enumerate(episodes):
        n = len(ep.state)
        (root / "data" / "chunk-000").mkdir(parents=True, exist_ok=True)
        pq.write_table(
            _frame_table([ep], start, i, fixed=False), root / "data" / "chunk-000" / f"episode_{i:06d}.parquet"
        )
        for cam in CAMERAS:
            folder = root / "videos" / "chunk-000" / cam
            folder.mkdir(parents=True, exist_ok=True)
            encode_video(folder / f"episode_{i:06d}.mp4", ep.frames[cam], FPS)
        lines.append(
            json.dumps(
                {"episode_index": i, "tasks": [TASKS[t] for t in dict.fromkeys(ep.task_index.tolist())], "length": n}
            )
        )
        stats_lines.append(json.dumps({"episode_index": i, "stats": {"observation.state": _vector_stats(ep.state)}}))
        start += n
    (root / "meta" / "episodes.jsonl").write_text("\n".join(lines) + "\n")
    (root / "meta" / "episodes_stats.jsonl").write_text("\n".join(stats_lines) + "\n")
