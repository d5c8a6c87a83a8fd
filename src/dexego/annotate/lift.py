"""Detections -> metric camera-frame hands (T, 2, 21, 3) with validity and confidence.

Each detected hand is scaled to the hand-size prior and placed where its 2D
keypoints say (:mod:`dexego.annotate.depth`). The scale is measured on all
rigid palm bones, not on the wrist-to-middle-MCP length alone: their mean is
far less noisy, and its ratio to that length (the hand's proportions, fixed
for a person) is taken once per video and side as the median over frames. Hands whose placement does not
reproject onto the keypoints (a sign of a bad detection) or that land
behind the camera are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dexego.annotate.depth import MEAN_PALM_LENGTH, solve_translation
from dexego.annotate.estimators.base import HandDetection
from dexego.geometry import Intrinsics
from dexego.hands import SIDES


@dataclass(frozen=True)
class LiftConfig:
    palm_length: float = MEAN_PALM_LENGTH
    min_confidence: float = 0.3
    max_reprojection_px: float = 25.0  # mean keypoint reprojection error above which a placement is rejected
    min_depth: float = 0.05
    max_depth: float = 3.0


@dataclass
class CameraHands:
    keypoints: np.ndarray  # (T, 2, 21, 3) camera frame, NaN where invalid
    valid: np.ndarray  # (T, 2)
    confidence: np.ndarray  # (T, 2)
    reprojection_px: np.ndarray  # (T, 2) NaN where invalid


# Bones of the palm that do not bend: wrist to each finger base, and between neighbouring bases.
RIGID_PALM = np.array([(0, 5), (0, 9), (0, 13), (0, 17), (5, 9), (9, 13), (13, 17)])


def palm_size(relative: np.ndarray) -> np.ndarray:
    """Mean length of the rigid palm bones of (..., 21, 3) hands."""
    return np.linalg.norm(relative[..., RIGID_PALM[:, 0], :] - relative[..., RIGID_PALM[:, 1], :], axis=-1).mean(-1)


def refine_translation(
    relative: np.ndarray, pixels: np.ndarray, k: np.ndarray, translation: np.ndarray, iterations: int = 6
) -> np.ndarray:
    """Gauss-Newton on the reprojection error, from the linear solution.

    The linear solution has pixel noise inside its design matrix, which biases
    depth toward the camera by several percent for a hand a few dozen pixels
    wide; minimising the reprojection error itself removes that bias.
    """
    t = np.asarray(translation, dtype=np.float64).copy()
    fx, fy, cx, cy = k
    for _ in range(iterations):
        p = relative + t
        z = p[:, 2]
        if (z <= 1e-6).any():
            break
        residual = np.concatenate([fx * p[:, 0] / z + cx - pixels[:, 0], fy * p[:, 1] / z + cy - pixels[:, 1]])
        zeros = np.zeros_like(z)
        jac = np.concatenate(
            [np.stack([fx / z, zeros, -fx * p[:, 0] / z**2], -1), np.stack([zeros, fy / z, -fy * p[:, 1] / z**2], -1)]
        )
        step = np.linalg.lstsq(jac, -residual, rcond=None)[0]
        t += step
        if np.abs(step).max() < 1e-7:
            break
    return t


def proportions(detections: list[list[HandDetection]]) -> dict[str, float]:
    """Per side, the median ratio of the wrist-to-middle-MCP length to the palm size over a video."""
    ratios: dict[str, list[float]] = {side: [] for side in SIDES}
    for frame in detections:
        for det in frame:
            size = palm_size(det.relative_3d)
            if np.isfinite(size) and size > 1e-9:
                ratios[det.side].append(float(np.linalg.norm(det.relative_3d[9] - det.relative_3d[0]) / size))
    return {side: float(np.median(r)) if r else float("nan") for side, r in ratios.items()}


def lift_hands(
    detections: list[list[HandDetection]], intrinsics: Intrinsics | np.ndarray, config: LiftConfig = LiftConfig()
) -> CameraHands:
    """Metric camera-frame hands for every frame's detections (``intrinsics`` one or per-frame (T, 4))."""
    n = len(detections)
    kp = np.full((n, 2, 21, 3), np.nan)
    valid = np.zeros((n, 2), dtype=bool)
    conf = np.zeros((n, 2))
    reproj = np.full((n, 2), np.nan)
    ratio = proportions(detections)
    k_all = np.broadcast_to(
        intrinsics.vector if isinstance(intrinsics, Intrinsics) else np.asarray(intrinsics, float), (n, 4)
    )
    for t, frame in enumerate(detections):
        for det in frame:
            h = SIDES.index(det.side)
            if det.confidence < config.min_confidence or det.confidence <= conf[t, h]:
                continue
            # Metric palm size = prior wrist-to-middle-MCP length / this hand's proportion.
            relative = np.asarray(det.relative_3d, float) * (
                config.palm_length / (ratio[det.side] * palm_size(det.relative_3d))
            )
            if not np.isfinite(relative).all() or not np.isfinite(det.keypoints_2d).all():
                continue
            weights = det.keypoint_confidence
            translation = solve_translation(relative, det.keypoints_2d, k_all[t], weights)
            if weights is None:
                translation = refine_translation(relative, det.keypoints_2d, k_all[t], translation)
            points = relative + translation
            if not (config.min_depth <= points[:, 2].min() and points[:, 2].max() <= config.max_depth):
                continue
            k = k_all[t]
            pixels = np.stack(
                [k[0] * points[:, 0] / points[:, 2] + k[2], k[1] * points[:, 1] / points[:, 2] + k[3]], -1
            )
            error = float(np.linalg.norm(pixels - det.keypoints_2d, axis=-1).mean())
            if error > config.max_reprojection_px:
                continue
            kp[t, h], valid[t, h], conf[t, h], reproj[t, h] = points, True, det.confidence, error
    return CameraHands(kp, valid, conf, reproj)
