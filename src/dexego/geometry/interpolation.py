"""Interpolation between rotations (numpy)."""

from __future__ import annotations

import numpy as np


def slerp_matrix(a: np.ndarray, b: np.ndarray, s: float) -> np.ndarray:
    """The rotation matrix a fraction ``s`` of the way from ``a`` to ``b`` along the geodesic (s = 0: a, s = 1: b).

    At a half turn (``a.T @ b`` rotates by pi) the axis is the eigenvector of ``a.T @ b + (a.T @ b).T`` with the largest
    eigenvalue; both directions are geodesics there."""
    rel = a.T @ b
    angle = np.arccos(np.clip((np.trace(rel) - 1) / 2, -1.0, 1.0))
    if angle < 1e-8:
        return b.copy()
    axis = np.array([rel[2, 1] - rel[1, 2], rel[0, 2] - rel[2, 0], rel[1, 0] - rel[0, 1]])
    norm = np.linalg.norm(axis)
    if norm < 1e-8:  # angle ~ pi: any perpendicular axis
        w, v = np.linalg.eigh(rel + rel.T)
        axis = v[:, np.argmax(w)]
    else:
        axis = axis / norm
    theta = angle * s
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return a @ (np.eye(3) + np.sin(theta) * k + (1 - np.cos(theta)) * k @ k)
