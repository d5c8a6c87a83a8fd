"""Metric hand placement from 2D keypoints and a hand-size prior.

Hand estimators return a root-relative 3D hand (its shape and orientation in
the camera frame, scale uncertain) and 2D keypoints. The hand's metric size
is taken from a prior (an average adult hand) and its translation is the
least-squares solution of the pinhole equations, which are linear in it:

    fx (X_i + tx) - (u_i - cx)(Z_i + tz) = 0,   fy (Y_i + ty) - (v_i - cy)(Z_i + tz) = 0
"""

from __future__ import annotations

import numpy as np

from dexego.geometry import Intrinsics

# Wrist to middle-finger MCP of an average adult hand (m); the scale reference of the prior.
MEAN_PALM_LENGTH = 0.095


def scale_to_prior(relative: np.ndarray, palm_length: float = MEAN_PALM_LENGTH) -> np.ndarray:
    """Rescale root-relative hands (..., 21, 3) so that wrist -> middle MCP has the prior's length."""
    relative = np.asarray(relative, dtype=np.float64)
    length = np.linalg.norm(relative[..., 9, :] - relative[..., 0, :], axis=-1)
    scale = np.where(length > 1e-9, palm_length / np.maximum(length, 1e-9), 1.0)
    return relative * scale[..., None, None]


def solve_translation(
    relative: np.ndarray, pixels: np.ndarray, intrinsics: Intrinsics | np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """Camera-frame translation t (..., 3) such that ``relative + t`` projects onto ``pixels``.

    ``relative`` (..., N, 3) is the hand in camera orientation around its root;
    ``pixels`` (..., N, 2); ``weights`` (..., N) e.g. per-keypoint confidence.
    """
    relative = np.asarray(relative, dtype=np.float64)
    pixels = np.asarray(pixels, dtype=np.float64)
    k = intrinsics.vector if isinstance(intrinsics, Intrinsics) else np.asarray(intrinsics, dtype=np.float64)
    fx, fy, cx, cy = (k[..., i, None] for i in range(4))
    du, dv = pixels[..., 0] - cx, pixels[..., 1] - cy
    x, y, z = relative[..., 0], relative[..., 1], relative[..., 2]
    zeros = np.zeros_like(du)
    # Rows for the u equations then the v equations; unknowns (tx, ty, tz).
    a = np.concatenate([np.stack([fx + zeros, zeros, -du], -1), np.stack([zeros, fy + zeros, -dv], -1)], axis=-2)
    b = np.concatenate([du * z - fx * x, dv * z - fy * y], axis=-1)
    w = np.ones_like(du) if weights is None else np.asarray(weights, dtype=np.float64)
    sw = np.sqrt(np.concatenate([w, w], axis=-1))
    a, b = a * sw[..., None], b * sw
    ata = np.swapaxes(a, -1, -2) @ a
    atb = np.swapaxes(a, -1, -2) @ b[..., None]
    return np.linalg.solve(ata + 1e-12 * np.eye(3), atb)[..., 0]
