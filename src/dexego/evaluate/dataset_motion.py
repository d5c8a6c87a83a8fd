"""`dexego eval motion`: a policy checkpoint (or a baseline) against the samples of a dataset.

Samples are built by :class:`dexego.data.SampleSource` with the policy's
horizon, history and action space, episode by episode in order, so the
evaluation is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from dexego.drawing.overlay import overlay_sample, overlay_video_frames, save_png, write_video
from dexego.errors import InputError
from dexego.evaluate.policy_motion import HoldCurrentPose, MotionEvalConfig, evaluate_motion, predict_chunk

BASELINES = ("hold",)
VIDEO_BATCH = 16  # samples built at a time for the overlay video (each holds its history frames)


def load_predictor(policy: str | Path) -> tuple[Any, dict]:
    """A predictor and the sample settings it expects (action_space, horizon, history)."""
    if str(policy) in BASELINES:
        return HoldCurrentPose(horizon=30), {}
    from dexego.models import Policy

    loaded = Policy.from_pretrained(policy)
    config = loaded.config
    return loaded, {"action_space": config.action_space, "horizon": config.horizon, "history": config.n_obs_frames - 1}


def dataset_samples(data: str | Path, settings: dict) -> Iterator[dict]:
    """Every sample of every episode of the dataset at ``data``, episode by episode."""
    from dexego.data import SampleConfig, SampleSource

    source = SampleSource(data, SampleConfig(**settings))
    for episode in source.episodes:
        yield from source.samples(episode, source.anchors[episode])


def run_motion_eval(
    policy: str | Path,
    data: str | Path,
    space: str = "ego48",
    steps: tuple[int, ...] = (10, 20, 30),
    max_samples: int = 0,
    overlays: int = 0,
    overlay_dir: str | Path | None = None,
    overlay_video: str | Path | None = None,
    video_episode: int = 0,
    video_stride: int = 1,
) -> dict:
    """Motion metrics of ``policy`` (checkpoint directory or "hold") on the dataset ``data``.

    With ``overlays`` > 0, the first that many samples are also drawn (current
    frame, true and predicted chunks) as PNGs into ``overlay_dir``. With
    ``overlay_video``, episode ``video_episode`` (the index among the dataset's
    episodes) is also written there as an MP4 with the chunks drawn on every
    ``video_stride``-th frame (see :func:`write_episode_overlay_video`).
    """
    predictor, settings = load_predictor(policy)
    space = settings.get("action_space", space)
    settings.setdefault("action_space", space)
    if isinstance(predictor, HoldCurrentPose):
        predictor.horizon = settings.get("horizon", 30)
    saved: list[Path] = []

    def draw(sample: dict, predicted) -> None:
        if len(saved) < overlays and overlay_dir is not None:
            name = f"episode{int(sample['episode_index']):06d}_frame{int(sample['frame_index']):06d}.png"
            saved.append(save_png(Path(overlay_dir) / name, overlay_sample(sample, predicted, space)))

    from dexego.utils.progress import progress_bar

    config = MotionEvalConfig(space=space, steps=steps, max_samples=max_samples)
    bar = progress_bar(max_samples or None, "motion", "samples")
    try:
        result = evaluate_motion(
            predictor, dataset_samples(data, settings), config, lambda done: bar.update(done - bar.n), draw
        )
    finally:
        bar.close()
    result["policy"] = str(policy)
    result["data"] = str(data)
    result["overlays"] = [str(p) for p in saved]
    if overlay_video is not None:
        result["overlay_video"] = write_episode_overlay_video(
            predictor, data, settings, overlay_video, space, video_episode, video_stride
        )
    return result


def write_episode_overlay_video(
    predictor,
    data: str | Path,
    settings: dict,
    path: str | Path,
    space: str = "ego48",
    episode: int = 0,
    stride: int = 1,
) -> dict:
    """:func:`episode_overlay_frames` encoded as an MP4 at ``path``; returns what was written."""
    frames, fps, index = episode_overlay_frames(predictor, data, settings, space, episode, stride)
    write_video(path, frames, fps)
    return {"path": str(path), "episode": index, "frames": len(frames), "fps": fps, "stride": stride}


def episode_overlay_frames(
    predictor, data: str | Path, settings: dict, space: str = "ego48", episode: int = 0, stride: int = 1
) -> tuple[np.ndarray, float, int]:
    """Every ``stride``-th frame of one dataset episode with the true (green) and predicted (magenta) chunks
    starting there, at the samples' image size; also the frame rate and the episode's index."""
    from dexego.data import SampleConfig, SampleSource

    if stride < 1:
        raise InputError(None, "video_stride", f"must be at least 1, got {stride}")
    source = SampleSource(data, SampleConfig(**settings))
    if not 0 <= episode < len(source.episodes):
        raise InputError(data, "episode", f"{episode} is out of range: the dataset has {len(source.episodes)} episodes")
    if not source.dataset.video_keys:
        raise InputError(data, "video", "the dataset has no video to draw the overlay on")
    index = source.episodes[episode]
    anchors = np.arange(0, int(source.dataset.episode_lengths[index]), stride)
    hand_dim = _hand_dim(space)
    frames, intrinsics, predicted, target, valid = [], [], [], [], []
    for start in range(0, len(anchors), VIDEO_BATCH):
        for sample in source.samples(index, anchors[start : start + VIDEO_BATCH]):
            actions, mask = np.asarray(sample["actions"]), np.asarray(sample["action_valid"], dtype=bool)
            predicted.append(predict_chunk(predictor, sample, actions.shape, mask, hand_dim))
            frames.append(np.asarray(sample["images"])[-1].transpose(1, 2, 0))
            intrinsics.append(np.asarray(sample["intrinsics"], dtype=np.float64))
            target.append(actions)
            valid.append(mask)
    drawn = overlay_video_frames(np.stack(frames), np.stack(intrinsics), np.stack(predicted), np.stack(target),
                                 np.stack(valid), space)  # fmt: skip
    return drawn, source.fps / stride, int(index)


def _hand_dim(space: str) -> int:
    from dexego.actions import get_space

    return get_space(space).hand_dim
