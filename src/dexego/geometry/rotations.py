"""Rotation representations: matrix, rot6d, quaternion (w, x, y, z), axis-angle, Euler.

All functions take numpy arrays or torch tensors with any leading batch
dimensions. Torch versions are differentiable. Conventions (DESIGN.md):

- quaternions are (w, x, y, z), unit norm, returned with w >= 0;
- rot6d is the first two columns of the matrix, ``[R[:, 0], R[:, 1]]``;
- axis-angle is the rotation axis scaled by the angle in radians.
"""

from __future__ import annotations

import torch

from dexego.geometry.dispatch import array_function, eps_for


def _safe_normalize(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(eps_for(v))


@array_function
def rot6d_to_matrix(rot6d: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt on the two stored columns."""
    if rot6d.shape[-1] != 6:
        raise ValueError(f"rot6d must have 6 values in its last axis, got shape {tuple(rot6d.shape)}")
    b1 = _safe_normalize(rot6d[..., :3])
    a2 = rot6d[..., 3:]
    b2 = _safe_normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


@array_function
def matrix_to_rot6d(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 6): first column then second column."""
    _check_matrix(matrix)
    return torch.cat([matrix[..., :, 0], matrix[..., :, 1]], dim=-1)


@array_function
def quat_to_matrix(quat: torch.Tensor) -> torch.Tensor:
    """(..., 4) unit quaternion (w, x, y, z) -> (..., 3, 3). The input is normalised first."""
    if quat.shape[-1] != 4:
        raise ValueError(f"quaternion must have 4 values (w, x, y, z), got shape {tuple(quat.shape)}")
    w, x, y, z = _safe_normalize(quat).unbind(-1)
    rows = [
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ]  # fmt: skip
    return torch.stack(rows, dim=-1).reshape(quat.shape[:-1] + (3, 3))


@array_function
def matrix_to_quat(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 4) quaternion (w, x, y, z) with w >= 0.

    Shepperd's method: of the four algebraically equivalent formulas, use the
    one whose pivot (|w|, |x|, |y| or |z|) is largest, which keeps the division
    well conditioned for every rotation, including those near pi.
    """
    _check_matrix(matrix)
    m = matrix
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    pivots_sq = torch.stack(
        [1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], dim=-1
    )
    # Clamping keeps the unused candidates finite so gradients stay NaN-free.
    pivots = 0.5 * pivots_sq.clamp_min(0.1).sqrt()
    pw, px, py, pz = pivots.unbind(-1)
    candidates = torch.stack(
        [
            torch.stack([pw, (m21 - m12) / (4 * pw), (m02 - m20) / (4 * pw), (m10 - m01) / (4 * pw)], -1),
            torch.stack([(m21 - m12) / (4 * px), px, (m01 + m10) / (4 * px), (m02 + m20) / (4 * px)], -1),
            torch.stack([(m02 - m20) / (4 * py), (m01 + m10) / (4 * py), py, (m12 + m21) / (4 * py)], -1),
            torch.stack([(m10 - m01) / (4 * pz), (m02 + m20) / (4 * pz), (m12 + m21) / (4 * pz), pz], -1),
        ],
        dim=-2,
    )
    best = pivots_sq.argmax(dim=-1)
    index = best[..., None, None].expand(best.shape + (1, 4))
    quat = _safe_normalize(torch.gather(candidates, -2, index).squeeze(-2))
    return standardize_quat(quat)


@array_function
def standardize_quat(quat: torch.Tensor) -> torch.Tensor:
    """Pick the sign with w >= 0 (q and -q are the same rotation)."""
    sign = torch.where(quat[..., :1] < 0, -1.0, 1.0).to(quat.dtype)
    return quat * sign


@array_function
def axis_angle_to_quat(axis_angle: torch.Tensor) -> torch.Tensor:
    """(..., 3) rotation vector -> (..., 4) quaternion (w, x, y, z)."""
    if axis_angle.shape[-1] != 3:
        raise ValueError(f"axis-angle must have 3 values, got shape {tuple(axis_angle.shape)}")
    angle = axis_angle.norm(dim=-1, keepdim=True)
    small = angle < 1e-4
    safe_angle = torch.where(small, torch.ones_like(angle), angle)
    # sin(angle / 2) / angle, with its Taylor series near zero.
    scale = torch.where(small, 0.5 - angle**2 / 48, torch.sin(safe_angle / 2) / safe_angle)
    return torch.cat([torch.cos(angle / 2), axis_angle * scale], dim=-1)


@array_function
def quat_to_axis_angle(quat: torch.Tensor) -> torch.Tensor:
    """(..., 4) quaternion (w, x, y, z) -> (..., 3) rotation vector with angle in [0, pi]."""
    if quat.shape[-1] != 4:
        raise ValueError(f"quaternion must have 4 values (w, x, y, z), got shape {tuple(quat.shape)}")
    quat = standardize_quat(_safe_normalize(quat))
    w, xyz = quat[..., :1], quat[..., 1:]
    sin_half = xyz.norm(dim=-1, keepdim=True)
    small = sin_half < 1e-6
    safe_sin = torch.where(small, torch.ones_like(sin_half), sin_half)
    angle = 2 * torch.atan2(sin_half, w)
    # angle / sin(angle / 2) tends to 2 / w as the angle goes to zero.
    scale = torch.where(small, 2 / w.clamp_min(eps_for(w)), angle / safe_sin)
    return xyz * scale


@array_function
def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """(..., 3) rotation vector -> (..., 3, 3)."""
    return quat_to_matrix(axis_angle_to_quat(axis_angle))


@array_function
def matrix_to_axis_angle(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 3) rotation vector (through the quaternion, so safe near 0 and pi)."""
    return quat_to_axis_angle(matrix_to_quat(matrix))


@array_function
def quat_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product a * b of (w, x, y, z) quaternions (apply b, then a)."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        dim=-1,
    )


@array_function
def quat_conjugate(quat: torch.Tensor) -> torch.Tensor:
    """The inverse of a unit quaternion."""
    return torch.cat([quat[..., :1], -quat[..., 1:]], dim=-1)


@array_function
def quat_xyzw_to_wxyz(quat: torch.Tensor) -> torch.Tensor:
    """Reorder SciPy / ROS (x, y, z, w) quaternions to dexego's (w, x, y, z)."""
    return torch.cat([quat[..., 3:], quat[..., :3]], dim=-1)


@array_function
def quat_wxyz_to_xyzw(quat: torch.Tensor) -> torch.Tensor:
    """Reorder dexego's (w, x, y, z) quaternions to SciPy / ROS (x, y, z, w)."""
    return torch.cat([quat[..., 1:], quat[..., :1]], dim=-1)


def _elementary(axis: str, angle: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(angle), torch.zeros_like(angle)
    rows = {
        "x": [one, zero, zero, zero, c, -s, zero, s, c],
        "y": [c, zero, s, zero, one, zero, -s, zero, c],
        "z": [c, -s, zero, s, c, zero, zero, zero, one],
    }[axis]
    return torch.stack(rows, dim=-1).reshape(angle.shape + (3, 3))


@array_function
def euler_to_matrix(angles: torch.Tensor, seq: str) -> torch.Tensor:
    """(..., 3) Euler angles -> (..., 3, 3), SciPy's convention for ``seq``.

    Lower-case ``seq`` (e.g. "xyz") is extrinsic (rotations about the fixed
    axes, applied in order); upper-case (e.g. "XYZ") is intrinsic.
    """
    if len(seq) != 3 or not (seq.islower() or seq.isupper()) or set(seq.lower()) - set("xyz"):
        raise ValueError(f"Euler sequence must be 3 of 'xyz' (extrinsic) or 'XYZ' (intrinsic), got {seq!r}")
    if angles.shape[-1] != 3:
        raise ValueError(f"Euler angles must have 3 values, got shape {tuple(angles.shape)}")
    mats = [_elementary(axis, angles[..., i]) for i, axis in enumerate(seq.lower())]
    if seq.isupper():
        return mats[0] @ mats[1] @ mats[2]
    return mats[2] @ mats[1] @ mats[0]


@array_function
def rotation_angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Geodesic angle (radians, in [0, pi]) between rotation matrices a and b."""
    rel = a.transpose(-1, -2) @ b
    cos = (rel.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2
    skew = torch.stack(
        [rel[..., 2, 1] - rel[..., 1, 2], rel[..., 0, 2] - rel[..., 2, 0], rel[..., 1, 0] - rel[..., 0, 1]], -1
    )
    sin = skew.norm(dim=-1) / 2
    return torch.atan2(sin, cos)


def _check_matrix(matrix: torch.Tensor) -> None:
    if matrix.shape[-2:] != (3, 3):
        raise ValueError(f"rotation matrix must have shape (..., 3, 3), got {tuple(matrix.shape)}")
