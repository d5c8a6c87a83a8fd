"""Atomic action segments: cut a hand's motion at minima of its 3D wrist speed (VITRA).

People pause (the wrist slows down) between atomic actions: reach, grasp,
move, release. The cut points are local minima of the wrist speed, taken on
the smoothed path, that are real dips (the speed rises clearly on both
sides, so tracking jitter does not cut a motion in pieces). Segments
shorter than ``min_seconds`` are merged into a neighbour and segments
longer than ``max_seconds`` are split at their slowest inner frame.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d, minimum_filter1d
from scipy.signal import peak_prominences


@dataclass(frozen=True)
class SegmentConfig:
    min_seconds: float = 0.5
    max_seconds: float = 8.0
    smooth_seconds: float = 0.3  # Gaussian smoothing of the wrist path before its speed is taken (2 sigma)
    # A minimum only counts as a pause if the speed there is below this fraction of the lower of the
    # two motions around it ...
    pause_ratio: float = 0.5
    # ... and the speed rises by at least this much (m/s) on both sides, so that jitter in a noisy
    # track, which makes shallow dips everywhere, does not cut a pause or a smooth reach in pieces.
    min_rise: float = 0.05

    def __post_init__(self) -> None:
        if not 0 < self.min_seconds < self.max_seconds:
            raise ValueError(f"need 0 < min_seconds < max_seconds, got {self.min_seconds}, {self.max_seconds}")
        if not 0 < self.pause_ratio < 1 or self.min_rise < 0:
            raise ValueError(f"need 0 < pause_ratio < 1 and min_rise >= 0, got {self.pause_ratio}, {self.min_rise}")


@dataclass(frozen=True)
class Segment:
    start: int  # first frame
    end: int  # one past the last frame
    side: str  # "left", "right" or "both"


def wrist_speed(positions: np.ndarray, valid: np.ndarray, fps: float, smooth_seconds: float) -> np.ndarray:
    """Smoothed speed (m/s) of a (T, 3) wrist path; invalid frames get the speed of their neighbours."""
    positions = np.asarray(positions, dtype=np.float64)
    valid = np.asarray(valid, dtype=bool) & np.isfinite(positions).all(-1)
    if positions.ndim != 2 or positions.shape[1] != 3:
        raise ValueError(f"wrist positions must have shape (T, 3), got {positions.shape}")
    if valid.sum() < 2:
        return np.zeros(len(positions))
    t = np.arange(len(positions))
    filled = np.stack([np.interp(t, t[valid], positions[valid, k]) for k in range(3)], axis=-1)
    # Smooth the path, not the speed: the norm of jitter never averages out to zero. Odd reflection
    # at the ends continues a steady motion, so its speed stays exact up to the first and last frame.
    sigma = smooth_seconds * fps / 2
    if sigma > 0:
        pad = min(int(np.ceil(4 * sigma)), len(filled) - 1)
        padded = np.pad(filled, ((pad, pad), (0, 0)), mode="reflect", reflect_type="odd")
        filled = gaussian_filter1d(padded, sigma, axis=0, mode="nearest")[pad : pad + len(filled)]
    return np.linalg.norm(np.gradient(filled, axis=0), axis=-1) * fps


def cut_points(speed: np.ndarray, fps: float, config: SegmentConfig) -> list[int]:
    """Frame indices where one segment ends and the next begins (excluding 0 and T)."""
    n = len(speed)
    min_len = max(1, int(round(config.min_seconds * fps)))
    max_len = max(min_len + 1, int(round(config.max_seconds * fps)))
    candidates = [i for i in _minima(speed, window=max(3, min_len | 1)) if 0 < i < n - 1]
    if candidates:
        # A dip's prominence: how far the speed rises before it falls below the dip again, on the lower side.
        with warnings.catch_warnings():  # a flat stretch has zero prominence, which is the answer, not a problem
            warnings.filterwarnings("ignore", message="some peaks have a prominence of 0")
            rise = peak_prominences(-speed, candidates)[0]
        candidates = [
            i
            for i, r in zip(candidates, rise)
            if r >= config.min_rise and speed[i] <= config.pause_ratio * (speed[i] + r)
        ]
    cuts: list[int] = []
    # Keep pauses slowest-first while every segment stays at least min_len long.
    for i in sorted(candidates, key=lambda i: speed[i]):
        bounds = sorted([0, n, *cuts])
        right = next(b for b in bounds if b > i)
        left = max(b for b in bounds if b < i)
        if i - left >= min_len and right - i >= min_len:
            cuts.append(i)
    cuts.sort()
    return _split_long(speed, [0, *cuts, n], min_len, max_len)


def _minima(speed: np.ndarray, window: int) -> list[int]:
    """Centres of the runs of frames that are the minimum of their window (plateaus count once)."""
    if len(speed) == 0:
        return []
    is_min = speed <= minimum_filter1d(speed, size=window, mode="nearest") + 1e-12
    edges = np.flatnonzero(np.diff(np.concatenate([[0], is_min.astype(np.int8), [0]])))
    return [int((start + end - 1) // 2) for start, end in zip(edges[::2], edges[1::2])]


def _split_long(speed: np.ndarray, bounds: list[int], min_len: int, max_len: int) -> list[int]:
    out: list[int] = []
    for start, end in zip(bounds[:-1], bounds[1:]):
        pieces = [(start, end)]
        while any(e - s > max_len for s, e in pieces):
            s, e = next(p for p in pieces if p[1] - p[0] > max_len)
            inner = np.arange(s + min_len, e - min_len + 1)
            cut = int(inner[np.argmin(speed[inner])]) if len(inner) else (s + e) // 2
            pieces[pieces.index((s, e)) : pieces.index((s, e)) + 1] = [(s, cut), (cut, e)]
        out.extend(e for _, e in pieces)
    return out[:-1]


def segment_hand(
    positions: np.ndarray, valid: np.ndarray, fps: float, side: str, config: SegmentConfig = SegmentConfig()
) -> list[Segment]:
    """Atomic segments of one hand's wrist path (T, 3)."""
    speed = wrist_speed(positions, valid, fps, config.smooth_seconds)
    bounds = [0, *cut_points(speed, fps, config), len(speed)]
    return [Segment(s, e, side) for s, e in zip(bounds[:-1], bounds[1:]) if e > s]


def segment_episode(
    wrists: np.ndarray, valid: np.ndarray, fps: float, config: SegmentConfig = SegmentConfig()
) -> list[Segment]:
    """Segments of a two-hand episode, cut where the faster hand pauses (the sum of both speeds has a minimum).

    ``wrists`` (T, 2, 3) and ``valid`` (T, 2) hold left then right. A hand that
    is never valid does not contribute.
    """
    wrists = np.asarray(wrists, dtype=np.float64)
    if wrists.ndim != 3 or wrists.shape[1:] != (2, 3):
        raise ValueError(f"wrists must have shape (T, 2, 3), got {wrists.shape}")
    speed = sum(wrist_speed(wrists[:, h], valid[:, h], fps, config.smooth_seconds) for h in range(2))
    bounds = [0, *cut_points(np.asarray(speed), fps, config), len(wrists)]
    return [Segment(s, e, "both") for s, e in zip(bounds[:-1], bounds[1:]) if e > s]
