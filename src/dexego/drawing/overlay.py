"""Predicted and true future hand trajectories drawn onto camera frames (PNG and MP4).

Everything here takes frames, camera-frame trajectories and intrinsics only,
so it serves dataset samples and simulator rollouts alike. Action chunks
(..., H, D) in the frame's camera frame are decoded with
:func:`dexego.actions.action_to_keypoints` into wrist and fingertip paths.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from dexego.actions import action_to_keypoints, get_space
from dexego.errors import InputError
from dexego.geometry import Intrinsics, project
from dexego.hands.layout import FINGERTIPS
from dexego.utils.files import atomic_file, write_bytes_atomic

MIN_DEPTH = 1e-3
Color = tuple[int, int, int]


@dataclass(frozen=True)
class Trajectory:
    """A path of camera-frame points (N, 3), drawn as a polyline with a dot at its first point."""

    points: np.ndarray
    color: Color
    width: int = 2
    valid: np.ndarray | None = None  # (N,) bool; segments touching an invalid point are skipped


@dataclass(frozen=True)
class OverlayStyle:
    """Colours and sizes of trajectory overlays (true paths green, predicted magenta)."""

    target_wrist: Color = (40, 220, 40)
    target_tips: Color = (160, 240, 160)
    predicted_wrist: Color = (240, 40, 200)
    predicted_tips: Color = (250, 170, 235)
    wrist_width: int = 3
    tip_width: int = 1
    fingertips: bool = True
    legend: bool = True


def style_for_frame(height: int, width: int, base: OverlayStyle = OverlayStyle()) -> OverlayStyle:
    """``base`` with line widths scaled to the frame (its widths suit ~224 px) and no legend where it would not fit."""
    side = min(height, width)
    scale = side / 224.0
    return replace(base, wrist_width=max(1, round(base.wrist_width * scale)), tip_width=max(1, round(base.tip_width * scale)),
                   legend=base.legend and side >= 128)  # fmt: skip


def project_points(points: np.ndarray, intrinsics: Intrinsics | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Camera points (..., 3) -> pixels (..., 2) and a mask of points in front of the camera."""
    points = np.asarray(points, dtype=np.float64)
    k = intrinsics.vector if isinstance(intrinsics, Intrinsics) else np.asarray(intrinsics, dtype=np.float64)
    front = np.isfinite(points).all(-1) & (points[..., 2] > MIN_DEPTH)
    safe = np.where(front[..., None], points, np.array([0.0, 0.0, 1.0]))
    return project(safe, k), front


def draw_trajectories(
    frame: np.ndarray,
    trajectories: Sequence[Trajectory],
    intrinsics: Intrinsics | np.ndarray,
    legend: dict[str, Color] | None = None,
) -> np.ndarray:
    """A copy of ``frame`` (H, W, 3) uint8 with the trajectories drawn on it."""
    from PIL import Image, ImageDraw

    frame = _check_frame(frame)
    height, width = frame.shape[:2]
    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    limit = 4.0 * max(width, height)  # keep far off-screen points finite for the rasteriser
    # One projection for every path (per-path calls cost more than the drawing on small frames).
    points = [np.asarray(t.points, dtype=np.float64).reshape(-1, 3) for t in trajectories]
    bounds = np.cumsum([0] + [len(p) for p in points])
    all_pixels, all_ok = project_points(np.concatenate(points) if points else np.zeros((0, 3)), intrinsics)
    all_pixels = np.clip(all_pixels, -limit, limit)
    for trajectory, start, stop in zip(trajectories, bounds[:-1], bounds[1:]):
        pixels, ok = all_pixels[start:stop], all_ok[start:stop].copy()
        if trajectory.valid is not None:
            ok &= np.asarray(trajectory.valid, dtype=bool)
        for run in _valid_runs(ok):  # one polyline per unbroken run: far fewer rasteriser calls than per segment
            draw.line([tuple(p) for p in pixels[run]], fill=trajectory.color, width=trajectory.width)
        first = np.flatnonzero(ok)
        if first.size:
            x, y = pixels[first[0]]
            r = trajectory.width + 1
            draw.ellipse([x - r, y - r, x + r, y + r], fill=trajectory.color)
    if legend:
        y = 2
        for label, color in legend.items():
            draw.rectangle([3, y + 2, 11, y + 10], fill=color)
            draw.text((14, y), label, fill=(255, 255, 255))
            y += 12
    return np.asarray(image)


