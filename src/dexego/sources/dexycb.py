"""DexYCB (single-hand grasps seen by 8 static RealSense cameras, 30 fps).

``<subject>/<seq>/meta.yml`` (serials, mano_sides, num_frames, ycb_ids,
ycb_grasp_ind); ``<subject>/<seq>/<serial>/color_%06d.jpg`` and
``labels_%06d.npz`` with ``joint_3d`` (1, 21, 3): the hand's 21 joints in that
camera's frame (metres, -1 when there is no hand; same joint order as dexego's)
and ``pose_m`` (1, 51) MANO PCA pose + translation. Intrinsics
``calibration/intrinsics/<serial>_640x480.yml`` (color: fx, fy, ppx, ppy).

One episode per (sequence, camera). The cameras are static, so the world frame
is the camera's (world_from_camera = identity). Keypoints come from the
dataset's own ``joint_3d`` (no MANO needed). Language: "pick up the <object>"
from the grasped YCB object's name.

With ``--mano-dir``, ``pose_m`` also gives ``observation.hands.mano``: DexYCB's
toolkit decodes it with manopth ``use_pca=True, ncomps=45, flat_hand_mean=False``
(3 global axis-angle in the camera frame, 45 PCA coefficients, 3 translation), so
the pose relative to ``hands_mean`` is re-projected onto the stored 15 PCA and
the root is the ``joint_3d`` wrist with the global orientation. Without it the
feature is absent.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import yaml

from dexego.data import Episode
from dexego.errors import InputError
from dexego.geometry import Intrinsics, axis_angle_to_matrix
from dexego.sources.base import (
    SequenceRef,
    SourceOptions,
    check_array,
    labelled_instructions,
    placeholder_instructions,
    require_file,
    truncate,
)
from dexego.sources.mano_feature import load_projectors, mano_feature
from dexego.sources.media import read_images

NAME = "dexycb"
FPS = 30
YCB_CLASSES = {
    1: "master_chef_can", 2: "cracker_box", 3: "sugar_box", 4: "tomato_soup_can", 5: "mustard_bottle",
    6: "tuna_fish_can", 7: "pudding_box", 8: "gelatin_box", 9: "potted_meat_can", 10: "banana",
    11: "pitcher_base", 12: "bleach_cleanser", 13: "bowl", 14: "mug", 15: "power_drill", 16: "wood_block",
    17: "scissors", 18: "large_marker", 19: "large_clamp", 20: "extra_large_clamp", 21: "foam_brick",
}  # fmt: skip


def _yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(path, None, f"invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(path, None, "expected a mapping")
    return data


def find_sequences(root: Path) -> list[SequenceRef]:
    refs = []
    for meta in sorted(Path(root).glob("*/*/meta.yml")):
        serials = _yaml(meta).get("serials", [])
        for serial in serials:
            refs.append(SequenceRef(f"{meta.parent.parent.name}/{meta.parent.name}/{serial}", meta.parent / str(serial),
                                    {"root": str(root), "meta": str(meta)}))  # fmt: skip
    return refs


def dataset_fps(root: Path) -> int:
    return FPS


def load(ref: SequenceRef, options: SourceOptions) -> Episode:
    root, meta_path = Path(ref.extra["root"]), Path(ref.extra["meta"])
    meta = _yaml(meta_path)
    serial = ref.path.name
    try:
        side = str(meta["mano_sides"][0])
        n = truncate(int(meta["num_frames"]), options)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise InputError(meta_path, "mano_sides/num_frames", f"missing or malformed: {exc}") from None
    if side not in ("left", "right"):
        raise InputError(meta_path, "mano_sides", f"unknown side {side!r}")
    intr_path = require_file(root / "calibration" / "intrinsics" / f"{serial}_640x480.yml", ref.source_id)
    color = _yaml(intr_path).get("color", {})
    kp = np.full((n, 2, 21, 3), np.nan)
    pose_m = np.zeros((n, 2, 51))
    projectors = load_projectors(options.mano_dir, NAME) if options.mano_dir is not None else None
    h = 0 if side == "left" else 1
    for t in range(n):
        label = require_file(ref.path / f"labels_{t:06d}.npz", ref.source_id)
        try:
            with np.load(label, allow_pickle=False) as npz:
                joints = check_array(label, "joint_3d", npz["joint_3d"], (1, 21, 3))[0]
                if projectors is not None:
                    pose_m[t, h] = check_array(label, "pose_m", npz["pose_m"], (1, 51))[0]
        except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise InputError(label, "joint_3d/pose_m", f"unreadable: {exc}") from None
        if not np.all(joints == -1):
            kp[t, h] = joints
    valid = np.isfinite(kp).all(axis=(-1, -2))
    mano_hands = None
    if projectors is not None:
        pose = np.stack(
            [projectors[s].pose_from_coefficients(pose_m[:, i, 3:48]) for i, s in enumerate(("left", "right"))], axis=1
        )
        # World = this camera's frame, where pose_m's global orientation already is.
        mano_hands = mano_feature(
            projectors, pose, axis_angle_to_matrix(pose_m[..., :3]), kp[:, :, 0], valid, source_flat_hand_mean=False
        )
    frames = read_images([require_file(ref.path / f"color_{t:06d}.jpg", ref.source_id) for t in range(n)])
    try:
        intr = Intrinsics(float(color["fx"]), float(color["fy"]), float(color["ppx"]), float(color["ppy"]), 640, 480)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(intr_path, "color", f"missing fx/fy/ppx/ppy: {exc}") from None
    if frames.shape[1:3] != (480, 640):
        intr = intr.scaled(frames.shape[2], frames.shape[1])
    try:
        name = YCB_CLASSES[int(meta["ycb_ids"][int(meta["ycb_grasp_ind"])])]
        instructions, extra = labelled_instructions(n, f"pick up the {name.replace('_', ' ')}", "ycb_grasp_ind")
    except (KeyError, IndexError, TypeError, ValueError):
        instructions, extra = placeholder_instructions(n, "pick up the object")
    return Episode(
        keypoints_world=kp.astype(np.float32),
        hand_valid=valid,
        hand_mano=None if mano_hands is None else mano_hands.hand_mano,
        world_from_camera=np.tile(np.eye(4, dtype=np.float32), (n, 1, 1)),
        intrinsics=intr,
        frames=frames,
        fps=FPS,
        instructions=instructions,
        source=NAME,
        embodiment="human",
        metadata={
            "source_id": ref.source_id,
            "static_camera": True,
            **extra,
            **({} if mano_hands is None else {"mano_pca_loss_rad": mano_hands.mean_loss_rad}),
        },
    )
