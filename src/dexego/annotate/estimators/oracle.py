"""An estimator that reads ground-truth hands and corrupts them like a real one would.

It makes the whole pipeline testable without a learned model: the 2D
keypoints are the true projections plus Gaussian pixel noise, the relative
3D hand gets millimetre noise and a random scale (real estimators do not
know the hand's size), and whole detections drop out at a given rate.
Ground truth comes from ``clip.hands.npz`` next to the video (see
:mod:`dexego.annotate.sidecar`) or is given directly.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dexego.annotate.estimators.base import HandDetection
from dexego.annotate.sidecar import read_camera_metadata, read_ground_truth
from dexego.errors import InputError
from dexego.geometry import Intrinsics
from dexego.hands import SIDES


@dataclass(frozen=True)
class OracleConfig:
    pixel_noise: float = 2.0  # std of 2D keypoint noise (pixels)
    relative_noise: float = 0.004  # std of relative 3D keypoint noise (m)
    scale_noise: float = 0.3  # relative 3D hand scaled by exp(N(0, scale_noise)) per frame
    dropout: float = 0.0  # probability that a visible hand is missed in a frame
    seed: int = 0


class OracleEstimator:
    name = "oracle"

    def __init__(self, config: OracleConfig = OracleConfig(), keypoints_camera=None, hand_valid=None, intrinsics=None):
        self.config = config
        self._given = (
            None
            if keypoints_camera is None
            else (np.asarray(keypoints_camera, float), np.asarray(hand_valid, bool), intrinsics)
        )
        self.reset("")

    def reset(self, video: str) -> None:
        # Seeded by the file name, not its full path, so the same video gets the same noise wherever it lies.
        self._rng = np.random.default_rng([self.config.seed, zlib.crc32(Path(video).name.encode())])
        if self._given is not None:
            self._kp, self._valid, self._intrinsics = self._given
            self._width = None
            return
        if not video:
            self._kp = None
            return
        truth = read_ground_truth(video)
        self._kp, self._valid = truth["keypoints_camera"].astype(float), truth["hand_valid"]
        meta = read_camera_metadata(video)
        intr = meta.get("intrinsics")
        if intr is None or "width" not in meta:
            raise InputError(
                video, "intrinsics", "the oracle estimator needs the true intrinsics and width in the video's .json"
            )
        self._intrinsics = np.array([intr["fx"], intr["fy"], intr["cx"], intr["cy"]], dtype=float)
        self._width = float(meta["width"])

    def estimate(self, frame: np.ndarray, index: int) -> list[HandDetection]:
        if self._kp is None:
            raise InputError("oracle", "video", "reset(video) was not called")
        if index >= len(self._kp):
            raise InputError("oracle", "frame", f"frame {index} is past the ground truth's {len(self._kp)} frames")
        k = self._intrinsics.vector if isinstance(self._intrinsics, Intrinsics) else np.asarray(self._intrinsics, float)
        width = getattr(self, "_width", None) or (
            self._intrinsics.width if isinstance(self._intrinsics, Intrinsics) else None
        )
        if width:  # the frame may be a downscaled copy of the video
            k = k * (frame.shape[1] / width)
        cfg, rng = self.config, self._rng
        out = []
        for h, side in enumerate(SIDES):
            points = self._kp[index, h]
            if not self._valid[index, h] or not np.isfinite(points).all() or (points[:, 2] <= 1e-3).any():
                continue
            if cfg.dropout and rng.random() < cfg.dropout:
                continue
            pixels = np.stack(
                [k[0] * points[:, 0] / points[:, 2] + k[2], k[1] * points[:, 1] / points[:, 2] + k[3]], -1
            )
            pixels = pixels + rng.normal(0.0, cfg.pixel_noise, pixels.shape)
            relative = points - points[0]
            relative = relative * np.exp(rng.normal(0.0, cfg.scale_noise)) + rng.normal(
                0.0, cfg.relative_noise, relative.shape
            )
            relative -= relative[0]
            out.append(HandDetection(side, pixels, relative, confidence=1.0))
        return out
