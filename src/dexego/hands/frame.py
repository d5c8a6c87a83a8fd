"""The hand (wrist) frame: ONE definition for every hand, human or robot, left or right.

Built from four keypoints: the wrist (0), index MCP (5), middle MCP (9) and
little MCP (17).

- origin: the wrist;
- x: from the wrist towards the middle MCP (distal, along the palm);
- z: the palm normal pointing out of the palm (palmar side), made
  orthogonal to x. For the right hand it is (index MCP - wrist) x (little
  MCP - wrist); for the left hand the opposite cross product, so that z is
  palmar on both sides;
- y = z cross x, so the frame is right-handed on both sides. On a right hand
  y points towards the little finger, on a left hand towards the thumb:
  a left hand's wrist-frame points are the mirrored right hand's with y
  negated.

Robot hands define the same four points (palm sites at the index, middle
and little finger bases) and go through this same function.
"""

from __future__ import annotations

import torch

from dexego.geometry.dispatch import array_function, eps_for
from dexego.geometry.transforms import make_transform
from dexego.hands.layout import check_keypoints, side_index

FRAME_KEYPOINTS = {"wrist": 0, "index_mcp": 5, "middle_mcp": 9, "little_mcp": 17}


@array_function
def hand_frame(keypoints: torch.Tensor, side: str | torch.Tensor) -> torch.Tensor:
    """(..., 21, 3) keypoints -> (..., 4, 4) transform from the hand frame to the keypoints' frame.

    ``side`` is "left" or "right", or a (...) tensor with 0 for left and 1
    for right (for arrays that stack both hands, use :func:`hand_frames`).
    """
    check_keypoints(keypoints)
    wrist = keypoints[..., 0, :]
    to_index = keypoints[..., 5, :] - wrist
    to_middle = keypoints[..., 9, :] - wrist
    to_little = keypoints[..., 17, :] - wrist
    normal = torch.linalg.cross(to_index, to_little, dim=-1)
    if isinstance(side, str):
        sign = 1.0 if side_index(side) == 1 else -1.0
        normal = normal * sign
    else:
        sign = torch.as_tensor(side, dtype=keypoints.dtype, device=keypoints.device) * 2 - 1
        normal = normal * sign[..., None]
    eps = eps_for(keypoints)
    x = to_middle / to_middle.norm(dim=-1, keepdim=True).clamp_min(eps)
    z = normal - (normal * x).sum(-1, keepdim=True) * x
    z = z / z.norm(dim=-1, keepdim=True).clamp_min(eps)
    y = torch.linalg.cross(z, x, dim=-1)
    return make_transform(torch.stack([x, y, z], dim=-1), wrist)


@array_function
def hand_frames(keypoints: torch.Tensor) -> torch.Tensor:
    """(..., 2, 21, 3) keypoints of both hands (left, right) -> (..., 2, 4, 4)."""
    if keypoints.shape[-3] != 2:
        raise ValueError(f"expected both hands (..., 2, 21, 3), got shape {tuple(keypoints.shape)}")
    side = torch.tensor([0.0, 1.0], dtype=keypoints.dtype, device=keypoints.device)
    return hand_frame(keypoints, side.expand(keypoints.shape[:-2]))
