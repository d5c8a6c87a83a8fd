"""Rigid transforms as (..., 4, 4) homogeneous matrices (numpy or torch, batched).

Naming: ``a_from_b`` maps coordinates in frame b to frame a, so
``world_from_camera @ camera_from_hand == world_from_hand``.
"""

from __future__ import annotations

import torch

from dexego.geometry.dispatch import array_function
from dexego.geometry.rotations import matrix_to_rot6d, rot6d_to_matrix


@array_function
def make_transform(rotation: torch.Tensor, translation: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation and (..., 3) translation -> (..., 4, 4)."""
    batch = torch.broadcast_shapes(rotation.shape[:-2], translation.shape[:-1])
    top = torch.cat([rotation.expand(batch + (3, 3)), translation.expand(batch + (3,))[..., None]], dim=-1)
    bottom = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=top.dtype, device=top.device).expand(batch + (1, 4))
    return torch.cat([top, bottom], dim=-2)


@array_function
def invert_transform(transform: torch.Tensor) -> torch.Tensor:
    """Inverse of a rigid transform, using R^T rather than a general inverse."""
    _check_transform(transform)
    rot_t = transform[..., :3, :3].transpose(-1, -2)
    trans = -(rot_t @ transform[..., :3, 3:])[..., 0]
    return make_transform(rot_t, trans)


@array_function
def compose(*transforms: torch.Tensor) -> torch.Tensor:
    """compose(a_from_b, b_from_c, ...) -> a_from_c."""
    out = transforms[0]
    for t in transforms[1:]:
        out = out @ t
    return out


@array_function
def apply_transform(transform: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Apply (..., 4, 4) transforms to (..., N, 3) points (batch dimensions broadcast)."""
    _check_transform(transform)
    if points.shape[-1] != 3:
        raise ValueError(f"points must have shape (..., 3), got {tuple(points.shape)}")
    return points @ transform[..., :3, :3].transpose(-1, -2) + transform[..., None, :3, 3]


@array_function
def pose_to_pos_rot6d(transform: torch.Tensor) -> torch.Tensor:
    """(..., 4, 4) -> (..., 9): translation then rot6d."""
    _check_transform(transform)
    return torch.cat([transform[..., :3, 3], matrix_to_rot6d(transform[..., :3, :3])], dim=-1)


@array_function
def pos_rot6d_to_pose(pos_rot6d: torch.Tensor) -> torch.Tensor:
    """(..., 9) translation + rot6d -> (..., 4, 4)."""
    if pos_rot6d.shape[-1] != 9:
        raise ValueError(f"expected 9 values (3 position + 6 rot6d), got shape {tuple(pos_rot6d.shape)}")
    return make_transform(rot6d_to_matrix(pos_rot6d[..., 3:]), pos_rot6d[..., :3])


def _check_transform(transform: torch.Tensor) -> None:
    if transform.shape[-2:] != (4, 4):
        raise ValueError(f"transform must have shape (..., 4, 4), got {tuple(transform.shape)}")
