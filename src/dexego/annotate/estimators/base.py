"""The hand-estimator interface: per frame, up to two hands with 2D keypoints and a root-relative 3D hand.

An estimator sees one RGB frame at a time (in video order, so trackers may
keep state) and returns a :class:`HandDetection` per hand it found. Metric
placement (depth) is not its job: :mod:`dexego.annotate.lift` scales the
relative hand to a size prior and solves for its translation from the 2D
keypoints, so 2D-only and full 3D estimators plug in the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from dexego.hands import SIDES


@dataclass(frozen=True)
class HandDetection:
    """One detected hand in one frame.

    ``keypoints_2d`` (21, 2) pixels in the frame as given; ``relative_3d``
    (21, 3) the hand around its wrist in camera orientation (OpenCV axes),
    any scale; ``confidence`` in [0, 1]; ``keypoint_confidence`` (21,)
    optional per-keypoint weights.
    """

    side: str
    keypoints_2d: np.ndarray
    relative_3d: np.ndarray
    confidence: float
    keypoint_confidence: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.side not in SIDES:
            raise ValueError(f"hand side must be one of {SIDES}, got {self.side!r}")
        if np.shape(self.keypoints_2d) != (21, 2) or np.shape(self.relative_3d) != (21, 3):
            raise ValueError(
                f"a hand detection needs keypoints_2d (21, 2) and relative_3d (21, 3), "
                f"got {np.shape(self.keypoints_2d)} and {np.shape(self.relative_3d)}"
            )


@runtime_checkable
class HandEstimator(Protocol):
    """Anything with ``estimate(frame, index) -> list[HandDetection]``; ``reset()`` starts a new video."""

    name: str

    def reset(self, video: str) -> None: ...

    def estimate(self, frame: np.ndarray, index: int) -> list[HandDetection]: ...


def estimate_video(estimator: HandEstimator, frames: np.ndarray, video: str) -> list[list[HandDetection]]:
    """Run an estimator over a video's frames (T, H, W, 3) in order."""
    estimator.reset(video)
    return [list(estimator.estimate(frame, i)) for i, frame in enumerate(frames)]
