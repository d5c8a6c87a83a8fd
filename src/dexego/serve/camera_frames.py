"""Re-expressing action chunks in another camera frame (for blending chunks queried under a moving camera).

In every dexego action space only the wrist pose (``wrist_pos``, ``wrist_rot6d``) is in the camera
frame; fingertips, keypoints and MANO coefficients are wrist-local and do not change. The map is
linear in the stored values (p -> R p + t, each rot6d column c -> R c), so a weighted average of
chunks commutes with it and a blended, not quite orthonormal rot6d is carried over as it is. A hand
stored as all zeros (how the spaces mark a missing hand) stays all zeros.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dexego.errors import InputError

SIDES = ("left", "right")


def check_pose(pose: Any, what: str = "world_from_camera") -> np.ndarray:
    """A finite (4, 4) rigid transform as float64, else InputError naming ``what``."""
    pose = np.asarray(pose, dtype=np.float64)
    if pose.shape != (4, 4) or not np.isfinite(pose).all():
        raise InputError("observation", what, f"expected a finite (4, 4) camera pose, got shape {pose.shape}")
    return pose


def change_chunk_frame(chunk: np.ndarray, space: Any, target_from_source: np.ndarray) -> np.ndarray:
    """``chunk`` (..., D) with wrists in frame *source* -> the same hands with wrists in frame *target*."""
    from dexego.actions import get_space

    space = get_space(space)
    transform = check_pose(target_from_source, "target_from_source")
    rotation, translation = transform[:3, :3], transform[:3, 3]
    values = np.asarray(chunk, dtype=np.float64)
    if values.shape[-1] != space.dim:
        raise InputError(
            None, "actions", f"chunk has {values.shape[-1]} dims, action space {space.name!r} has {space.dim}"
        )
    out = values.copy()
    for side in SIDES:
        present = (np.abs(values[..., space.hand_slice(side)]).sum(-1) > 0)[..., None]
        pos, rot = space.part_slice("wrist_pos", side), space.part_slice("wrist_rot6d", side)
        moved = values[..., pos] @ rotation.T + translation
        out[..., pos] = np.where(present, moved, values[..., pos])
        columns = values[..., rot].reshape(values.shape[:-1] + (2, 3)) @ rotation.T
        out[..., rot] = np.where(present, columns.reshape(values.shape[:-1] + (6,)), values[..., rot])
    return out.astype(chunk.dtype) if np.asarray(chunk).dtype.kind == "f" else out
