"""HoloAssist (HoloLens 2, exported with Microsoft Psi): ``<video>/Export_py/...``, 30 fps.

- ``Hands/{Left,Right}_sync.txt``: one line per video frame: leading fields (time,
  IsGripped, IsPinched, IsTracked, IsActive; older exports have 3), then 26 joint
  poses x 16 values (4x4 row-major, world frame), 26 valid flags, 26 tracked flags.
  Joints in Psi's ``HandJointIndex`` order (Palm, Wrist, then per finger
  Metacarpal, Proximal, Intermediate, Distal, Tip; the thumb has no Intermediate).
- ``Video/Pose_sync.txt``: per frame 2 leading fields then the 4x4 camera-to-world
  pose (row-major) in Psi axes (x forward, y left, z up).
- ``Video/Intrinsics.txt``: K (9 values, row-major), width, height.
- ``Video_pitchshift.mp4`` (or ``Video_compress.mp4``).
- Optional language: ``data-annotation-*.json`` at the dataset root (``video_name``,
  ``taskType``, ``events`` with ``label``/``start``/``end``/``attributes``).

OpenCV camera axes from Psi's: world_from_cv = world_from_psi @ PSI_FROM_OPENCV.
"""

from __future__ import annotations

import json
from functools import lru_cache
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

NAME = "holoassist"
FPS = 30
NUM_JOINTS = 26
# Psi HandJointIndex -> dexego's 21 keypoints.
KEYPOINT_JOINTS = (1, 2, 3, 4, 5, 7, 8, 9, 10, 12, 13, 14, 15, 17, 18, 19, 20, 22, 23, 24, 25)
PSI_FROM_OPENCV = np.array([[0, 0, 1, 0], [-1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 0, 1]], dtype=np.float64)


def find_sequences(root: Path) -> list[SequenceRef]:
    refs = []
    for export in sorted(Path(root).rglob("Export_py")):
        if export.is_dir():
            refs.append(SequenceRef(export.parent.name, export))
    return refs


def dataset_fps(root: Path) -> int:
    return FPS


def _numbers(path: Path) -> list[np.ndarray]:
    rows = []
    for i, line in enumerate(path.read_text().splitlines()):
        if line.strip():
            try:
                rows.append(np.array(line.replace(",", " ").split(), dtype=np.float64))
            except ValueError:
                raise InputError(path, f"line {i + 1}", "non-numeric value") from None
    return rows


def read_hand_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(T, 21, 3) keypoints (world) and (T,) validity from one ``*_sync.txt`` hand file."""
    rows = _numbers(path)
    if not rows:
        raise InputError(path, None, "empty hand file")
    tail = NUM_JOINTS * 16 + 2 * NUM_JOINTS
    kp = np.full((len(rows), 21, 3), np.nan)
    valid = np.zeros(len(rows), dtype=bool)
    for t, row in enumerate(rows):
        lead = len(row) - tail
        if lead < 1:
            raise InputError(path, f"line {t + 1}", f"expected at least {tail + 1} values, got {len(row)} (truncated?)")
        poses = row[lead : lead + NUM_JOINTS * 16].reshape(NUM_JOINTS, 4, 4)
        joint_valid = row[lead + NUM_JOINTS * 16 : lead + NUM_JOINTS * 17] > 0.5
        tracked = row[3] > 0.5 if lead >= 4 else True  # IsTracked in the 5-field export
        kp[t] = poses[list(KEYPOINT_JOINTS), :3, 3]
        valid[t] = bool(tracked and joint_valid[list(KEYPOINT_JOINTS)].all() and np.isfinite(kp[t]).all())
    return kp, valid


def _read_pose_file(path: Path) -> np.ndarray:
    rows = _numbers(path)
    bad = next((i for i, r in enumerate(rows) if len(r) < 18), None)
    if bad is not None:
        raise InputError(path, f"line {bad + 1}", f"expected 2 leading fields and 16 pose values, got {len(rows[bad])}")
    return np.stack([r[2:18].reshape(4, 4) for r in rows]) if rows else np.zeros((0, 4, 4))


def _read_intrinsics(path: Path) -> tuple[np.ndarray, int, int]:
    values = np.concatenate(_numbers(path)) if path.stat().st_size else np.zeros(0)
    if values.size < 11:
        raise InputError(path, None, f"expected 9 values of K then width and height, got {values.size} values")
    return values[:9].reshape(3, 3), int(values[9]), int(values[10])


@lru_cache(maxsize=4)
def _annotations(root: str) -> dict[str, dict]:
    out = {}
    for path in sorted(Path(root).glob("data-annotation*.json")):
        try:
            items = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise InputError(path, None, f"invalid JSON: {exc}") from None
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and "video_name" in item:
                out[str(item["video_name"])] = item
    return out


def _instructions(item: dict | None, n: int, fps: float):
    if not item:
        return placeholder_instructions(n, "assist with the task")
    segments = []
    for event in item.get("events", []):
        if "Coarse grained action" not in str(event.get("label", "")):
            continue
        attrs = event.get("attributes", {}) or {}
        text = attrs.get("Action sentence") or " ".join(str(attrs[k]) for k in ("Verb", "Noun") if attrs.get(k)).strip()
        start, end = int(round(float(event["start"]) * fps)), int(round(float(event["end"]) * fps))
        start, end = max(start, 0), min(end, n)
        if text and start < end and all(end <= s or start >= e for s, e, _ in segments):
            segments.append((start, end, text.replace("_", " ")))
    if segments:
        return sorted(segments), {"instruction_placeholder": False, "instruction_origin": "coarse grained actions"}
    if item.get("taskType"):
        return labelled_instructions(n, str(item["taskType"]), "taskType")
    return placeholder_instructions(n, "assist with the task")


def load(ref: SequenceRef, options: SourceOptions) -> Episode:
    export = ref.path
    left, left_valid = read_hand_file(require_file(export / "Hands" / "Left_sync.txt", ref.source_id))
    right, right_valid = read_hand_file(require_file(export / "Hands" / "Right_sync.txt", ref.source_id))
    poses = _read_pose_file(require_file(export / "Video" / "Pose_sync.txt", ref.source_id))
    intr_path = export / "Video" / "Intrinsics.txt"
    k, width, height = _read_intrinsics(require_file(intr_path, ref.source_id))
    video = next((export / n for n in ("Video_pitchshift.mp4", "Video_compress.mp4") if (export / n).is_file()), None)
    if video is None:
        raise SkipSequence(ref.source_id, f"missing file {export / 'Video_pitchshift.mp4'}")
    n = truncate(min(len(left), len(right), len(poses)), options)
    frames = read_video(video, n)
    n = min(n, len(frames))
    if n == 0:
        raise SkipSequence(ref.source_id, "no frame has hands, camera pose and video")
    frames = frames[:n]
    intr = Intrinsics.from_matrix(k, width, height)
    if frames.shape[1:3] != (height, width):
        intr = intr.scaled(frames.shape[2], frames.shape[1])
    instructions, meta = _instructions(_annotations(str(export.parent.parent)).get(ref.source_id), n, FPS)
    return Episode(
        keypoints_world=np.stack([left[:n], right[:n]], axis=1).astype(np.float32),
        hand_valid=np.stack([left_valid[:n], right_valid[:n]], axis=1),
        world_from_camera=(poses[:n] @ PSI_FROM_OPENCV).astype(np.float32),
        intrinsics=intr,
        frames=frames,
        fps=FPS,
        instructions=instructions,
        source=NAME,
        embodiment="human",
        metadata={"source_id": ref.source_id, **meta},
    )
