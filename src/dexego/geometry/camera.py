"""Pinhole cameras in the OpenCV convention (x right, y down, z forward)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from dexego.geometry.dispatch import array_function, eps_for


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels, with the image size they refer to."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        values = (self.fx, self.fy, self.cx, self.cy)
        if not all(math.isfinite(v) for v in values) or self.fx <= 0 or self.fy <= 0:
            raise ValueError(f"intrinsics need finite fx, fy > 0 and finite cx, cy, got {values}")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")

    @classmethod
    def from_fov(cls, fov_x: float, width: int, height: int, fov_y: float | None = None) -> Intrinsics:
        """Centred pinhole from horizontal (and optionally vertical) field of view in radians."""
        fx = width / (2 * math.tan(fov_x / 2))
        fy = fx if fov_y is None else height / (2 * math.tan(fov_y / 2))
        return cls(fx, fy, width / 2, height / 2, width, height)

    @classmethod
    def from_matrix(cls, k: np.ndarray, width: int, height: int) -> Intrinsics:
        k = np.asarray(k, dtype=np.float64)
        if k.shape != (3, 3):
            raise ValueError(f"camera matrix must be 3x3, got shape {k.shape}")
        return cls(float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2]), int(width), int(height))

    @property
    def matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1]], dtype=np.float64)

    @property
    def vector(self) -> np.ndarray:
        """(fx, fy, cx, cy), the array form taken by :func:`project`."""
        return np.array([self.fx, self.fy, self.cx, self.cy], dtype=np.float64)

    @property
    def fov(self) -> tuple[float, float]:
        """(fov_x, fov_y) in radians."""
        return 2 * math.atan(self.width / (2 * self.fx)), 2 * math.atan(self.height / (2 * self.fy))

    def scaled(self, width: int, height: int) -> Intrinsics:
        """The same camera at another image resolution."""
        sx, sy = width / self.width, height / self.height
        return Intrinsics(self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy, width, height)


def _vector(intrinsics: Intrinsics | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    if isinstance(intrinsics, Intrinsics):
        return torch.as_tensor(intrinsics.vector, dtype=like.dtype, device=like.device)
    if intrinsics.shape[-1] != 4:
        raise ValueError(f"intrinsics array must end in (fx, fy, cx, cy), got shape {tuple(intrinsics.shape)}")
    return intrinsics


@array_function
def project(points: torch.Tensor, intrinsics: Intrinsics | torch.Tensor) -> torch.Tensor:
    """Camera-frame points (..., 3) -> pixels (..., 2).

    ``intrinsics`` is an :class:`Intrinsics` or an array (..., 4) of
    (fx, fy, cx, cy) broadcastable against ``points[..., 0]``'s shape plus a
    trailing 4. Points at or behind the camera give non-finite or mirrored
    pixels: check ``points[..., 2] > 0`` (see :func:`in_front`).
    """
    if points.shape[-1] != 3:
        raise ValueError(f"points must have shape (..., 3), got {tuple(points.shape)}")
    k = _vector(intrinsics, points)
    z = points[..., 2]
    z = torch.where(z.abs() < eps_for(z), torch.full_like(z, eps_for(z)), z)
    u = k[..., 0] * points[..., 0] / z + k[..., 2]
    v = k[..., 1] * points[..., 1] / z + k[..., 3]
    return torch.stack([u, v], dim=-1)


@array_function
def unproject(pixels: torch.Tensor, depth: torch.Tensor, intrinsics: Intrinsics | torch.Tensor) -> torch.Tensor:
    """Pixels (..., 2) with depth along z (...) -> camera-frame points (..., 3)."""
    if pixels.shape[-1] != 2:
        raise ValueError(f"pixels must have shape (..., 2), got {tuple(pixels.shape)}")
    k = _vector(intrinsics, pixels)
    x = (pixels[..., 0] - k[..., 2]) / k[..., 0] * depth
    y = (pixels[..., 1] - k[..., 3]) / k[..., 1] * depth
    return torch.stack([x, y, torch.broadcast_to(depth, x.shape)], dim=-1)


@array_function
def in_front(points: torch.Tensor, min_depth: float = 1e-3) -> torch.Tensor:
    """Mask of camera-frame points that lie in front of the camera."""
    return points[..., 2] > min_depth
