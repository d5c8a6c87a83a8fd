"""Annotate a directory of videos into a dataset, with progress and resume.

Videos whose name is already recorded in the dataset (episode metadata
``video``) are skipped, so an interrupted run continues where it stopped;
each episode is committed by ``DatasetWriter`` crash-safely. A video that
fails (unreadable, no hands at all) is reported and skipped, not fatal.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dexego.annotate.caption import Captioner, make_captioner
from dexego.annotate.estimators import HandEstimator, make_estimator
from dexego.annotate.pipeline import STAGES, AnnotateConfig, VideoResult, annotate_video
from dexego.annotate.sidecar import list_videos, read_poses
from dexego.data import Dataset, DatasetWriter
from dexego.errors import ConfigError, DexegoError, InputError


@dataclass
class RunSummary:
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already in the dataset
    failed: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    video_seconds: float = 0.0

    def add(self, name: str, result: VideoResult) -> None:
        self.written.append(name)
        self.video_seconds += result.video_seconds
        for stage, value in result.seconds.items():
            self.seconds[stage] = self.seconds.get(stage, 0.0) + value


def annotated_videos(output: str | Path) -> set[str]:
    """Names of the videos already written to the dataset at ``output`` (empty if there is none)."""
    root = Path(output)
    if not (root / "meta" / "info.json").is_file():
        return set()
    dataset = Dataset(root)
    try:
        return {str(dataset.episode_meta(i)["metadata"].get("video")) for i in range(dataset.num_episodes)}
    finally:
        dataset.close()


def pending_videos(video_dir: str | Path, output: str | Path) -> tuple[list[Path], RunSummary]:
    """The videos of ``video_dir`` still to annotate, and a summary that lists those already in ``output``."""
    videos = list_videos(video_dir)
    done = annotated_videos(output)
    return [v for v in videos if v.name not in done], RunSummary(skipped=[v.name for v in videos if v.name in done])


def poses_for(spec: str | None, video: Path, single: bool) -> np.ndarray | None:
    """Poses of ``video`` from ``spec`` = a directory holding ``<stem>.npy|.npz|.txt`` or, for one video, a file."""
    if not spec:
        return None
    root = Path(spec)
    if root.is_dir():
        candidates = [root / f"{video.stem}{ext}" for ext in (".npy", ".npz", ".txt", ".poses.npy", ".poses.txt")]
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            raise InputError(root, video.stem, "no poses file for this video (<stem>.npy, .npz or .txt)")
    elif root.is_file():
        if not single:
            raise ConfigError(
                f"--camera poses:{spec} is one file but the directory has several videos; give a directory of <stem>.npy"
            )
        path = root
    else:
        raise InputError(root, None, "poses file or directory does not exist")
    return read_poses(path, _frame_count(video))


def _frame_count(video: Path) -> int:
    import av

    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        if stream.frames:
            return int(stream.frames)
        return sum(1 for _ in container.demux(stream) if _.size)


def annotate_directory(
    video_dir: str | Path,
    output: str | Path,
    config: AnnotateConfig,
    poses: str | None = None,
    estimator: HandEstimator | None = None,
    captioner: Captioner | None = None,
    progress: bool = True,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> RunSummary:
    """Annotate every video of ``video_dir`` not yet in the dataset at ``output``."""
    todo, summary = pending_videos(video_dir, output)
    single = len(todo) + len(summary.skipped) == 1  # a poses file (not a folder) is allowed for one video only
    if not todo:
        log(f"annotate: nothing to do ({len(summary.skipped)} videos already in {output})")
        return summary
    estimator = estimator or make_estimator(config.estimator, **config.estimator_options)
    captioner = captioner or make_captioner(config.caption)
    from dexego.utils.progress import progress_iter

    with DatasetWriter(output, fps=config.fps) as writer:
        for video in progress_iter(todo, "annotate", "video", disable=not progress):
            try:
                result = annotate_video(video, config, estimator, captioner, poses_for(poses, video, single))
                writer.add_episode(result.episode)
            except DexegoError as exc:
                summary.failed[video.name] = str(exc)
                log(f"annotate: skipped {video.name}: {exc}")
                continue
            summary.add(video.name, result)
        close = getattr(estimator, "close", None)
        if callable(close):
            close()
    log(
        f"annotate: wrote {len(summary.written)} episodes ({summary.video_seconds:.1f} s of video), "
        f"skipped {len(summary.skipped)} already done, {len(summary.failed)} failed"
    )
    return summary
