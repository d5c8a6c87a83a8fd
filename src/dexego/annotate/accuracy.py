"""How close an annotated episode is to known hands: wrist error and segment-boundary error."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dexego.data import Episode
from dexego.geometry import apply_transform, invert_transform


@dataclass(frozen=True)
class Accuracy:
    wrist_camera_mm: float  # mean wrist error in the camera frame (depends on hands only)
    wrist_world_mm: (
        float  # mean wrist error in the world, the truth expressed in the episode's world (first camera aligned)
    )
    wrist_world_p90_mm: float
    coverage: float  # fraction of truly visible hand-frames that the episode has as valid
    boundary_error_s: list[float]  # per true phase change, distance to the nearest segment boundary (s)
    boundaries: list[int]


def episode_accuracy(episode: Episode, truth: dict[str, np.ndarray]) -> Accuracy:
    """Compare with ground truth (``keypoints_camera``, ``hand_valid``, ``world_from_camera``, ``phase_changes``)."""
    poses = np.asarray(episode.world_from_camera, dtype=np.float64)
    true_cam = np.asarray(truth["keypoints_camera"], dtype=np.float64)
    n = min(len(poses), len(true_cam))
    true_cam, poses = true_cam[:n], poses[:n]
    ours = np.asarray(episode.keypoints_world, dtype=np.float64)[:n]
    valid = np.asarray(episode.hand_valid)[:n] & np.asarray(truth["hand_valid"])[:n]
    ours_cam = apply_transform(invert_transform(poses)[:, None], ours[:, :, :1])[:, :, 0]
    camera_err = np.linalg.norm(ours_cam - true_cam[:, :, 0], axis=-1)[valid]
    if "world_from_camera" in truth:
        true_poses = np.asarray(truth["world_from_camera"], dtype=np.float64)[:n]
        # Express the truth in the episode's world: align the two at the first frame.
        align = poses[0] @ invert_transform(true_poses[0])
        true_world = apply_transform(align @ true_poses[:, None], true_cam[:, :, :1])[:, :, 0]
    else:
        true_world = apply_transform(poses[:, None], true_cam[:, :, :1])[:, :, 0]
    world_err = np.linalg.norm(ours[:, :, 0] - true_world, axis=-1)[valid]
    boundaries = sorted({s for s, e, _ in episode.instructions} - {0})
    changes = np.asarray(truth.get("phase_changes", []), dtype=int)
    errors = [
        float(np.min(np.abs(np.array(boundaries) - c))) / episode.fps if boundaries else float("inf") for c in changes
    ]
    truly = np.asarray(truth["hand_valid"])[:n]
    return Accuracy(
        wrist_camera_mm=float(camera_err.mean() * 1000) if camera_err.size else float("nan"),
        wrist_world_mm=float(world_err.mean() * 1000) if world_err.size else float("nan"),
        wrist_world_p90_mm=float(np.percentile(world_err, 90) * 1000) if world_err.size else float("nan"),
        coverage=float(valid.sum() / max(truly.sum(), 1)),
        boundary_error_s=errors,
        boundaries=boundaries,
    )
