"""Detections -> metric camera-frame hands (T, 2, 21, 3) with validity and confidence.

Each detected hand is scaled to the hand-size prior and placed where its 2D
keypoints say (:mod:`dexego.annotate.depth`). Hands whose placement does not
reproject onto the keypoints (a sign of a bad detection) or that land
behind the camera are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dexego.annotate.depth import MEAN_PALM_LENGTH, scale_to_prior, solve_translation
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


def lift_hands(detections: list[list[HandDetection]], intrinsics: "Intrinsics | np.ndarray", config: LiftConfig = LiftConfig()) -> CameraHands:
    """Metric camera-frame hands for every frame's detections (``intrinsics`` one or per-frame (T, 4))."""
    n = len(detections)
    kp = np.full((n, 2, 21, 3), np.nan)
    valid = np.zeros((n, 2), dtype=bool)
    conf = np.zeros((n, 2))
    reproj = np.full((n, 2), np.nan)
    k_all = np.broadcast_to(intrinsics.vector if isinstance(intrinsics, Intrinsics) else np.asarray(intrinsics, float), (n, 4))
    for t, frame in enumerate(detections):
        for det in frame:
            h = SIDES.index(det.side)
            if det.confidence < config.min_confidence or det.confidence <= conf[t, h]:
                continue
            relative = scale_to_prior(det.relative_3d, config.palm_length)
            if not np.isfinite(relative).all() or not np.isfinite(det.keypoints_2d).all():
                continue
            weights = det.keypoint_confidence
            translation = solve_translation(relative, det.keypoints_2d, k_all[t], weights)
            points = relative + translation
            if not (config.min_depth <= points[:, 2].min() and points[:, 2].max() <= config.max_depth):
                continue
            k = k_all[t]
            pixels = np.stack([k[0] * points[:, 0] / points[:, 2] + k[2], k[1] * points[:, 1] / points[:, 2] + k[3]], -1)
            error = float(np.linalg.norm(pixels - det.keypoints_2d, axis=-1).mean())
            if error > config.max_reprojection_px:
                continue
            kp[t, h], valid[t, h], conf[t, h], reproj[t, h] = points, True, det.confidence, error
    return CameraHands(kp, valid, conf, reproj)
