"""ARCTIC (bimanual articulated objects; egocentric view 0 at 30 fps).

``raw_seqs/<subject>/<seq>.mano.npy``: a pickled dict {"left"|"right": {"rot" (F, 3),
"pose" (F, 45), "trans" (F, 3), "shape" (10) or (F, 10)}} in the world frame
(metres), MANO with ``flat_hand_mean=False`` (smplx: joints + trans).
``raw_seqs/<subject>/<seq>.egocam.dist.npy``: {"R_k_cam_np" (F, 3, 3),
"T_k_cam_np" (F, 3, 1) world -> camera, "intrinsics" (3, 3), "dist8" (8) OpenCV
rational distortion}. Images ``images/<subject>/<seq>/0/%05d.jpg`` whose number is
frame + ``meta/misc.json[subject]["ioi_offset"]`` (or ``cropped_images/`` at 0.3x).
Both .npy files are read with the restricted unpickler; images are undistorted to
the pinhole ``intrinsics``. ``observation.hands.mano``: ``pose`` (relative to
``hands_mean``) projected on 15 PCA, root = wrist keypoint + ``rot``
(:mod:`dexego.sources.mano_feature`). Language: the sequence name ("box_grab_01" -> "grab the box").
"""

from __future__ import annotations

import json
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
    rigid_from_rt,
    truncate,
)
from dexego.sources.mano_feature import load_projectors, mano_feature
from dexego.sources.mano_hands import load_mano_pair, mano_keypoints
from dexego.sources.media import read_image
from dexego.sources.safe_pickle import safe_load_npy_object
from dexego.sources.undistort import opencv_rational_project, warp_to_pinhole

NAME = "arctic"
FPS = 30
CROPPED_EGO_SCALE = 0.3  # ARCTIC's cropped_images/ keep the egocentric view resized by this factor


def find_sequences(root: Path) -> list[SequenceRef]:
    refs = []
    for path in sorted((Path(root) / "raw_seqs").glob("*/*.mano.npy")):
        seq = path.name[: -len(".mano.npy")]
        refs.append(SequenceRef(f"{path.parent.name}/{seq}", path, {"root": str(root)}))
    return refs


def dataset_fps(root: Path) -> int:
    return FPS


def sequence_instruction(seq: str) -> str:
    parts = seq.split("_")
    if len(parts) >= 2:
        return f"{parts[1]} the {parts[0]}"
    return seq


def load(ref: SequenceRef, options: SourceOptions) -> Episode:
    root = Path(ref.extra["root"])
    subject, seq = ref.source_id.split("/")
    mano = safe_load_npy_object(ref.path)
    cam_path = require_file(ref.path.with_name(f"{seq}.egocam.dist.npy"), ref.source_id)
    cam = safe_load_npy_object(cam_path)
    if not isinstance(mano, dict) or not isinstance(cam, dict):
        raise InputError(ref.path, None, "expected pickled dicts in .mano.npy and .egocam.dist.npy")
    try:
        rot_wc = check_array(cam_path, "R_k_cam_np", cam["R_k_cam_np"], (None, 3, 3))
        t_wc = check_array(cam_path, "T_k_cam_np", np.reshape(cam["T_k_cam_np"], (-1, 3)), (None, 3))
        k = check_array(cam_path, "intrinsics", cam["intrinsics"], (3, 3))
        dist8 = check_array(cam_path, "dist8", np.reshape(cam.get("dist8", np.zeros(8)), -1), (8,))
    except KeyError as exc:
        raise InputError(cam_path, str(exc), "missing key") from None
    models = load_mano_pair(options.mano_dir, NAME, flat_hand_mean=False, num_pca=45)
    n, kps, orients, poses = len(rot_wc), [], [], []
    for side in ("left", "right"):
        hand = mano.get(side)
        if not isinstance(hand, dict):
            raise InputError(ref.path, side, "missing hand")
        try:
            rot = check_array(ref.path, f"{side}.rot", hand["rot"], (None, 3))
            pose = check_array(ref.path, f"{side}.pose", hand["pose"], (len(rot), 45))
            trans = check_array(ref.path, f"{side}.trans", hand["trans"], (len(rot), 3))
            shape = np.asarray(hand["shape"], dtype=np.float64)
        except KeyError as exc:
            raise InputError(ref.path, f"{side}.{exc.args[0]}", "missing key") from None
        betas = np.broadcast_to(shape.reshape(-1, 10), (len(rot), 10))
        kps.append(mano_keypoints(models[side], pose=pose, global_orient=rot, betas=betas, transl=trans))
        orients.append(rot)
        poses.append(pose)
        n = min(n, len(rot))
    n = truncate(n, options)
    misc_path = require_file(root / "meta" / "misc.json", ref.source_id)
    offset = int(json.loads(misc_path.read_text()).get(subject, {}).get("ioi_offset", 0))
    folder, scale = root / "images" / subject / seq / "0", 1.0
    if not folder.is_dir():
        folder, scale = root / "cropped_images" / subject / seq / "0", CROPPED_EGO_SCALE
    paths = [folder / f"{i + offset:05d}.jpg" for i in range(n)]
    missing = next((p for p in paths if not p.is_file()), None)
    if missing is not None:
        raise SkipSequence(ref.source_id, f"missing file {missing}")
    k_img = k.copy()
    k_img[:2] *= scale
    first = read_image(paths[0], paths[0])
    intr = Intrinsics.from_matrix(k_img, first.shape[1], first.shape[0])
    project = opencv_rational_project(k_img, dist8)
    distorted = bool(np.any(dist8 != 0))
    frames = np.stack(
        [warp_to_pinhole(read_image(p, p), project, intr) if distorted else read_image(p, p) for p in paths]
    )
    keypoints = np.stack([kps[0][:n], kps[1][:n]], axis=1)
    valid = np.isfinite(keypoints).all(axis=(-1, -2))
    # The parameters are in ARCTIC's world frame: the root joint's world rotation is the global orientation.
    mano_hands = mano_feature(load_projectors(options.mano_dir, NAME), np.stack([p[:n] for p in poses], axis=1),
                              axis_angle_to_matrix(np.stack([r[:n] for r in orients], axis=1)), keypoints[:, :, 0], valid,
                              source_flat_hand_mean=False)  # fmt: skip
    instructions, meta = labelled_instructions(n, sequence_instruction(seq), "sequence name")
    return Episode(
        keypoints_world=keypoints.astype(np.float32),
        hand_valid=valid,
        hand_mano=mano_hands.hand_mano,
        world_from_camera=invert_transform(rigid_from_rt(rot_wc[:n], t_wc[:n])).astype(np.float32),
        intrinsics=intr,
        frames=frames,
        fps=FPS,
        instructions=instructions,
        source=NAME,
        embodiment="human",
        metadata={
            "source_id": ref.source_id,
            "undistorted": distorted,
            "mano_pca_loss_rad": mano_hands.mean_loss_rad,
            **meta,
        },
    )
