"""The annotation pipeline for one video, as separately timed stages.

decode -> hands (estimator, then left/right by continuity) -> camera (intrinsics, static/VO/poses) -> lift
(metric camera-frame hands) -> world trajectories (outliers, gaps,
smoothing, confidence) -> atomic segments -> captions -> ``Episode``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dexego.annotate.camera import CameraConfig, estimate_camera, intrinsics_for
from dexego.annotate.caption import CaptionConfig, Captioner, caption_frames
from dexego.annotate.estimators.base import HandEstimator, estimate_video
from dexego.annotate.lift import LiftConfig, lift_hands
from dexego.annotate.segment import SegmentConfig, segment_episode
from dexego.annotate.sidecar import read_camera_metadata, sidecar
from dexego.annotate.sides import SideConfig, assign_sides
from dexego.annotate.trajectory import TrackConfig, clean_track, to_world
from dexego.annotate.undistort import Undistorter, read_lens_model
from dexego.data import Episode
from dexego.data.episode import LEGACY_PLACEHOLDERS
from dexego.errors import InputError
from dexego.hands import SIDES

STAGES = ("decode", "hands", "camera", "lift", "world", "segment", "caption")
PALM_KEYPOINTS = [0, 5, 9, 13, 17]
SOURCE = "annotate"


@dataclass(frozen=True)
class AnnotateConfig:
    estimator: str = "mediapipe"  # "mediapipe", "oracle" or "package.module:Class"
    estimator_options: dict[str, Any] = field(default_factory=dict)
    fps: int = 30  # output rate; videos at other rates are resampled to it
    max_width: int = 640  # frames wider than this are downscaled (processing and storage)
    max_seconds: float | None = None  # only the first seconds of each video
    store_video: bool = True
    undistort: bool = True  # remap videos whose .json gives a lens model ("distortion") to pinhole frames first
    min_segment_valid: float = 0.5  # a segment is captioned only if a hand is valid in this fraction of its frames
    sides: SideConfig = field(default_factory=SideConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    lift: LiftConfig = field(default_factory=LiftConfig)
    # Per-frame depth from a monocular estimate jitters by centimetres; half a second of smoothing removes most of it.
    track: TrackConfig = field(default_factory=lambda: TrackConfig(smooth_seconds=0.5))
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    caption: CaptionConfig = field(default_factory=CaptionConfig)


@dataclass
class VideoResult:
    episode: Episode
    seconds: dict[str, float]  # wall time per stage
    video_seconds: float


def decode_video(
    path: Path, fps: int, max_width: int, max_seconds: float | None
) -> tuple[np.ndarray, np.ndarray, float, tuple[int, int]]:
    """Frames resampled to ``fps`` (T, H, W, 3), their source frame indices, the source fps and size (w, h)."""
    import av
    import cv2

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            rate = float(stream.average_rate or stream.guessed_rate or fps)
            frames = []
            for frame in container.decode(stream):
                frames.append(frame.to_ndarray(format="rgb24"))
                if max_seconds is not None and len(frames) >= max_seconds * rate:
                    break
    except (av.error.FFmpegError, OSError, ValueError, IndexError) as exc:
        raise InputError(path, None, f"unreadable video: {exc}") from None
    if not frames:
        raise InputError(path, None, "video has no frames")
    n = len(frames)
    count = max(1, int(np.floor((n - 1) / rate * fps)) + 1)
    source = np.minimum(np.round(np.arange(count) * rate / fps).astype(int), n - 1)
    height, width = frames[0].shape[:2]
    size = (width, height)
    if width > max_width:
        w = max_width - max_width % 2
        h = int(round(height * w / width / 2)) * 2
        picked = np.stack([cv2.resize(frames[i], (w, h), interpolation=cv2.INTER_AREA) for i in source])
    else:
        picked = np.stack([frames[i] for i in source])
    return picked, source, rate, size


def _palms(keypoints: np.ndarray) -> np.ndarray:
    return keypoints[:, :, PALM_KEYPOINTS].mean(axis=2)


def annotate_video(
    path: str | Path,
    config: AnnotateConfig,
    estimator: HandEstimator,
    captioner: Captioner,
    poses: np.ndarray | None = None,
) -> VideoResult:
    """Annotate one video into an ``Episode`` (``poses`` (T_source, 4, 4) world_from_camera for camera mode "poses")."""
    path = Path(path)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = now - clock
        clock = now

    frames, source_index, source_fps, source_size = decode_video(path, config.fps, config.max_width, config.max_seconds)
    n, height, width = frames.shape[:3]
    meta = read_camera_metadata(path)
    intrinsics, intrinsics_origin = intrinsics_for(
        meta,
        width,
        height,
        config.camera.fov_deg,
        (meta.get("width", source_size[0]), meta.get("height", source_size[1])),
    )
    lens = read_lens_model(meta, sidecar(path, ".json"))
    distortion = None
    if lens is not None and not lens.is_identity:
        distortion = {
            "model": lens.model,
            "coefficients": list(lens.coefficients),
            "undistorted": bool(config.undistort),
        }
        if config.undistort:  # every later stage (and the stored video) sees a pinhole camera with the same intrinsics
            frames = Undistorter(lens, intrinsics.vector, (width, height)).frames(frames)
    lap("decode")

    detections = assign_sides(
        estimate_video(_IndexedEstimator(estimator, source_index), frames, str(path)), width, config.sides
    )
    lap("hands")

    given = None
    if config.camera.mode == "poses":
        if poses is None:
            raise InputError(path, "poses", "camera mode 'poses' needs a poses file for this video")
        if len(poses) <= source_index[-1]:
            raise InputError(path, "poses", f"{len(poses)} poses for a video with {source_index[-1] + 1} frames")
        given = np.asarray(poses)[source_index]
    camera = estimate_camera(frames, detections, intrinsics, config.camera, given)
    lap("camera")

    hands = lift_hands(detections, intrinsics, config.lift)
    lap("lift")

    world = to_world(hands.keypoints, camera.world_from_camera)
    keypoints = np.full_like(world, np.nan)
    valid = np.zeros((n, 2), dtype=bool)
    confidence = np.zeros((n, 2))
    for h in range(2):
        conf = hands.confidence[:, h] * camera.confidence
        keypoints[:, h], valid[:, h], confidence[:, h] = clean_track(
            world[:, h], hands.valid[:, h], conf, config.fps, config.track
        )
    lap("world")
    if not valid.any():
        raise InputError(
            path, "hands", f"no hand found in any of {n} frames (estimator {getattr(estimator, 'name', '?')})"
        )

    segments = segment_episode(keypoints[:, :, 0], valid, config.fps, config.segment)
    lap("segment")

    palms = _palms(keypoints)
    fallback = _task_text(meta, config.caption.task, path)
    instructions, segment_meta = [], []
    for seg in segments:
        present = valid[seg.start : seg.end].mean(axis=0)
        side = _moving_side(palms[seg.start : seg.end], valid[seg.start : seg.end])
        entry = {"start": seg.start, "end": seg.end, "side": side, "captioned": False}
        if present.max() >= config.min_segment_valid:
            shown = [SIDES.index(side)] if side in SIDES else [0, 1]
            images = caption_frames(frames[seg.start : seg.end], palms[seg.start : seg.end][:, shown], valid[seg.start : seg.end][:, shown],
                                    camera.world_from_camera[seg.start : seg.end], intrinsics)  # fmt: skip
            caption = captioner.caption(images, side)
            text = caption.text if caption.captioned else fallback
            entry.update(captioned=caption.captioned, text=text)
            if not caption.captioned:
                entry["reason"] = "no captioner"
        else:
            text = fallback
            entry.update(text=text, reason="no hand")
        if not entry["captioned"]:
            entry["text_from"] = "task" if text else "none"
        instructions.append((seg.start, seg.end, text))
        segment_meta.append(entry)
    lap("caption")

    episode = Episode(
        keypoints_world=keypoints.astype(np.float32),
        hand_valid=valid,
        world_from_camera=camera.world_from_camera.astype(np.float32),
        intrinsics=intrinsics,
        frames=frames if config.store_video else None,
        fps=config.fps,
        instructions=instructions,
        source=SOURCE,
        embodiment="human",
        metadata={
            "video": path.name,
            "video_bytes": path.stat().st_size,
            "source_fps": source_fps,
            "source_size": list(source_size),
            "estimator": getattr(estimator, "name", type(estimator).__name__),
            "intrinsics": intrinsics_origin,
            "distortion": distortion,
            "camera": {
                "mode": camera.mode,
                "translation": camera.translation,
                "background_flow": _finite(camera.background_flow),
            },
            "segments": segment_meta,
            "uncaptioned": sum(1 for s in segment_meta if not s["captioned"]),
            "without_instruction": sum(1 for s in segment_meta if not s["text"]),
            "hand_confidence": np.round(confidence, 3).tolist(),
            "camera_confidence": np.round(camera.confidence, 3).tolist(),
            "reprojection_px": _finite(float(np.nanmean(hands.reprojection_px))) if hands.valid.any() else None,
        },
    )
    episode.check(str(path))
    return VideoResult(episode, seconds, video_seconds=n / config.fps)


def _moving_side(palms: np.ndarray, valid: np.ndarray, min_extent: float = 0.04) -> str:
    """ "left", "right" or "both": the hand(s) that move in a segment.

    A hand's motion is the extent of its palm path (the diagonal of its
    bounding box, insensitive to jitter); both hands count when the smaller
    extent is at least 40% of the larger and ``min_extent`` metres.
    """
    extent = []
    for h in range(2):
        p = palms[valid[:, h], h]
        extent.append(float(np.linalg.norm(p.max(0) - p.min(0))) if len(p) > 1 else -1.0)
    fast = int(np.argmax(extent))
    slow = extent[1 - fast]
    return "both" if slow >= min_extent and slow > 0.4 * extent[fast] else SIDES[fast]


def _task_text(meta: dict, default: str, path: Path) -> str:
    """The text an uncaptioned segment takes: the video's own ``task`` (its .json), else ``caption.task``."""
    task = meta.get("task", default)
    if not isinstance(task, str):
        raise InputError(path.with_suffix(".json"), "task", f"expected a string, got {type(task).__name__}")
    if task.strip() in LEGACY_PLACEHOLDERS:
        raise InputError(path.with_suffix(".json"), "task", f"{task!r} is a placeholder, not a task description")
    return task.strip()


def _finite(value: float) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


class _IndexedEstimator:
    """Passes source-video frame indices (not resampled ones) to the estimator."""

    def __init__(self, estimator: HandEstimator, source_index: np.ndarray):
        self.estimator, self.source_index = estimator, source_index

    def reset(self, video: str) -> None:
        self.estimator.reset(video)

    def estimate(self, frame: np.ndarray, index: int):
        return self.estimator.estimate(frame, int(self.source_index[index]))
