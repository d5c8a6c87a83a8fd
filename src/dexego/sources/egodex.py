"""EgoDex (Apple): ``<task>/<idx>.hdf5`` + ``<idx>.mp4`` per episode, 30 fps, ARKit frames.

HDF5: ``camera/intrinsic`` (3, 3); ``transforms/<joint>`` (T, 4, 4) poses in the
ARKit world (+Y up), ``transforms/camera`` camera-to-world with ARKit camera
axes (x right, y up, z backward); optional ``confidences/<joint>`` (T,). File
attributes ``llm_description`` / ``description`` carry the language.

Conversion: keypoints are the joint translations; the camera pose is turned to
OpenCV axes by flipping its y and z axes (world_from_cv = world_from_arkit @
diag(1, -1, -1)). The metacarpal joints have no counterpart in the 21-keypoint
layout and are dropped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dexego.data import Episode
from dexego.errors import InputError
from dexego.geometry import Intrinsics
from dexego.sources.base import (
    SequenceRef,
    SkipSequence,
    SourceOptions,
    labelled_instructions,
    placeholder_instructions,
    require_file,
    truncate,
)
from dexego.sources.media import read_video

NAME = "egodex"
FPS = 30
MIN_CONFIDENCE = 0.1  # a hand is valid when its keypoints' mean confidence reaches this

# dexego's 21 keypoints as EgoDex joint names (without the "left"/"right" prefix).
_FINGER_JOINTS = ("Knuckle", "IntermediateBase", "IntermediateTip", "Tip")
JOINTS: tuple[str, ...] = (
    ("Hand",)
    + tuple(f"Thumb{j}" for j in _FINGER_JOINTS)
    + tuple(f"{finger}Finger{j}" for finger in ("Index", "Middle", "Ring", "Little") for j in _FINGER_JOINTS)
)
ARKIT_FROM_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])  # camera axes: ARKit (y up, z back) <- OpenCV (y down, z forward)


def find_sequences(root: Path) -> list[SequenceRef]:
    return [SequenceRef(str(p.relative_to(root).with_suffix("")), p) for p in sorted(Path(root).rglob("*.hdf5"))]


def dataset_fps(root: Path) -> int:
    return FPS


def _attr_text(value) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value).strip() if value is not None else ""


def load(ref: SequenceRef, options: SourceOptions) -> Episode:
    import h5py

    path = ref.path
    video_path = require_file(path.with_suffix(".mp4"), ref.source_id)
    try:
        with h5py.File(path, "r") as f:
            k = np.asarray(f["camera/intrinsic"], dtype=np.float64)
            camera = np.asarray(f["transforms/camera"], dtype=np.float64)
            n = camera.shape[0]
            kp = np.full((n, 2, 21, 3), np.nan)
            conf = np.ones((n, 2, 21))
            for h, side in enumerate(("left", "right")):
                for j, joint in enumerate(JOINTS):
                    name = f"{side}{joint}"
                    if f"transforms/{name}" not in f:
                        raise InputError(path, f"transforms/{name}", "missing joint")
                    pose = np.asarray(f[f"transforms/{name}"], dtype=np.float64)
                    if pose.shape != (n, 4, 4):
                        raise InputError(path, f"transforms/{name}", f"expected shape ({n}, 4, 4), got {pose.shape}")
                    kp[:, h, j] = pose[:, :3, 3]
                    if f"confidences/{name}" in f:
                        conf[:, h, j] = np.asarray(f[f"confidences/{name}"], dtype=np.float64).reshape(n)
            attrs = {key: _attr_text(f.attrs.get(key)) for key in ("llm_description", "description", "environment")}
    except KeyError as exc:
        raise InputError(path, None, f"missing dataset: {exc}") from None
    except OSError as exc:
        raise SkipSequence(ref.source_id, f"unreadable HDF5 {path}: {exc}") from None
    if k.shape != (3, 3) or camera.shape[1:] != (4, 4):
        raise InputError(
            path, "camera", f"expected intrinsic (3, 3) and camera (T, 4, 4), got {k.shape}, {camera.shape}"
        )

    frames = read_video(video_path, truncate(n, options))
    n = min(n, len(frames))
    frames = frames[:n]
    height, width = frames.shape[1:3]
    valid = np.isfinite(kp[:n]).all(axis=(-1, -2)) & (conf[:n].mean(-1) >= MIN_CONFIDENCE)
    text = attrs["llm_description"] or attrs["description"]
    if text:
        instructions, meta = labelled_instructions(
            n, text, "llm_description" if attrs["llm_description"] else "description"
        )
    else:
        instructions, meta = placeholder_instructions(n, path.parent.name.replace("_", " "))
    return Episode(
        keypoints_world=kp[:n].astype(np.float32),
        hand_valid=valid,
        world_from_camera=(camera[:n] @ ARKIT_FROM_OPENCV).astype(np.float32),
        intrinsics=Intrinsics.from_matrix(k, width, height),
        frames=frames,
        fps=FPS,
        instructions=instructions,
        source=NAME,
        embodiment="human",
        metadata={"source_id": ref.source_id, "environment": attrs["environment"], **meta},
    )
