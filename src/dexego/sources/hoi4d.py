"""HOI4D (egocentric RGB-D, one object category and task per sequence, 15 fps).

A sequence is ``<camera>/H*/C*/N*/S*/s*/T*`` (camera ``ZY2021080000*``, human,
object category, instance, room, layout, task). The release splits it over
several archives; each part may sit directly in the root or one or two folders
below it (``HOI4D_release/``, ``HOI4D_annotations/``, ``HOI4D_Handpose/handpose/``):

- ``<seq>/align_rgb/image.mp4``: the colour video (1920x1080).
- ``<seq>/3Dseg/output.log``: the camera trajectory in Open3D's pinhole-trajectory
  (Redwood ``.log``) format: per frame a line of 3 ints then a 4x4 matrix, the
  camera-to-world pose (Open3D's reader stores its inverse as ``extrinsic``).
- ``<seq>/action/color.json`` (optional): ``events`` (or ``markResult.marks``) with
  ``event``, ``startTime``, ``endTime`` in seconds and ``info.duration``.
- ``refinehandpose_{left,right}/<seq>/<frame>.pickle``: ``poseCoeff`` (3 global +
  45 axis-angle, MANO ``flat_hand_mean=True``), ``beta`` (10), ``trans`` (3, metres,
  camera frame) and ``kps2D`` (21 x 2 pixels). HOI4D's loader (manopth) outputs
  joints in millimetres and divides by 1000 before adding ``trans``; dexego's MANO
  is in metres, so keypoints = MANO(poseCoeff, beta) + trans. A frame without a
  pickle has no hand. ``observation.hands.mano``: the absolute 45-D pose minus
  ``hands_mean`` projected on 15 PCA; root = world wrist keypoint + the global
  orientation carried from the camera to the world (:mod:`dexego.sources.mano_feature`).
- ``camera_params/<camera>/intrin.npy``: the 3x3 colour intrinsics.

Videos hold 300 frames; the annotations index them. A video stored at 30 fps
(some are, per ``info.duration``) is kept at every second frame so the dataset
stays at 15 fps. Language: the task definition of (C*, T*) from HOI4D's
``task_definitions.csv`` (e.g. "mug: pick and place"); the atomic action
events go to the episode metadata.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np

from dexego.data import Episode
from dexego.errors import InputError
from dexego.geometry import Intrinsics, apply_transform, axis_angle_to_matrix, project
from dexego.sources.base import (
    SequenceRef,
    SkipSequence,
    SourceOptions,
    check_array,
    labelled_instructions,
    placeholder_instructions,
    truncate,
)  # fmt: skip
from dexego.sources.mano_feature import load_projectors, mano_feature
from dexego.sources.mano_hands import load_mano_pair, mano_keypoints
from dexego.sources.media import read_video
from dexego.sources.safe_pickle import safe_load_pickle

NAME = "hoi4d"
FPS = 15
SEQUENCE_GLOB = "ZY*/H*/C*/N*/S*/s*/T*"

# HOI4D's definitions/task/task_definitions.csv: category -> (name, tasks T1..T6).
TASKS: dict[int, tuple[str, tuple[str, ...]]] = {
    1: ("toy car", ("Pick and place", "Push toy car", "Put it in the drawer", "Take it out of the drawer")),
    2: ("mug", ("Pick and place", "Put it in the drawer", "Take it out of the drawer", "Fill with water by a kettle",
                "Pour water into another mug", "Pick and place (with water)")),
    3: ("laptop", ("Pick and place", "Open and close the display")),
    4: ("storage furniture", ("Open and close the drawer", "Open and close the door", "Put the drink in the door",
                              "Put the drink in the drawer")),
    5: ("bottle", ("Pick and place", "Pour all the water into a mug", "Put it in the drawer",
                   "Take it out of the drawer", "Reposition the bottle", "Pick and place (with water)")),
    6: ("safe", ("Open and close the door", "Put something in it", "Take something out of it")),
    7: ("bowl", ("Pick and place", "Put it in the drawer", "Take it out of the drawer", "Take the ball out of the bowl",
                 "Put the ball in the bowl", "Pick and place (with ball)")),
    8: ("bucket", ("Pick and place", "Pour water into another bucket")),
    9: ("scissors", ("Pick and place", "Cut something")),
    11: ("pliers", ("Pick and place", "Take it out of the drawer", "Put it in the drawer", "Clamp something")),
    12: ("kettle", ("Pick and place", "Pour water into a mug")),
    13: ("knife", ("Pick and place", "Take it out of the drawer", "Put it in the drawer", "Cut apple")),
    14: ("trash can", ("Open and close", "Throw something in it")),
    17: ("lamp", ("Pick and place", "Turn and fold", "Turn on and turn off")),
    18: ("stapler", ("Pick and place", "Bind the paper")),
    20: ("chair", ("Pick and place to the original position", "Pick and place to the original position",
                   "Pick and place to a new position", "Pick and place to a new position")),
}  # fmt: skip


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def _bases(root: Path) -> list[Path]:
    """The root and the folders one and two levels below it: where the archives' top folders may be."""
    level1 = _subdirs(root)
    return [root, *level1, *(q for p in level1 for q in _subdirs(p))]


