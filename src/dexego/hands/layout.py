"""The 21-keypoint hand layout (MANO / OpenPose order) shared by every hand in dexego."""

from __future__ import annotations

import numpy as np
import torch

from dexego.geometry.dispatch import array_function

KEYPOINT_NAMES: tuple[str, ...] = (
    "wrist",
    "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip",
    "index_mcp", "index_pip", "index_dip", "index_tip",
    "middle_mcp", "middle_pip", "middle_dip", "middle_tip",
    "ring_mcp", "ring_pip", "ring_dip", "ring_tip",
    "little_mcp", "little_pip", "little_dip", "little_tip",
)  # fmt: skip
NUM_KEYPOINTS = 21
KEYPOINT_INDEX = {name: i for i, name in enumerate(KEYPOINT_NAMES)}

FINGER_NAMES: tuple[str, ...] = ("thumb", "index", "middle", "ring", "little")
FINGER_KEYPOINTS: dict[str, tuple[int, int, int, int]] = {
    finger: (1 + 4 * i, 2 + 4 * i, 3 + 4 * i, 4 + 4 * i) for i, finger in enumerate(FINGER_NAMES)
}
WRIST = 0
FINGERTIPS: tuple[int, ...] = (4, 8, 12, 16, 20)
MCPS: tuple[int, ...] = (2, 5, 9, 13, 17)

# PARENTS[i] is the keypoint that bone i hangs from (-1 for the wrist).
PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19)
# The 20 bones as (parent, child) pairs, in child order 1..20.
BONES: tuple[tuple[int, int], ...] = tuple((PARENTS[c], c) for c in range(1, NUM_KEYPOINTS))

SIDES: tuple[str, ...] = ("left", "right")  # the order of hands in every vector


def side_index(side: str) -> int:
    """0 for "left", 1 for "right"."""
    try:
        return SIDES.index(side)
    except ValueError:
        raise ValueError(f"hand side must be 'left' or 'right', got {side!r}") from None


def check_keypoints(keypoints: np.ndarray | torch.Tensor, name: str = "keypoints") -> None:
    if keypoints.shape[-2:] != (NUM_KEYPOINTS, 3):
        raise ValueError(f"{name} must have shape (..., 21, 3), got {tuple(keypoints.shape)}")


@array_function
def fingertips(keypoints: torch.Tensor) -> torch.Tensor:
    """(..., 21, 3) -> (..., 5, 3), thumb to little."""
    check_keypoints(keypoints)
    return keypoints[..., list(FINGERTIPS), :]


@array_function
def bone_lengths(keypoints: torch.Tensor) -> torch.Tensor:
    """(..., 21, 3) -> (..., 20): length of each bone in ``BONES`` order."""
    check_keypoints(keypoints)
    parents = [p for p, _ in BONES]
    children = [c for _, c in BONES]
    return (keypoints[..., children, :] - keypoints[..., parents, :]).norm(dim=-1)


@array_function
def mirror_keypoints(keypoints: torch.Tensor, axis: int = 0) -> torch.Tensor:
    """Reflect points across the plane ``coordinate[axis] = 0``.

    A left hand reflected this way is a valid right hand (and vice versa):
    use it to share data or models between sides. Applied to camera-frame
    keypoints with axis 0 it is a horizontal image flip.
    """
    sign = torch.ones(3, dtype=keypoints.dtype, device=keypoints.device)
    sign[axis] = -1
    return keypoints * sign
