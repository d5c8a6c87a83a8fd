"""Camera-frame hand tracks -> clean world-frame trajectories.

Steps, each usable alone: express in the world frame, reject outliers
(implausible wrist jumps), fill short gaps by interpolation, smooth each
valid run with a Savitzky-Golay filter, and report per-frame confidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import savgol_filter

from dexego.geometry import apply_transform


@dataclass(frozen=True)
class TrackConfig:
    max_speed: float = 4.0  # m/s; a wrist faster than this is a tracking error
    max_gap_seconds: float = 0.25  # gaps up to this long are interpolated
    smooth_seconds: float = 0.25  # Savitzky-Golay window
    smooth_order: int = 2


def to_world(camera_points: np.ndarray, world_from_camera: np.ndarray) -> np.ndarray:
    """(T, ..., N, 3) camera-frame points and (T, 4, 4) poses -> world-frame points."""
    poses = np.asarray(world_from_camera, dtype=np.float64)
    points = np.asarray(camera_points, dtype=np.float64)
    poses = poses.reshape(poses.shape[:1] + (1,) * (points.ndim - 3) + (4, 4))
    return apply_transform(poses, points)


def reject_outliers(wrist: np.ndarray, valid: np.ndarray, fps: float, max_speed: float) -> np.ndarray:
    """Validity (T,) with frames removed whose wrist jumps faster than ``max_speed`` from the last good frame."""
    valid = np.asarray(valid, dtype=bool) & np.isfinite(wrist).all(-1)
    out = valid.copy()
    last = None
    for t in np.flatnonzero(valid):
        if last is not None and np.linalg.norm(wrist[t] - wrist[last]) > max_speed * (t - last) / fps:
            out[t] = False
            continue
        last = t
    # The first good frame may itself be the outlier: if its successor disagrees with it, trust the majority.
    good = np.flatnonzero(out)
    if len(good) >= 3 and np.linalg.norm(wrist[good[1]] - wrist[good[0]]) > max_speed * (good[1] - good[0]) / fps:
        out[good[0]] = False
    return out


def fill_gaps(points: np.ndarray, valid: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Linearly interpolate (T, ..., 3) tracks across invalid runs of at most ``max_gap`` frames."""
    points = np.array(points, dtype=np.float64)
    valid = np.asarray(valid, dtype=bool).copy()
    good = np.flatnonzero(valid)
    for a, b in zip(good[:-1], good[1:]):
        if 1 < b - a <= max_gap + 1:
            w = (np.arange(a + 1, b) - a) / (b - a)
            w = w.reshape((-1,) + (1,) * (points.ndim - 1))
            points[a + 1 : b] = (1 - w) * points[a] + w * points[b]
            valid[a + 1 : b] = True
    return points, valid


def smooth(points: np.ndarray, valid: np.ndarray, window: int, order: int) -> np.ndarray:
    """Savitzky-Golay smoothing of each valid run of a (T, ..., 3) track (runs shorter than the window stay)."""
    points = np.array(points, dtype=np.float64)
    window = window if window % 2 else window + 1
    edges = np.flatnonzero(np.diff(np.concatenate([[0], valid.astype(np.int8), [0]])))
    for start, end in zip(edges[::2], edges[1::2]):
        if end - start >= window > order:
            points[start:end] = savgol_filter(points[start:end], window, order, axis=0)
    return points


def clean_track(
    keypoints: np.ndarray, valid: np.ndarray, confidence: np.ndarray, fps: float, config: TrackConfig = TrackConfig()
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One hand's world keypoints (T, 21, 3) -> cleaned keypoints, validity (T,), confidence (T,).

    Interpolated frames keep half the confidence of their neighbours; rejected
    and unfilled frames get confidence 0 and NaN keypoints.
    """
    kept = reject_outliers(keypoints[:, 0], valid, fps, config.max_speed)
    filled, filled_valid = fill_gaps(keypoints, kept, int(round(config.max_gap_seconds * fps)))
    smoothed = smooth(filled, filled_valid, max(3, int(round(config.smooth_seconds * fps))), config.smooth_order)
    conf = np.where(kept, confidence, 0.0)
    interpolated = filled_valid & ~kept
    if interpolated.any():
        good = np.flatnonzero(kept)
        nearest = good[np.clip(np.searchsorted(good, np.flatnonzero(interpolated)), 0, len(good) - 1)]
        conf[interpolated] = 0.5 * confidence[nearest]
    smoothed[~filled_valid] = np.nan
    return smoothed, filled_valid, conf
