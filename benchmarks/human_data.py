"""Synthetic egocentric human data generation rate vs robot demonstrations of the same task (same run, same machine).

Reports successful episodes per hour and hours of 30 fps footage per hour of
wall time, for `record_demos(..., embodiment="human")` and the baseline
`record_demos(..., embodiment="robot")`, both written through DatasetWriter
(video encoding included).

    MUJOCO_GL=egl python benchmarks/human_data.py [--task Stack-Can] [--episodes 4] [--workers 2] [--image-size 224]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

from dexego.data import Dataset  # noqa: E402
from dexego.sim.demos import record_demos  # noqa: E402


def measure(task: str, embodiment: str, episodes: int, workers: int, image_size: int, root: Path) -> dict:
    out = root / embodiment
    t = time.perf_counter()
    summary = record_demos(task, episodes, out, workers=workers, image_size=image_size, embodiment=embodiment)
    wall = time.perf_counter() - t
    frames = Dataset(out).num_frames
    return {
        "episodes": summary["written"],
        "attempts": summary["attempts"],
        "wall_s": wall,
        "episodes_per_hour": summary["written"] / wall * 3600,
        "footage_h_per_hour": frames / 30.0 / wall,
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--task", default="Stack-Can")
    p.add_argument("--episodes", type=int, default=4)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--image-size", type=int, default=224)
    args = p.parse_args()
    print(
        f"task {args.task}, {args.episodes} successful episodes each, {args.workers} workers, {args.image_size}px, {os.cpu_count()} cores"
    )
    print(
        f"{'embodiment':12s} {'episodes':>8s} {'attempts':>8s} {'wall s':>8s} {'episodes/h':>11s} {'footage h/h':>12s}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        rows = {
            e: measure(args.task, e, args.episodes, args.workers, args.image_size, Path(tmp))
            for e in ("robot", "human")
        }
    for e, r in rows.items():
        print(
            f"{e:12s} {r['episodes']:8d} {r['attempts']:8d} {r['wall_s']:8.1f} {r['episodes_per_hour']:11.0f} {r['footage_h_per_hour']:12.3f}"
        )
    ratio = rows["human"]["episodes_per_hour"] / rows["robot"]["episodes_per_hour"]
    print(f"human / robot (baseline) episodes per hour: {ratio:.2f}x")


if __name__ == "__main__":
    main()
