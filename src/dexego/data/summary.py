"""``dataset_summary``: what ``dexego data info`` prints."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from dexego.data.reader import Dataset


def dataset_summary(root: str | Path) -> dict:
    ds = Dataset(root)
    sources: Counter[str] = Counter()
    embodiments: Counter[str] = Counter()
    for ep in range(ds.num_episodes):
        meta = ds.episode_meta(ep)
        sources[meta["source"]] += int(ds.episode_lengths[ep])
        embodiments[meta["embodiment"]] += int(ds.episode_lengths[ep])
    return {
        "path": str(ds.root),
        "codebase_version": ds.version,
        "episodes": ds.num_episodes,
        "frames": ds.num_frames,
        "fps": ds.fps,
        "hours": ds.num_frames / ds.fps / 3600.0,
        "robot_type": ds.info.get("robot_type"),
        "features": {name: {"dtype": f["dtype"], "shape": list(f["shape"])} for name, f in ds.features.items()},
        "tasks": len(ds.tasks),
        "task_examples": ds.tasks[:10],
        "frames_by_source": dict(sources),
        "frames_by_embodiment": dict(embodiments),
    }


def format_summary(summary: dict) -> str:
    lines = [
        f"{summary['path']} (LeRobot {summary['codebase_version']})",
        f"  episodes: {summary['episodes']}   frames: {summary['frames']}   fps: {summary['fps']}   hours: {summary['hours']:.3f}",
        f"  robot_type: {summary['robot_type']}",
        "  features:",
    ]
    lines += [f"    {name}: {f['dtype']} {tuple(f['shape'])}" for name, f in summary["features"].items()]
    lines.append(f"  tasks: {summary['tasks']}")
    lines += [f"    {task!r}" for task in summary["task_examples"]]
    lines.append("  sources (frames): " + ", ".join(f"{k}={v}" for k, v in summary["frames_by_source"].items()))
    lines.append("  embodiments (frames): " + ", ".join(f"{k}={v}" for k, v in summary["frames_by_embodiment"].items()))
    return "\n".join(lines)
