"""Files that may sit next to a video ``clip.mp4``:

- ``clip.json``: camera metadata, ``{"intrinsics": {"fx", "fy", "cx", "cy"}}`` at the video's size
  (or ``{"fov_deg": 70}``); every key optional.
- ``clip.hands.npz``: ground-truth hands for the oracle estimator and for evaluation:
  ``keypoints_camera`` (T, 2, 21, 3) metres in the camera frame, ``hand_valid`` (T, 2),
  optionally ``world_from_camera`` (T, 4, 4) and ``phase_changes`` (K,) frame indices.
- ``clip.poses.npy`` / ``.txt``: per-frame ``world_from_camera`` (T, 4, 4) (or T rows of 16 numbers),
  e.g. from a SLAM system; used with ``--camera poses:DIR``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from dexego.errors import InputError
from dexego.utils.files import read_json

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm")


def sidecar(video: str | Path, suffix: str) -> Path:
    video = Path(video)
    return video.with_name(video.stem + suffix)


def list_videos(video_dir: str | Path) -> list[Path]:
    root = Path(video_dir)
    if not root.is_dir():
        raise InputError(root, None, "not a directory of videos")
    return sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


def read_camera_metadata(video: str | Path) -> dict:
    path = sidecar(video, ".json")
    if not path.is_file():
        return {}
    meta = read_json(path, expect=dict)
    intr = meta.get("intrinsics")
    if intr is not None:
        if not isinstance(intr, dict) or any(k not in intr for k in ("fx", "fy", "cx", "cy")):
            raise InputError(path, "intrinsics", "expected an object with fx, fy, cx, cy")
        values = [intr[k] for k in ("fx", "fy", "cx", "cy")]
        if not all(isinstance(v, (int, float)) and np.isfinite(v) for v in values) or min(values[:2]) <= 0:
            raise InputError(path, "intrinsics", f"need finite numbers with fx, fy > 0, got {values}")
    if "fov_deg" in meta and not (isinstance(meta["fov_deg"], (int, float)) and 1 < meta["fov_deg"] < 179):
        raise InputError(path, "fov_deg", f"must be a number of degrees in (1, 179), got {meta['fov_deg']!r}")
    return meta


def read_ground_truth(video: str | Path) -> dict[str, np.ndarray]:
    path = sidecar(video, ".hands.npz")
    if not path.is_file():
        raise InputError(path, None, "no ground-truth hands next to the video (the oracle estimator needs them)")
    try:
        with np.load(path, allow_pickle=False) as data:
            out = {k: np.asarray(data[k]) for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:  # a truncated npz is a BadZipFile
        raise InputError(path, None, f"unreadable npz: {exc}") from None
    for key in ("keypoints_camera", "hand_valid"):
        if key not in out:
            raise InputError(path, key, "missing")
    n = len(out["keypoints_camera"])
    if out["keypoints_camera"].shape != (n, 2, 21, 3):
        raise InputError(path, "keypoints_camera", f"expected shape (T, 2, 21, 3), got {out['keypoints_camera'].shape}")
    if out["hand_valid"].shape != (n, 2):
        raise InputError(path, "hand_valid", f"expected shape ({n}, 2), got {out['hand_valid'].shape}")
    if "world_from_camera" in out and out["world_from_camera"].shape != (n, 4, 4):
        raise InputError(path, "world_from_camera", f"expected shape ({n}, 4, 4), got {out['world_from_camera'].shape}")
    out["hand_valid"] = out["hand_valid"].astype(bool)
    return out


def write_ground_truth(video: str | Path, **arrays: np.ndarray) -> Path:
    path = sidecar(video, ".hands.npz")
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
    return path


def read_poses(path: str | Path, length: int) -> np.ndarray:
    """(T, 4, 4) world_from_camera from ``.npy``/``.npz`` (key ``world_from_camera``) or text (T rows of 16)."""
    path = Path(path)
    try:
        if path.suffix == ".npy":
            poses = np.load(path, allow_pickle=False)
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                if "world_from_camera" not in data.files:
                    raise InputError(path, "world_from_camera", "missing")
                poses = data["world_from_camera"]
        else:
            poses = np.loadtxt(path, ndmin=2)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(path, None, f"unreadable poses: {exc}") from None
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim == 2 and poses.shape[1] == 16:
        poses = poses.reshape(-1, 4, 4)
    if poses.shape != (length, 4, 4):
        raise InputError(
            path, "world_from_camera", f"expected ({length}, 4, 4) for a {length}-frame video, got {poses.shape}"
        )
    if not np.isfinite(poses).all():
        raise InputError(path, "world_from_camera", "contains NaN or inf")
    if not np.allclose(poses[:, 3], [0, 0, 0, 1], atol=1e-6):
        raise InputError(path, "world_from_camera", "the last row of every pose must be 0 0 0 1")
    rot = poses[:, :3, :3]
    if not np.allclose(rot @ np.swapaxes(rot, 1, 2), np.eye(3), atol=1e-3):
        raise InputError(path, "world_from_camera", "rotation parts are not orthonormal")
    return poses
