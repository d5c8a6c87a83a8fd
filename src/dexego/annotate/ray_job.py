"""The annotation pipeline as a Ray Data job: videos are annotated in parallel workers, episodes written by the driver.

Each worker (a Ray actor) builds its estimator and captioner once and maps
video paths to episodes; the driver streams the results into one
``DatasetWriter`` (the dataset has a single writer), so resume works as in
the local run. Episodes travel as plain arrays and JSON strings, not pickled
objects of ours. Needs the optional extra ``pip install -e ".[scale]"``.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dexego.annotate.pipeline import AnnotateConfig, annotate_video
from dexego.annotate.run import RunSummary, pending_videos, poses_for
from dexego.config import load_config, to_dict
from dexego.data import DatasetWriter, Episode
from dexego.errors import ConfigError, DexegoError
from dexego.geometry import Intrinsics


def episode_to_bytes(episode: Episode) -> bytes:
    """An annotated episode as npz bytes (arrays plus JSON strings; read back without pickle)."""
    k = episode.intrinsics
    buffer = io.BytesIO()
    np.savez(
        buffer,
        keypoints_world=np.asarray(episode.keypoints_world, np.float32),
        hand_valid=np.asarray(episode.hand_valid, bool),
        world_from_camera=np.asarray(episode.world_from_camera, np.float32),
        intrinsics=np.array([k.fx, k.fy, k.cx, k.cy, k.width, k.height], np.float64),
        fps=np.float64(episode.fps),
        instructions=np.str_(json.dumps(episode.instructions)),
        metadata=np.str_(json.dumps(episode.metadata)),
        source=np.str_(episode.source),
        frames=episode.frames if episode.frames is not None else np.zeros((0, 0, 0, 3), np.uint8),
    )
    return buffer.getvalue()


def episode_from_bytes(data: bytes) -> Episode:
    with np.load(io.BytesIO(data), allow_pickle=False) as row:
        k = row["intrinsics"]
        frames = row["frames"]
        return Episode(
            keypoints_world=row["keypoints_world"],
            hand_valid=row["hand_valid"],
            world_from_camera=row["world_from_camera"],
            intrinsics=Intrinsics(float(k[0]), float(k[1]), float(k[2]), float(k[3]), int(k[4]), int(k[5])),
            frames=frames if frames.size else None,
            fps=float(row["fps"]),
            instructions=[tuple(seg) for seg in json.loads(str(row["instructions"]))],
            source=str(row["source"]),
            embodiment="human",
            metadata=json.loads(str(row["metadata"])),
        )


class AnnotateRow:
    """Ray Data callable: {"video", "poses", "single"} -> an episode row, or an error message."""

    def __init__(self, config: dict):
        from dexego.annotate.caption import make_captioner
        from dexego.annotate.estimators import make_estimator

        self.config = load_config(AnnotateConfig, config)
        self.estimator = make_estimator(self.config.estimator, **self.config.estimator_options)
        self.captioner = make_captioner(self.config.caption)

    def __call__(self, item: dict[str, Any]) -> dict[str, Any]:
        video = Path(item["video"])
        try:
            poses = poses_for(item["poses"] or None, video, bool(item["single"]))
            result = annotate_video(video, self.config, self.estimator, self.captioner, poses)
        except DexegoError as exc:
            return {"video": video.name, "error": str(exc), "seconds": "{}", "video_seconds": 0.0, "episode": b""}
        return {"video": video.name, "error": "", "seconds": json.dumps(result.seconds), "video_seconds": result.video_seconds,
                "episode": episode_to_bytes(result.episode)}  # fmt: skip


def annotate_with_ray(
    video_dir: str | Path,
    output: str | Path,
    config: AnnotateConfig,
    address: str = "local",
    poses: str | None = None,
    workers: int = 2,
    num_cpus: int | None = None,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> RunSummary:
    """Annotate ``video_dir`` on a Ray cluster (``address`` "local" starts one in-process)."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs the optional extra: pip install -e '.[scale]'") from None
    todo, summary = pending_videos(video_dir, output)
    single = len(todo) + len(summary.skipped) == 1  # a poses file (not a folder) is allowed for one video only
    if not todo:
        log(f"annotate: nothing to do ({len(summary.skipped)} videos already in {output})")
        return summary
    started = not ray.is_initialized()
    if started:
        if address in ("", "local"):
            ray.init(num_cpus=num_cpus or workers, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        items = [
            {"video": str(v.resolve()), "poses": str(Path(poses).resolve()) if poses else "", "single": single}
            for v in todo
        ]
        dataset = ray.data.from_items(items, override_num_blocks=len(items)).map(
            AnnotateRow,
            fn_constructor_kwargs={"config": to_dict(config)},
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=1,
        )
        with DatasetWriter(output, fps=config.fps) as writer:
            for row in dataset.iter_rows():
                if row["error"]:
                    summary.failed[row["video"]] = row["error"]
                    log(f"annotate: skipped {row['video']}: {row['error']}")
                    continue
                writer.add_episode(episode_from_bytes(row["episode"]))
                summary.written.append(row["video"])
                summary.video_seconds += float(row["video_seconds"])
                for stage, value in json.loads(row["seconds"]).items():
                    summary.seconds[stage] = summary.seconds.get(stage, 0.0) + value
                log(f"annotate: [{len(summary.written) + len(summary.failed)}/{len(todo)}] {row['video']}")
    finally:
        if started:
            ray.shutdown()
    log(
        f"annotate (ray): wrote {len(summary.written)} episodes, skipped {len(summary.skipped)}, {len(summary.failed)} failed"
    )
    return summary
