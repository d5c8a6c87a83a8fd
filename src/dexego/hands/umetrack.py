"""The UmeTrack hand model: forward kinematics from joint angles and a per-user hand profile.

UmeTrack (Han et al., SIGGRAPH Asia 2022) describes a hand by a wrist pose and 20
finger joint angles, each a rotation about a fixed axis through a fixed point of
the hand (a hinge), and by a user profile holding those axes and points plus 21
landmarks skinned to the bones. The facts used here are those of HOT3D's release
of the model (its user-profile JSON and its reference loader):

- profile ``hand_model``: ``joint_rotation_axes`` and ``joint_rest_positions``
  (22, 3) in the wrist frame, millimetres; joints 0-3 thumb, 4-7 index, 8-11
  middle, 12-15 ring, 16-19 little finger, 20-21 the wrist (not used: the wrist
  pose is given); ``landmark_rest_positions`` (21, 3) mm with
  ``landmark_rest_bone_indices`` / ``..._weights`` (21, K) into 17 bone frames.
- a joint's local transform rotates by ``angle`` about its axis through its rest
  point: ``R = exp(angle * axis)``, ``t = rest - R rest``.
- frames: 0 and 1 are the wrist pose; each digit chains its 4 joint transforms
  from the wrist and keeps the frames after its 2nd, 3rd and 4th joints
  (frames 2-4 thumb, 5-7 index, ..., 14-16 little finger).
- landmarks (linear blend skinning): ``sum_k w_k F[b_k] [p_rest, 1]``; in order
  the 5 fingertips (thumb to little), the wrist, the thumb's intermediate and
  distal frames, then proximal, intermediate and distal frames of index,
  middle, ring and little finger, then the palm centre.
- the profile describes a left hand; a right hand uses the same profile with the
  first column (x axis) of its wrist pose negated (a mirror).

dexego's 21 keypoints (:data:`dexego.hands.KEYPOINT_NAMES`) come from those
landmarks, except the thumb CMC, which UmeTrack does not mark: it is taken as the
second thumb hinge's centre (the rest point of joint 1 carried by joint 0), an
approximation of where MANO or MediaPipe put that keypoint.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dexego.errors import InputError
from dexego.geometry import axis_angle_to_matrix

NUM_JOINTS = 22
NUM_FINGER_JOINTS = 20
NUM_FRAMES = 17
NUM_LANDMARKS = 21
MM_TO_M = 1e-3

# dexego keypoint index -> UmeTrack landmark index (None: the thumb CMC, computed from joint 1)
_KEYPOINT_FROM_LANDMARK = (5, None, 6, 7, 0, 8, 9, 10, 1, 11, 12, 13, 2, 14, 15, 16, 3, 17, 18, 19, 4)


@dataclass(frozen=True)
class UmeTrackProfile:
    """One user's UmeTrack hand (left-handed as stored), lengths in metres."""

    rotation_axes: np.ndarray  # (22, 3) unit vectors in the wrist frame
    rest_positions: np.ndarray  # (22, 3)
    landmark_rest: np.ndarray  # (21, 3)
    landmark_bones: np.ndarray  # (21, K) int frame indices
    landmark_weights: np.ndarray  # (21, K)