def _valid_runs(ok: np.ndarray) -> list[slice]:
    """Slices of the maximal runs of at least two consecutive True entries."""
    edges = np.diff(np.concatenate([[0], ok.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [slice(a, b) for a, b in zip(starts, stops) if b - a >= 2]


def chunk_trajectories(
    chunk: np.ndarray, valid: np.ndarray | None, kind: str, space: str = "ego48", style: OverlayStyle = OverlayStyle()
) -> list[Trajectory]:
    """Wrist (and fingertip) paths of an action chunk (H, D) in the camera frame; ``kind`` is "target" or "predicted"."""
    space_ = get_space(space)
    chunk = np.asarray(chunk, dtype=np.float64)
    if chunk.ndim != 2 or chunk.shape[-1] != space_.dim:
        raise ValueError(f"{kind} chunk must have shape (H, {space_.dim}), got {chunk.shape}")
    valid = np.ones((chunk.shape[0], 2), bool) if valid is None else np.asarray(valid, dtype=bool)
    if valid.shape != (chunk.shape[0], 2):
        raise ValueError(f"valid must have shape ({chunk.shape[0]}, 2), got {valid.shape}")
    hands = action_to_keypoints(chunk, space_)
    wrist_color, tip_color = (
        (style.target_wrist, style.target_tips) if kind == "target" else (style.predicted_wrist, style.predicted_tips)
    )
    tips = [hands.keypoint_indices.index(i) for i in FINGERTIPS]
    out = []
    for hand in range(2):
        mask = valid[:, hand]
        if not mask.any():
            continue
        if style.fingertips:
            for tip in tips:
                out.append(Trajectory(hands.points[:, hand, tip], tip_color, style.tip_width, mask))
        out.append(Trajectory(hands.wrist_pose[:, hand, :3, 3], wrist_color, style.wrist_width, mask))
    return out


def overlay_chunk(
    frame: np.ndarray,
    intrinsics: Intrinsics | np.ndarray,
    predicted: np.ndarray | None = None,
    target: np.ndarray | None = None,
    valid: np.ndarray | None = None,
    space: str = "ego48",
    style: OverlayStyle = OverlayStyle(),
) -> np.ndarray:
    """``frame`` with the true (green) and predicted (magenta) future chunks (H, D) drawn on it.

    ``valid`` (H, 2) masks hands of both chunks (e.g. the sample's ``action_valid``).
    """
    trajectories: list[Trajectory] = []
    legend: dict[str, Color] = {}
    if target is not None:
        trajectories += chunk_trajectories(target, valid, "target", space, style)
        legend["ground truth"] = style.target_wrist
    if predicted is not None:
        trajectories += chunk_trajectories(predicted, valid, "predicted", space, style)
        legend["predicted"] = style.predicted_wrist
    return draw_trajectories(frame, trajectories, intrinsics, legend if style.legend else None)


def overlay_sample(
    sample: dict, predicted: np.ndarray | None = None, space: str = "ego48", style: OverlayStyle = OverlayStyle()
) -> np.ndarray:
    """The current frame of a training sample (``images[-1]``, CHW) with its true and predicted chunks."""
    images = np.asarray(sample["images"])
    if images.ndim != 4 or images.shape[1] != 3:
        raise InputError(None, "images", f"expected (T, 3, H, W), got {images.shape}")
    frame = np.ascontiguousarray(images[-1].transpose(1, 2, 0)).astype(np.uint8, copy=False)
    return overlay_chunk(
        frame,
        np.asarray(sample["intrinsics"], dtype=np.float64),
        predicted,
        np.asarray(sample["actions"]),
        np.asarray(sample["action_valid"], dtype=bool),
        space,
        style,
    )


def encode_png(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(_check_frame(image)).save(buffer, format="PNG")
    return buffer.getvalue()


def save_png(path: str | Path, image: np.ndarray) -> Path:
    return write_bytes_atomic(path, encode_png(image))


def overlay_video_frames(
    frames: np.ndarray,
    intrinsics: Intrinsics | np.ndarray,
    predicted: np.ndarray | None = None,
    target: np.ndarray | None = None,
    valid: np.ndarray | None = None,
    space: str = "ego48",
    style: OverlayStyle = OverlayStyle(),
) -> np.ndarray:
    """Per-frame overlays: frame t gets its own chunks ``predicted[t]`` / ``target[t]`` (T, H, D).

    ``intrinsics`` is one camera or per-frame (T, 4); ``valid`` is (T, H, 2).
    """
    frames = np.asarray(frames)
    if frames.ndim != 4:
        raise ValueError(f"frames must have shape (T, H, W, 3), got {frames.shape}")
    count = frames.shape[0]
    for name, chunks in (("predicted", predicted), ("target", target), ("valid", valid)):
        if chunks is not None and len(chunks) != count:
            raise ValueError(f"{name} has {len(chunks)} chunks for {count} frames")
    per_frame_k = not isinstance(intrinsics, Intrinsics) and np.ndim(intrinsics) == 2
    return np.stack(
        [
            overlay_chunk(
                frames[t],
                intrinsics[t] if per_frame_k else intrinsics,
                None if predicted is None else predicted[t],
                None if target is None else target[t],
                None if valid is None else valid[t],
                space,
                style,
            )
            for t in range(count)
        ]
    )


def write_video(path: str | Path, frames: np.ndarray, fps: float = 30.0, crf: int = 23) -> Path:
    """Encode frames (T, H, W, 3) uint8 as H.264 MP4 (odd sizes padded to even), atomically."""
    from dexego.data.video import VideoCodecConfig, encode_video

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError(f"frames must be a non-empty uint8 array (T, H, W, 3), got {frames.dtype} {frames.shape}")
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    with atomic_file(path) as tmp:
        encode_video(tmp, frames, fps, VideoCodecConfig(crf=crf))
    return Path(path)


def write_overlay_video(
    path: str | Path,
    frames: np.ndarray,
    intrinsics,
    predicted=None,
    target=None,
    valid=None,
    fps: float = 30.0,
    space: str = "ego48",
    style: OverlayStyle = OverlayStyle(),
) -> Path:
    """:func:`overlay_video_frames` encoded to ``path`` (MP4)."""
    return write_video(path, overlay_video_frames(frames, intrinsics, predicted, target, valid, space, style), fps)


def _check_frame(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[-1] != 3 or frame.dtype != np.uint8:
        raise InputError(None, "frame", f"expected uint8 (H, W, 3), got {frame.dtype} {frame.shape}")
    return np.ascontiguousarray(frame)
