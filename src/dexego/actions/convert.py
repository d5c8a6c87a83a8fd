"""Between world-frame hand keypoints and action vectors in a camera frame.

The dataset stores world-frame keypoints and world-from-camera poses; a
sample expresses hands (now and in the future chunk) in the camera frame of
its CURRENT observation by passing that one camera pose for every step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dexego.actions.spaces import ActionSpace, get_space
from dexego.geometry.dispatch import array_function
from dexego.geometry.transforms import apply_transform, invert_transform, pos_rot6d_to_pose, pose_to_pos_rot6d
from dexego.hands.frame import hand_frames
from dexego.hands.layout import FINGERTIPS
from dexego.hands.mano import MANOModel

_EGO48_POINTS = (0,) + FINGERTIPS
_KP21_POINTS = tuple(range(21))


@array_function
def keypoints_to_action(
    keypoints: torch.Tensor,
    world_from_camera: torch.Tensor,
    valid: torch.Tensor | None = None,
    space: str | ActionSpace = "ego48",
) -> torch.Tensor:
    """World keypoints (..., 2, 21, 3) + camera pose (..., 4, 4) -> actions (..., D).

    ``valid`` (..., 2) marks the hands to encode; other hands become zeros
    (and their keypoints may be NaN). Only the keypoints the space needs are
    read, so a robot hand that provides just those works. A valid hand whose
    needed keypoints are not finite raises ValueError.
    """
    space = get_space(space)
    if space.name not in ("ego48", "kp21"):
        raise ValueError(f"action space {space.name!r} cannot be encoded from keypoints (use mano_to_action)")
    if keypoints.shape[-3:] != (2, 21, 3):
        raise ValueError(f"keypoints must have shape (..., 2, 21, 3), got {tuple(keypoints.shape)}")
    if world_from_camera.shape[-2:] != (4, 4):
        raise ValueError(f"world_from_camera must have shape (..., 4, 4), got {tuple(world_from_camera.shape)}")
    needed = keypoints[..., list(space.required_keypoints), :]
    finite = torch.isfinite(needed).all(dim=-1).all(dim=-1)
    valid = finite if valid is None else torch.as_tensor(valid, dtype=torch.bool, device=keypoints.device)
    if bool((valid & ~finite).any()):
        raise ValueError("keypoints of a hand marked valid are NaN or inf")
    # Invalid hands are replaced by a harmless placeholder hand, then zeroed.
    placeholder = _placeholder_hand(keypoints)
    keypoints = torch.where(valid[..., None, None], keypoints, placeholder)

    world_from_hand = hand_frames(keypoints)
    camera_from_world = invert_transform(world_from_camera)
    camera_from_hand = camera_from_world[..., None, :, :] @ world_from_hand
    wrist = pose_to_pos_rot6d(camera_from_hand)
    others = _EGO48_POINTS[1:] if space.name == "ego48" else _KP21_POINTS[1:]
    local = apply_transform(invert_transform(world_from_hand), keypoints[..., list(others), :])
    per_hand = torch.cat([wrist, local.flatten(-2)], dim=-1) * valid[..., None].to(keypoints.dtype)
    return per_hand.flatten(-2)


def _placeholder_hand(like: torch.Tensor) -> torch.Tensor:
    hand = torch.zeros(21, 3, dtype=like.dtype, device=like.device)
    hand[5] = torch.tensor([0.09, 0.02, 0.0])
    hand[9] = torch.tensor([0.09, 0.0, 0.0])
    hand[17] = torch.tensor([0.08, -0.04, 0.0])
    return hand


@dataclass
class HandPoints:
    """Decoded hands: wrist poses and the keypoints the space carries."""

    wrist_pose: np.ndarray | torch.Tensor  # (..., 2, 4, 4) output frame from hand frame
    points: np.ndarray | torch.Tensor  # (..., 2, K, 3) in the output frame
    keypoint_indices: tuple[int, ...]  # which of the 21 keypoints ``points`` holds


def action_to_keypoints(
    action: np.ndarray | torch.Tensor,
    space: str | ActionSpace = "ego48",
    world_from_camera: np.ndarray | torch.Tensor | None = None,
    mano: tuple[MANOModel, MANOModel] | None = None,
) -> HandPoints:
    """Actions (..., D) -> wrist poses and keypoints, in the camera frame or (with a pose) the world.

    The ``mano`` space needs the (left, right) MANO models.
    """
    space = get_space(space)
    if space.name == "mano":
        if mano is None:
            raise ValueError("decoding the 'mano' action space needs MANO models: pass mano=(left, right)")
        pose, points = _decode_mano(action, mano)
        indices = _KP21_POINTS
    else:
        pose, points = _decode_keypoint_space(action, space.dim, space.name == "ego48")
        indices = _EGO48_POINTS if space.name == "ego48" else _KP21_POINTS
    if world_from_camera is not None:
        pose, points = _to_world(pose, points, world_from_camera)
    return HandPoints(pose, points, indices)


@array_function
def _decode_keypoint_space(action: torch.Tensor, dim: int, ego48: bool) -> tuple[torch.Tensor, torch.Tensor]:
    if action.shape[-1] != dim:
        raise ValueError(f"action must have {dim} values in its last axis, got shape {tuple(action.shape)}")
    hands = action.reshape(action.shape[:-1] + (2, dim // 2))
    camera_from_hand = pos_rot6d_to_pose(hands[..., :9])
    local = hands[..., 9:].reshape(hands.shape[:-1] + (-1, 3))
    points = torch.cat([camera_from_hand[..., None, :3, 3], apply_transform(camera_from_hand, local)], dim=-2)
    return camera_from_hand, points


@array_function
def _to_world(
    pose: torch.Tensor, points: torch.Tensor, world_from_camera: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    world_from_camera = world_from_camera[..., None, :, :]
    return world_from_camera @ pose, apply_transform(world_from_camera, points)


def mano_to_action(wrist_pose: np.ndarray | torch.Tensor, pca: np.ndarray | torch.Tensor, valid=None):
    """MANO root poses (..., 2, 4, 4) in the camera frame + PCA (..., 2, 15) -> ``mano`` actions (..., 48)."""
    return _mano_to_action(wrist_pose, pca, valid)


@array_function
def _mano_to_action(wrist_pose: torch.Tensor, pca: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    if wrist_pose.shape[-3:] != (2, 4, 4) or pca.shape[-2:] != (2, 15):
        raise ValueError(
            f"expected wrist poses (..., 2, 4, 4) and PCA (..., 2, 15), got {tuple(wrist_pose.shape)} and {tuple(pca.shape)}"
        )
    per_hand = torch.cat([pose_to_pos_rot6d(wrist_pose), pca.to(wrist_pose.dtype)], dim=-1)
    if valid is not None:
        per_hand = per_hand * torch.as_tensor(valid, dtype=per_hand.dtype)[..., None]
    return per_hand.flatten(-2)


def _decode_mano(action, mano: tuple[MANOModel, MANOModel]):
    is_numpy = isinstance(action, np.ndarray)
    tensor = torch.as_tensor(action, dtype=torch.float64)
    if tensor.shape[-1] != 48:
        raise ValueError(f"mano actions must have 48 values, got shape {tuple(tensor.shape)}")
    hands = tensor.reshape(tensor.shape[:-1] + (2, 24))
    poses, points = [], []
    for side, model in enumerate(mano):
        pose = pos_rot6d_to_pose(hands[..., side, :9])
        out = model(pca=hands[..., side, 9:])
        # MANO's root joint is the origin of the wrist frame: shift it there, then place the hand.
        local = out.keypoints - out.joints[..., :1, :]
        poses.append(pose)
        points.append(apply_transform(pose, local))
    pose_t, points_t = torch.stack(poses, -3), torch.stack(points, -3)
    if is_numpy:
        return pose_t.numpy(), points_t.numpy()
    return pose_t.to(action.dtype), points_t.to(action.dtype)
