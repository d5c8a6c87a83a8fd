"""HOT3D clips (``clip-XXXXXX.tar``, 30 fps): the self-contained release of HOT3D.

Each tar holds per frame ``<frame:06d>.image_<stream>.jpg``, ``<frame>.cameras.json``
(per stream: ``calibration`` {image_width, image_height, projection_model_type,
projection_params = fx, fy, cx, cy + 12 FISHEYE624 coefficients} and
``T_world_from_camera`` {quaternion_wxyz, translation_xyz}, OpenCV camera axes,
metres), ``<frame>.hands.json`` ({"left"|"right": {"mano_pose": {"thetas" (15 PCA),
"wrist_xform" (global axis-angle 3 + translation 3)}, "umetrack_pose": ...}}) and
``__hand_shapes.json__`` ({"mano": betas (10)}). The Aria RGB stream "214-1" is
used when present (Quest 3 clips only have monochrome streams: the first one).

Hands go through MANO with ``flat_hand_mean=False`` and 15 PCA components, as
HOT3D's toolkit does (smplx), including its sign fix of MANO_LEFT's first shape
direction. Fisheye images are resampled onto a pinhole camera with the same
fx, fy, cx, cy (as the toolkit's ``convert_to_pinhole_camera``).
The full-sequence release (a folder per Aria recording: trajectories, UmeTrack and
MANO hands, MPS calibration, optional VRS video) is read by
:mod:`dexego.sources.hot3d_sequence`; both layouts may sit under one root.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np

from dexego.actions.convert import mano_to_action
from dexego.data import Episode
from dexego.errors import InputError
from dexego.geometry import Intrinsics, axis_angle_to_matrix, make_transform, quat_to_matrix
from dexego.sources.base import (
    SequenceRef,
    SkipSequence,
    SourceOptions,
    check_array,
    placeholder_instructions,
    rigid_from_rt,
    truncate,
)
from dexego.sources.mano_hands import load_mano_pair, mano_keypoints
from dexego.sources.media import read_image
from dexego.sources.undistort import fisheye624_project, warp_to_pinhole

NAME = "hot3d"
FPS = 30
RGB_STREAM = "214-1"


def find_sequences(root: Path) -> list[SequenceRef]:
    from dexego.sources.hot3d_sequence import find_sequence_dirs

    return [SequenceRef(p.stem, p) for p in sorted(Path(root).rglob("clip-*.tar"))] + find_sequence_dirs(root)


def dataset_fps(root: Path) -> int:
    return FPS


def _se3(d: dict, where: str, field: str) -> np.ndarray:
    try:
        q = check_array(where, f"{field}.quaternion_wxyz", d["quaternion_wxyz"], (4,))
        t = check_array(where, f"{field}.translation_xyz", d["translation_xyz"], (3,))
    except (KeyError, TypeError) as exc:
        raise InputError(where, field, f"malformed pose: {exc}") from None
    return rigid_from_rt(quat_to_matrix(q / np.linalg.norm(q)), t)


def load(ref: SequenceRef, options: SourceOptions) -> Episode:
    if ref.extra.get("layout") == "sequence":
        from dexego.sources.hot3d_sequence import load_sequence

        return load_sequence(ref, options)
    models = load_mano_pair(options.mano_dir, NAME, flat_hand_mean=False, num_pca=15, fix_left_shapedirs=True)
    try:
        tar = tarfile.open(ref.path, "r")
        members = {m.name: m for m in tar.getmembers()}
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise SkipSequence(ref.source_id, f"unreadable tar {ref.path}: {exc}") from None
    with tar:

        def read(name: str) -> bytes:
            if name not in members:
                raise SkipSequence(ref.source_id, f"{ref.path}: missing member {name}")
            try:
                return tar.extractfile(members[name]).read()
            except (tarfile.TarError, OSError, EOFError) as exc:
                raise SkipSequence(ref.source_id, f"{ref.path}: truncated member {name}: {exc}") from None

        def read_json(name: str):
            try:
                return json.loads(read(name))
            except json.JSONDecodeError as exc:
                raise InputError(f"{ref.path}:{name}", None, f"invalid JSON: {exc}") from None

        frame_ids = sorted({int(n.split(".")[0]) for n in members if n.endswith(".cameras.json")})
        if not frame_ids:
            raise SkipSequence(ref.source_id, "no frames (no *.cameras.json)")
        n = truncate(len(frame_ids), options)
        betas = np.asarray(read_json("__hand_shapes.json__").get("mano"), dtype=np.float64).reshape(-1)
        if betas.shape != (10,):
            raise InputError(f"{ref.path}:__hand_shapes.json__", "mano", f"expected 10 betas, got {betas.shape}")
        poses, frames, kp, intr = [], [], np.full((n, 2, 21, 3), np.nan), None
        # observation.hands.mano: HOT3D's MANO convention (flat_hand_mean=False, 15 PCA) is the stored one.
        orient, pca = np.zeros((n, 2, 3)), np.zeros((n, 2, 15))
        for t, fid in enumerate(frame_ids[:n]):
            key = f"{fid:06d}"
            cameras = read_json(f"{key}.cameras.json")
            stream = RGB_STREAM if RGB_STREAM in cameras else sorted(cameras)[0]
            cam = cameras[stream]
            where = f"{ref.path}:{key}.cameras.json"
            calib = cam.get("calibration", {})
            params = np.asarray(calib.get("projection_params", []), dtype=np.float64)
            poses.append(_se3(cam.get("T_world_from_camera", {}), where, "T_world_from_camera"))
            width, height = int(calib.get("image_width", 0)), int(calib.get("image_height", 0))
            if params.size != 16 or width <= 0 or height <= 0:
                raise InputError(where, "calibration", "expected image size and 16 FISHEYE624 projection_params")
            intr = Intrinsics(params[0], params[1], params[2], params[3], width, height)
            image = read_image(read(f"{key}.image_{stream}.jpg"), f"{ref.path}:{key}.image_{stream}.jpg")
            frames.append(warp_to_pinhole(image, fisheye624_project(params), intr))
            hands = read_json(f"{key}.hands.json") if f"{key}.hands.json" in members else {}
            for h, side in enumerate(("left", "right")):
                mano = (hands.get(side) or {}).get("mano_pose")
                if not mano:
                    continue
                thetas = check_array(f"{ref.path}:{key}.hands.json", f"{side}.mano_pose.thetas", mano["thetas"], (15,))
                xform = check_array(
                    f"{ref.path}:{key}.hands.json", f"{side}.mano_pose.wrist_xform", mano["wrist_xform"], (6,)
                )
                orient[t, h], pca[t, h] = xform[:3], thetas
                kp[t, h] = mano_keypoints(models[side], pca=thetas[None], global_orient=xform[None, :3],
                                          betas=betas[None], transl=xform[None, 3:])[0]  # fmt: skip
    instructions, meta = placeholder_instructions(n, "manipulate the objects")
    valid = np.isfinite(kp).all(axis=(-1, -2))
    # MANO's root joint is keypoint 0; its world rotation is the global orientation (the parameters are in the world frame).
    root = make_transform(axis_angle_to_matrix(orient), np.nan_to_num(kp[:, :, 0]))
    hand_mano = mano_to_action(root, pca, valid).reshape(n, 2, -1)
    hand_mano[~valid] = np.nan
    return Episode(
        keypoints_world=kp.astype(np.float32),
        hand_valid=valid,
        hand_mano=hand_mano.astype(np.float32),
        world_from_camera=np.stack(poses).astype(np.float32),
        intrinsics=intr,
        frames=np.stack(frames),
        fps=FPS,
        instructions=instructions,
        source=NAME,
        embodiment="human",
        metadata={"source_id": ref.source_id, "stream": stream, **meta},
    )