def find_sequences(root: Path) -> list[SequenceRef]:
    root = Path(root)
    bases = _bases(root)
    seq_bases = [b for b in bases if any(b.glob("ZY*"))]
    hand_bases = [b for b in bases if (b / "refinehandpose_right").is_dir() or (b / "refinehandpose_left").is_dir()]
    camera_bases = [b for b in bases if (b / "camera_params").is_dir()]
    refs: dict[str, SequenceRef] = {}
    for base in seq_bases:
        for video in sorted(base.glob(f"{SEQUENCE_GLOB}/align_rgb/image.mp4")):
            seq = video.parent.parent.relative_to(base).as_posix()
            refs.setdefault(seq, SequenceRef(seq, video, {
                "seq_bases": [str(b) for b in seq_bases], "hand_bases": [str(b) for b in hand_bases],
                "camera_bases": [str(b) for b in camera_bases], "root": str(root)}))  # fmt: skip
    return [refs[k] for k in sorted(refs)]


def dataset_fps(root: Path) -> int:
    return FPS


def _first_existing(candidates: list[Path], source_id: str) -> Path:
    for path in candidates:
        if path.is_file():
            return path
    where = candidates[0]
    others = f" (also looked in {len(candidates) - 1} other places)" if len(candidates) > 1 else ""
    raise SkipSequence(source_id, f"missing file {where}{others}")


