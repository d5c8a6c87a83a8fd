"""Warp a distorted (fisheye or rational-polynomial) image onto a pinhole camera.

dexego stores pinhole intrinsics, so a dataset with a distortion model is
resampled: for each output pixel, its pinhole ray is pushed through the
dataset's forward camera model to find where it lies in the source image
(bilinear sampling). Only forward models are needed, no iterative inversion.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dexego.geometry import Intrinsics

# (N, 3) camera-frame rays (OpenCV axes) -> (N, 2) source pixel coordinates.
ProjectFn = Callable[[np.ndarray], np.ndarray]


def pinhole_rays(target: Intrinsics) -> np.ndarray:
    u, v = np.meshgrid(np.arange(target.width, dtype=np.float64), np.arange(target.height, dtype=np.float64))
    x = (u - target.cx) / target.fx
    y = (v - target.cy) / target.fy
    return np.stack([x, y, np.ones_like(x)], axis=-1).reshape(-1, 3)


def warp_to_pinhole(image: np.ndarray, project: ProjectFn, target: Intrinsics) -> np.ndarray:
    """Resample ``image`` (H, W, C) so that it is seen by the pinhole camera ``target``."""
    src = project(pinhole_rays(target))
    return bilinear(image, src[:, 0], src[:, 1]).reshape(target.height, target.width, image.shape[-1])


def bilinear(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sample (H, W, C) uint8 at float pixel positions; outside the image -> 0."""
    h, w = image.shape[:2]
    inside = (x >= 0) & (y >= 0) & (x <= w - 1) & (y <= h - 1) & np.isfinite(x) & np.isfinite(y)
    xc = np.clip(np.nan_to_num(x), 0, w - 1)
    yc = np.clip(np.nan_to_num(y), 0, h - 1)
    x0 = np.minimum(np.floor(xc).astype(np.int64), w - 2 if w > 1 else 0)
    y0 = np.minimum(np.floor(yc).astype(np.int64), h - 2 if h > 1 else 0)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    ax, ay = (xc - x0)[:, None], (yc - y0)[:, None]
    img = image.astype(np.float64)
    out = (img[y0, x0] * (1 - ax) * (1 - ay) + img[y0, x1] * ax * (1 - ay)
           + img[y1, x0] * (1 - ax) * ay + img[y1, x1] * ax * ay)  # fmt: skip
    out[~inside] = 0
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def opencv_rational_project(k: np.ndarray, dist8: np.ndarray) -> ProjectFn:
    """OpenCV's pinhole model with 8 coefficients (k1, k2, p1, p2, k3, k4, k5, k6) and matrix ``k``."""
    k1, k2, p1, p2, k3, k4, k5, k6 = (float(c) for c in np.asarray(dist8, dtype=np.float64).reshape(-1)[:8])

    def project(rays: np.ndarray) -> np.ndarray:
        x, y = rays[:, 0] / rays[:, 2], rays[:, 1] / rays[:, 2]
        r2 = x * x + y * y
        radial = (1 + k1 * r2 + k2 * r2**2 + k3 * r2**3) / (1 + k4 * r2 + k5 * r2**2 + k6 * r2**3)
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        return np.stack([k[0, 0] * xd + k[0, 1] * yd + k[0, 2], k[1, 1] * yd + k[1, 2]], axis=-1)

    return project


def fisheye624_project(params: np.ndarray) -> ProjectFn:
    """Aria's FISHEYE624 (radial-tangential-thin-prism fisheye) as hand_tracking_toolkit stores it.

    ``params`` = fx, fy, cx, cy, k0..k5, p0, p1, s0..s3. Angle from the optical axis
    theta, radial theta_d = theta (1 + k0 theta^2 + ... + k5 theta^12), then the
    tangential and thin-prism terms on the distorted plane coordinates.
    """
    p = np.asarray(params, dtype=np.float64).reshape(-1)
    if p.size != 16:
        raise ValueError(f"FISHEYE624 needs 16 parameters (fx, fy, cx, cy + 12), got {p.size}")
    fx, fy, cx, cy = p[:4]
    k, (p0, p1), s = p[4:10], p[10:12], p[12:16]

    def project(rays: np.ndarray) -> np.ndarray:
        x, y, z = rays[:, 0], rays[:, 1], rays[:, 2]
        r = np.hypot(x, y)
        theta = np.arctan2(r, z)
        t2 = theta * theta
        theta_d = theta * (1 + sum(k[i] * t2 ** (i + 1) for i in range(6)))
        scale = np.where(r > 1e-12, theta_d / np.maximum(r, 1e-12), 1.0)
        u, v = x * scale, y * scale
        rd2 = u * u + v * v
        u_t = u + p0 * (2 * u * u + rd2) + 2 * p1 * u * v + s[0] * rd2 + s[1] * rd2 * rd2
        v_t = v + p1 * (2 * v * v + rd2) + 2 * p0 * u * v + s[2] * rd2 + s[3] * rd2 * rd2
        return np.stack([fx * u_t + cx, fy * v_t + cy], axis=-1)

    return project
