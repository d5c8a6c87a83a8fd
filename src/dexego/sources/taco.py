"""TACO (bimanual tool use, egocentric RGB at 30 fps).

``Hand_Poses/<triplet>/<seq>/{left,right}_hand.pkl``: frame -> {"hand_pose" (48)
axis-angle (3 global + 45 joints, no PCA), "hand_trans" (3)}, torch tensors;
``{left,right}_hand_shape.pkl``: {"hand_shape" (10)}.
``Egocentric_Camera_Parameters/<triplet>/<seq>/egocentric_intrinsic.txt`` (3x3) and
``egocentric_frame_extrinsic.npy`` (N, 4, 4, world -> camera);
``Egocentric_RGB_Videos/<triplet>/<seq>/color.mp4``.

TACO's loader runs manopth with ``flat_hand_mean=True`` and ``center_idx=0``: the
joints are centred on the posed wrist, then ``hand_trans`` is added, so the wrist
is exactly ``hand_trans`` (world, metres). ``observation.hands.mano``: the absolute
45-D pose minus ``hands_mean`` projected on 15 PCA, root = wrist + global
orientation (:mod:`dexego.sources.mano_feature`). Pickles are read with
:mod:`dexego.sources.safe_pickle` (no code from the file runs).
The triplet names the task: "(stir, spoon, bowl)" -> "stir the bowl with the spoon".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dexego.data import Episode
from dexego.errors import InputError
from dexego.geometry import Intrinsics, axis_angle_to_matrix, invert_transform
from dexego.sources.base import (
    SequenceRef,
    SkipSequence,
    SourceOptions,
    check_array,
    labelled_instructions,
    require_file,
    truncate,
)
from dexego.sources.mano_feature import load_projectors, mano_feature
from dexego.sources.mano_hands import load_mano_pair, mano_keypoints
from dexego.sources.media import read_video
from dexego.sources.safe_pickle import safe_load_pickle

NAME = "taco"
FPS = 30


def find_sequences(root: Path) -> list[SequenceRef]:
    hands = Path(root) / "Hand_Poses"
    return [
        SequenceRef(f"{seq.parent.name}/{seq.name}", seq, {"root": str(root)})
        for seq in sorted(p for p in hands.glob("*/*") if p.is_dir())
    ]


def dataset_fps(root: Path) -> int:
    return FPS


def _sort_key(key):
    return (0, int(key), "") if str(key).isdigit() else (1, 0, str(key))


def read_hand_poses(path: Path) -> tuple[np.ndarray, np.ndarray]:
    data = safe_load_pickle(path.read_bytes(), path)
    if not isinstance(data, dict) or not data:
        raise InputError(path, None, "expected a non-empty dict frame -> {hand_pose, hand_trans}")
    keys = sorted(data, key=_sort_key)
    try:
        pose = np.stack(
            [check_array(path, f"[{k}].hand_pose", np.reshape(data[k]["hand_pose"], -1), (48,)) for k in keys]
        )
        trans = np.stack(
            [check_array(path, f"[{k}].hand_trans", np.reshape(data[k]["hand_trans"], -1), (3,)) for k in keys]
        )
    except (KeyError, TypeError) as exc:
        raise InputError(path, None, f"frame entry without hand_pose/hand_trans: {exc}") from None
    return pose, trans


def read_hand_shape(path: Path) -> np.ndarray:
    if not path.is_file():
        return np.zeros(10)
    data = safe_load_pickle(path.read_bytes(), path)
    if not isinstance(data, dict) or "hand_shape" not in data:
        raise InputError(path, "hand_shape", "missing")
    return check_array(path, "hand_shape", np.reshape(data["hand_shape"], -1), (10,))


def triplet_instruction(triplet: str) -> str | None:
    parts = [p.strip() for p in triplet.strip().strip("()").split(",")]
    if len(parts) != 3 or not all(parts):
        return None
    action, tool, target = (p.replace("_", " ") for p in parts)
    return f"{action} the {target} with the {tool}"


def load(ref: SequenceRef, options: SourceOptions) -> Episode:
    root = Path(ref.extra["root"])
    rel = Path(ref.source_id)
    cam_dir = root / "Egocentric_Camera_Parameters" / rel
    k = check_array(
        cam_dir / "egocentric_intrinsic.txt",
        None,
        np.loadtxt(require_file(cam_dir / "egocentric_intrinsic.txt", ref.source_id)),
        (3, 3),
    )
    ext_path = require_file(cam_dir / "egocentric_frame_extrinsic.npy", ref.source_id)
    try:
        camera_from_world = check_array(ext_path, None, np.load(ext_path, allow_pickle=False), (None, 4, 4))
    except ValueError as exc:
        raise InputError(ext_path, None, f"unreadable array: {exc}") from None
    models = load_mano_pair(options.mano_dir, NAME, flat_hand_mean=True, num_pca=45)
    kp, poses, n = [], [], len(camera_from_world)
    for side in ("left", "right"):
        pose, trans = read_hand_poses(require_file(ref.path / f"{side}_hand.pkl", ref.source_id))
        betas = read_hand_shape(ref.path / f"{side}_hand_shape.pkl")
        n = min(n, len(pose))
        poses.append(pose)
        kp.append(mano_keypoints(models[side], pose=pose[:, 3:], global_orient=pose[:, :3],
                                 betas=np.broadcast_to(betas, (len(pose), 10)), transl=trans, center_on_wrist=True))  # fmt: skip
    n = truncate(n, options)
    frames = read_video(require_file(root / "Egocentric_RGB_Videos" / rel / "color.mp4", ref.source_id), n)
    if len(frames) < n:
        raise SkipSequence(ref.source_id, f"video has {len(frames)} frames, annotations {n} (truncated video?)")
    keypoints = np.stack([kp[0][:n], kp[1][:n]], axis=1)
    valid = np.isfinite(keypoints).all(axis=(-1, -2))
    full_pose = np.stack([p[:n] for p in poses], axis=1)  # (n, 2, 48): global orientation (world) + 45 absolute
    mano_hands = mano_feature(load_projectors(options.mano_dir, NAME), full_pose[..., 3:], axis_angle_to_matrix(full_pose[..., :3]),
                              keypoints[:, :, 0], valid, source_flat_hand_mean=True)  # fmt: skip
    text = triplet_instruction(rel.parent.name)
    instructions, meta = labelled_instructions(n, text or rel.parent.name, "triplet")
    return Episode(
        keypoints_world=keypoints.astype(np.float32),
        hand_valid=valid,
        hand_mano=mano_hands.hand_mano,
        world_from_camera=invert_transform(camera_from_world[:n]).astype(np.float32),
        intrinsics=Intrinsics.from_matrix(k, frames.shape[2], frames.shape[1]),
        frames=frames[:n],
        fps=FPS,
        instructions=instructions,
        source=NAME,
        embodiment="human",
        metadata={"source_id": ref.source_id, "mano_pca_loss_rad": mano_hands.mean_loss_rad, **meta},
    )