def read_trajectory(path: Path) -> np.ndarray:
    """Camera-to-world poses (N, 4, 4) from an Open3D / Redwood ``.log`` trajectory."""
    lines = [line.split() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    if not lines or len(lines) % 5:
        raise InputError(path, None, f"{len(lines)} lines, not blocks of 5 (3 ints, a 4x4 matrix): truncated?")
    poses = []
    for b in range(0, len(lines), 5):
        header, rows = lines[b], lines[b + 1 : b + 5]
        if len(header) != 3 or any(len(r) != 4 for r in rows):
            raise InputError(path, f"entry {b // 5}", "expected a line of 3 ints followed by 4 lines of 4 numbers")
        try:
            poses.append(np.array(rows, dtype=np.float64))
        except ValueError as exc:
            raise InputError(path, f"entry {b // 5}", f"not numeric: {exc}") from None
    poses = np.stack(poses)
    if not np.isfinite(poses).all() or not np.allclose(poses[:, 3], [0, 0, 0, 1], atol=1e-6):
        raise InputError(path, None, "poses must be finite rigid 4x4 matrices with last row 0 0 0 1")
    return poses


def read_hand_pickle(path: Path) -> dict[str, np.ndarray]:
    data = safe_load_pickle(path.read_bytes(), path)
    if not isinstance(data, dict):
        raise InputError(path, None, "expected a dict with poseCoeff, beta, trans")
    try:
        out = {
            "pose": check_array(path, "poseCoeff", np.reshape(data["poseCoeff"], -1), (48,)),
            "beta": check_array(path, "beta", np.reshape(data["beta"], -1), (10,)),
            "trans": check_array(path, "trans", np.reshape(data["trans"], -1), (3,)),
        }
    except KeyError as exc:
        raise InputError(path, exc.args[0], "missing key") from None
    if "kps2D" in data:
        out["kps2D"] = check_array(path, "kps2D", np.reshape(data["kps2D"], (-1, 2)), (21, 2))
    return out


def video_rate(path: Path) -> float:
    try:
        with av.open(str(path)) as container:
            rate = container.streams.video[0].average_rate
    except (av.error.FFmpegError, OSError, IndexError) as exc:
        raise InputError(path, None, f"unreadable video: {exc}") from None
    return float(rate) if rate else float(FPS)


def task_instruction(seq: str) -> str | None:
    """ "mug: pick and place" from the C* and T* parts of a sequence id (None when unknown)."""
    parts = seq.split("/")
    try:
        category, task = int(parts[2][1:]), int(parts[6][1:])
        name, tasks = TASKS[category]
        text = tasks[task - 1]
    except (IndexError, KeyError, ValueError):
        return None
    return f"{name}: {text[0].lower()}{text[1:]}"


def read_action_events(path: Path, n_native: int, rate: float, step: int, n: int) -> list[list]:
    """[start, end_exclusive, event] in output frames from ``action/color.json`` (times in seconds)."""
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(path, None, f"invalid JSON: {exc}") from None
    events = data.get("events") or (data.get("markResult") or {}).get("marks") or []
    duration = float((data.get("info") or {}).get("duration") or 0)
    frames_per_second = n_native / duration if duration > 0 else rate
    out = []
    for e in events:
        try:
            start = int(round(float(e["startTime"]) * frames_per_second / step))
            end = int(round(float(e["endTime"]) * frames_per_second / step))
            label = str(e["event"]).strip()
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(path, "events", f"malformed event {e!r:.80}: {exc}") from None
        start, end = max(0, start), min(n, end)
        if end > start and label:
            out.append([start, end, label])
    return out


def load(ref: SequenceRef, options: SourceOptions) -> Episode:
    seq = ref.source_id
    camera_id = seq.split("/")[0]
    seq_bases = [Path(b) / seq for b in ref.extra["seq_bases"]]
    log_path = _first_existing([b / "3Dseg" / "output.log" for b in seq_bases], seq)
    camera_bases = ref.extra["camera_bases"] or [ref.extra["root"]]
    k_path = _first_existing([Path(b) / "camera_params" / camera_id / "intrin.npy" for b in camera_bases], seq)
    try:
        k = check_array(k_path, None, np.load(k_path, allow_pickle=False), (3, 3))
    except ValueError as exc:
        raise InputError(k_path, None, f"unreadable array: {exc}") from None
    world_from_camera = read_trajectory(log_path)
    hand_bases = [Path(b) for b in ref.extra["hand_bases"]]
    hand_dirs = {side: next((d for b in hand_bases if (d := b / f"refinehandpose_{side}" / seq).is_dir()), None)
                 for side in ("left", "right")}  # fmt: skip
    if hand_dirs["left"] is None and hand_dirs["right"] is None:
        raise SkipSequence(seq, "no hand poses (refinehandpose_left/right/<sequence>) found")
    models = load_mano_pair(options.mano_dir, NAME, flat_hand_mean=True, num_pca=45)

    rate = video_rate(ref.path)
    step = int(round(rate / FPS))
    if step < 1 or abs(rate - step * FPS) > 0.5:
        raise SkipSequence(seq, f"{ref.path}: video at {rate:.3g} fps is not a multiple of {FPS} fps")
    n = truncate(len(world_from_camera) // step, options)
    frames = read_video(ref.path, n * step)[::step]
    if len(frames) < n:
        raise SkipSequence(seq, f"{ref.path} has {len(frames)} frames at {FPS} fps, output.log {n} (truncated?)")
    native = np.arange(n) * step  # native[t]: the annotation frame of output frame t

    kp_cam = np.full((n, 2, 21, 3), np.nan)
    kps2d = np.full((n, 2, 2), np.nan)
    full_pose = np.zeros((n, 2, 48))  # global orientation (camera frame) + 45 absolute, per present hand
    for h, side in enumerate(("left", "right")):
        if hand_dirs[side] is None:
            continue
        present = [t for t in range(n) if (hand_dirs[side] / f"{native[t]}.pickle").is_file()]
        if not present:
            continue
        hands = [read_hand_pickle(hand_dirs[side] / f"{native[t]}.pickle") for t in present]
        pose = np.stack([x["pose"] for x in hands])
        full_pose[present, h] = pose
        kp_cam[present, h] = mano_keypoints(models[side], pose=pose[:, 3:], global_orient=pose[:, :3],
                                            betas=np.stack([x["beta"] for x in hands]),
                                            transl=np.stack([x["trans"] for x in hands]))  # fmt: skip
        for t, x in zip(present, hands):
            if "kps2D" in x:
                kps2d[t, h] = x["kps2D"][0]
    intr = Intrinsics.from_matrix(k, frames.shape[2], frames.shape[1])
    valid = np.isfinite(kp_cam).all(axis=(-1, -2))
    # HOI4D's own 2D wrist against the projection of the MANO wrist: a check on units and frames.
    wrist_err = np.linalg.norm(project(np.nan_to_num(kp_cam[:, :, 0]), intr) - kps2d, axis=-1)[valid]
    wrist_err = wrist_err[np.isfinite(wrist_err)]

    pose = world_from_camera[: n * step : step][:n]
    keypoints = apply_transform(pose[:, None], kp_cam)
    # The parameters are in the camera frame: the root's world rotation is world_R_camera @ R(global orientation).
    mano_hands = mano_feature(load_projectors(options.mano_dir, NAME), full_pose[..., 3:],
                              pose[:, None, :3, :3] @ axis_angle_to_matrix(full_pose[..., :3]), keypoints[:, :, 0], valid,
                              source_flat_hand_mean=True)  # fmt: skip
    task = task_instruction(seq)
    action_path = next((p for b in seq_bases if (p := b / "action" / "color.json").is_file()), None)
    events = read_action_events(action_path, len(world_from_camera), rate, step, n) if action_path else []
    if task:
        instructions, meta = labelled_instructions(n, task, "task_definitions")
    else:
        instructions, meta = placeholder_instructions(n, "manipulate the object")
    return Episode(
        keypoints_world=keypoints.astype(np.float32),
        hand_valid=valid,
        hand_mano=mano_hands.hand_mano,
        world_from_camera=pose.astype(np.float32),
        intrinsics=intr,
        frames=frames,
        fps=FPS,
        instructions=instructions,
        source=NAME,
        embodiment="human",
        metadata={
            "source_id": seq,
            **meta,
            "action_segments": events,
            "frame_step": step,
            "mano_pca_loss_rad": mano_hands.mean_loss_rad,
            "kps2d_wrist_error_px": float(np.median(wrist_err)) if wrist_err.size else None,
        },  # fmt: skip
    )