def load_umetrack_profile(path: str | os.PathLike) -> UmeTrackProfile:
    """Read ``umetrack_hand_user_profile.json`` and check every array it needs."""
    path = Path(path)
    try:
        model = json.loads(path.read_text())["hand_model"]
    except FileNotFoundError:
        raise InputError(path, None, "UmeTrack user profile not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(path, None, f"invalid JSON: {exc}") from None
    except (KeyError, TypeError):
        raise InputError(path, "hand_model", "missing") from None

    def array(name: str, shape: tuple) -> np.ndarray:
        try:
            value = np.asarray(model[name], dtype=np.float64)
        except KeyError:
            raise InputError(path, f"hand_model.{name}", "missing") from None
        except (TypeError, ValueError) as exc:
            raise InputError(path, f"hand_model.{name}", f"not a numeric array: {exc}") from None
        if value.ndim != len(shape) or any(s is not None and s != v for s, v in zip(shape, value.shape)):
            raise InputError(path, f"hand_model.{name}", f"expected shape {shape}, got {value.shape}")
        if not np.isfinite(value).all():
            raise InputError(path, f"hand_model.{name}", "holds NaN or inf")
        return value

    axes = array("joint_rotation_axes", (NUM_JOINTS, 3))
    norms = np.linalg.norm(axes[:NUM_FINGER_JOINTS], axis=-1)
    if (np.abs(norms - 1) > 1e-3).any():
        raise InputError(
            path,
            "hand_model.joint_rotation_axes",
            f"finger joint axes must be unit vectors (norms {norms.min():.4f}-{norms.max():.4f})",
        )
    bones = array("landmark_rest_bone_indices", (NUM_LANDMARKS, None))
    weights = array("landmark_rest_bone_weights", bones.shape)
    if (bones < 0).any() or (bones >= NUM_FRAMES).any() or (bones != np.round(bones)).any():
        raise InputError(
            path, "hand_model.landmark_rest_bone_indices", f"bone indices must be integers in [0, {NUM_FRAMES})"
        )
    return UmeTrackProfile(
        rotation_axes=axes,
        rest_positions=array("joint_rest_positions", (NUM_JOINTS, 3)) * MM_TO_M,
        landmark_rest=array("landmark_rest_positions", (NUM_LANDMARKS, 3)) * MM_TO_M,
        landmark_bones=bones.astype(np.int64),
        landmark_weights=weights,
    )


def wrist_for_side(world_from_wrist: np.ndarray, side: str) -> np.ndarray:
    """The wrist transform the (left-handed) profile is posed with: a right hand mirrors its x axis."""
    out = np.array(world_from_wrist, dtype=np.float64, copy=True)
    if side == "right":
        out[..., :, 0] *= -1
    return out


def _joint_transforms(profile: UmeTrackProfile, angles: np.ndarray) -> np.ndarray:
    """(N, 20) angles -> (N, 20, 4, 4) hinge transforms (rotation about each joint's rest point)."""
    axes, rest = profile.rotation_axes[:NUM_FINGER_JOINTS], profile.rest_positions[:NUM_FINGER_JOINTS]
    rot = axis_angle_to_matrix(angles[..., None] * axes)
    out = np.zeros(angles.shape + (4, 4))
    out[..., :3, :3] = rot
    out[..., :3, 3] = rest - np.einsum("...ij,...j->...i", rot, rest)
    out[..., 3, 3] = 1.0
    return out


def umetrack_frames(
    profile: UmeTrackProfile, joint_angles: np.ndarray, wrist: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The 17 bone frames (N, 17, 4, 4) and the transforms after each joint (N, 20, 4, 4), world frame.

    ``joint_angles`` (N, 20 or 22) radians; ``wrist`` (N, 4, 4) as given by :func:`wrist_for_side`.
    """
    angles = np.asarray(joint_angles, dtype=np.float64)[..., :NUM_FINGER_JOINTS]
    wrist = np.asarray(wrist, dtype=np.float64)
    local = _joint_transforms(profile, angles)
    frames = [wrist, wrist]
    chained = []
    for digit in range(5):
        current = wrist
        for k in range(4):
            current = current @ local[:, 4 * digit + k]
            chained.append(current)
            if k >= 1:
                frames.append(current)
    return np.stack(frames, axis=1), np.stack(chained, axis=1)


def umetrack_landmarks(profile: UmeTrackProfile, joint_angles: np.ndarray, wrist: np.ndarray) -> np.ndarray:
    """(N, 21, 3) UmeTrack landmarks (its own order) in the frame of ``wrist``."""
    frames, _ = umetrack_frames(profile, joint_angles, wrist)
    rest = np.concatenate([profile.landmark_rest, np.ones((NUM_LANDMARKS, 1))], axis=-1)
    picked = frames[:, profile.landmark_bones]  # (N, 21, K, 4, 4)
    points = np.einsum("nlkij,lj->nlki", picked, rest)[..., :3]
    return np.einsum("nlki,lk->nli", points, profile.landmark_weights)


def umetrack_keypoints(
    profile: UmeTrackProfile, joint_angles: np.ndarray, world_from_wrist: np.ndarray, side: str
) -> np.ndarray:
    """(N, 21, 3) dexego keypoints of one hand from UmeTrack joint angles and its world wrist pose."""
    wrist = wrist_for_side(world_from_wrist, side)
    landmarks = umetrack_landmarks(profile, joint_angles, wrist)
    _, chained = umetrack_frames(profile, joint_angles, wrist)
    cmc = np.einsum("nij,j->ni", chained[:, 0], np.append(profile.rest_positions[1], 1.0))[:, :3]
    out = np.empty(landmarks.shape)
    for i, lm in enumerate(_KEYPOINT_FROM_LANDMARK):
        out[:, i] = cmc if lm is None else landmarks[:, lm]
    return out
