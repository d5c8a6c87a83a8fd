"""Hand estimators by name: "oracle", "mediapipe", or a plug-in given as "package.module:ClassName"."""

from __future__ import annotations

from dexego.annotate.estimators.base import HandDetection, HandEstimator, estimate_video
from dexego.annotate.estimators.registry import ESTIMATORS, make_estimator

__all__ = ["ESTIMATORS", "HandDetection", "HandEstimator", "estimate_video", "make_estimator"]
