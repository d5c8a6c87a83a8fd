"""Lens undistortion of raw video before annotation (VITRA undistorts fisheye footage first).

A video's ``.json`` (see :mod:`dexego.annotate.sidecar`) may give its lens model next to the
intrinsics::

    {"intrinsics": {"fx": ..., "fy": ..., "cx": ..., "cy": ...}, "width": 1408, "height": 1408,
     "distortion": {"model": "fisheye", "coefficients": [k1, k2, k3, k4]}}

- ``"opencv"``: OpenCV's radial-tangential model, 4, 5, 8, 12 or 14 coefficients
  (k1, k2, p1, p2[, k3[, k4, k5, k6[, s1..s4[, tx, ty]]]]);
- ``"fisheye"`` (alias ``"kannala_brandt"``): the equidistant Kannala-Brandt model with
  k1..k4 (OpenCV's ``cv2.fisheye``; Aria and many action cameras calibrate to it).

Every frame is remapped to a pinhole image with the SAME fx, fy, cx, cy, so everything
downstream (hand estimation, odometry, lifting, the stored video and its intrinsics) sees an
ideal pinhole camera. Coefficients are in normalised image coordinates and do not change when
the video is downscaled. With a strong fisheye the corners beyond the pinhole view are cut off.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dexego.errors import InputError

MODELS = {"opencv": "opencv", "fisheye": "fisheye", "kannala_brandt": "fisheye"}
_OPENCV_COUNTS = (4, 5, 8, 12, 14)


@dataclass(frozen=True)
class LensModel:
    model: str  # "opencv" or "fisheye"
    coefficients: tuple[float, ...]

    @property
    def is_identity(self) -> bool:
        return not any(self.coefficients)


def read_lens_model(meta: dict, where: str | Path) -> LensModel | None:
    """The ``distortion`` entry of a video's metadata, checked (None when there is none)."""
    entry = meta.get("distortion")
    if entry is None:
        return None
    if not isinstance(entry, dict):
        raise InputError(
            where, "distortion", f"expected an object with model and coefficients, got {type(entry).__name__}"
        )
    model = entry.get("model")
    if model not in MODELS:
        raise InputError(where, "distortion.model", f"unknown lens model {model!r}; known: {', '.join(MODELS)}")
    coefficients = entry.get("coefficients")
    if not isinstance(coefficients, list) or not all(
        isinstance(c, (int, float)) and not isinstance(c, bool) for c in coefficients
    ):
        raise InputError(where, "distortion.coefficients", f"expected a list of numbers, got {coefficients!r}")
    if not np.isfinite(coefficients).all():
        raise InputError(where, "distortion.coefficients", f"must be finite, got {coefficients}")
    kind = MODELS[model]
    counts = (4,) if kind == "fisheye" else _OPENCV_COUNTS
    if len(coefficients) not in counts:
        raise InputError(
            where,
            "distortion.coefficients",
            f"the {model} model takes {' or '.join(map(str, counts))} coefficients, got {len(coefficients)}",
        )
    if "intrinsics" not in meta:
        raise InputError(where, "intrinsics", "a lens model needs the calibrated intrinsics (fx, fy, cx, cy) beside it")
    return LensModel(kind, tuple(float(c) for c in coefficients))


def camera_matrix(k: np.ndarray) -> np.ndarray:
    fx, fy, cx, cy = (float(v) for v in k)
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


class Undistorter:
    """Remaps frames of one size from a lens model to the pinhole camera with the same intrinsics.

    ``k`` = (fx, fy, cx, cy) at the frames' size (w, h).
    """

    def __init__(self, lens: LensModel, k: np.ndarray, size: tuple[int, int]):
        import cv2

        self.lens, self.size = lens, (int(size[0]), int(size[1]))
        self.matrix = camera_matrix(k)
        d = np.asarray(lens.coefficients, dtype=np.float64)
        if lens.model == "fisheye":
            self._map = cv2.fisheye.initUndistortRectifyMap(
                self.matrix, d, np.eye(3), self.matrix, self.size, cv2.CV_32FC1
            )
        else:
            self._map = cv2.initUndistortRectifyMap(self.matrix, d, None, self.matrix, self.size, cv2.CV_32FC1)

    def frames(self, frames: np.ndarray) -> np.ndarray:
        """(T, H, W, C) frames of the raw video -> the pinhole frames (same shape and dtype)."""
        import cv2

        frames = np.asarray(frames)
        if (frames.shape[2], frames.shape[1]) != self.size:
            raise ValueError(
                f"frames are {frames.shape[2]}x{frames.shape[1]}, the undistorter was made for {self.size[0]}x{self.size[1]}"
            )
        out = np.empty_like(frames)
        for i, frame in enumerate(frames):
            out[i] = cv2.remap(
                frame, self._map[0], self._map[1], interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
            )
        return out

    def points(self, pixels: np.ndarray) -> np.ndarray:
        """(..., 2) pixel positions in the raw video -> their positions in the pinhole frames."""
        import cv2

        pixels = np.asarray(pixels, dtype=np.float64)
        flat = pixels.reshape(-1, 1, 2)
        d = np.asarray(self.lens.coefficients, dtype=np.float64)
        if self.lens.model == "fisheye":
            out = cv2.fisheye.undistortPoints(flat, self.matrix, d, P=self.matrix)
        else:
            out = cv2.undistortPoints(flat, self.matrix, d, P=self.matrix,
                                      criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-10))  # fmt: skip
        return out.reshape(pixels.shape)

    def distort(self, points_camera: np.ndarray) -> np.ndarray:
        """(..., 3) points in the camera frame -> their pixels in the raw (distorted) video."""
        import cv2

        points = np.asarray(points_camera, dtype=np.float64).reshape(-1, 1, 3)
        d = np.asarray(self.lens.coefficients, dtype=np.float64)
        zero = np.zeros(3)
        if self.lens.model == "fisheye":
            out, _ = cv2.fisheye.projectPoints(points, zero, zero, self.matrix, d)
        else:
            out, _ = cv2.projectPoints(points, zero, zero, self.matrix, d)
        return out.reshape(np.shape(points_camera)[:-1] + (2,))
