import json
import pickle

import numpy as np
import pytest
from dexego_mano_truth import mano_scene_hands
from dexego_sources_testkit import INTRINSICS, Scene, check_converted, make_scene, write_mp4

from dexego.errors import ConfigError
from dexego.geometry import apply_transform, project
from dexego.sources.base import SourceOptions
from dexego.sources.convert import convert

SEQ = "ZY20210800002/H2/C2/N10/S42/s05/T1"  # C2 = mug, T1 = pick and place


def write_hoi4d(root, mano_dir, seq=SEQ, n=4, seed=3, missing_left=(2,), video_fps=15, params_out=None):
    """HOI4D's release layout: video, annotations, hand poses and intrinsics in their own archives' folders."""
    base = make_scene(n, seed=seed)
    valid = np.ones((n, 2), dtype=bool)
    valid[[t for t in missing_left if t < n], 0] = False
    # HOI4D's MANO parameters are in the camera frame: build the hands there, then place them in the world.
    cam_scene = Scene(base.keypoints_camera(), valid, np.tile(np.eye(4), (n, 1, 1)))
    params, kp_cam = mano_scene_hands(mano_dir, cam_scene, np.random.default_rng(seed), flat_hand_mean=True)
    scene = Scene(apply_transform(base.world_from_camera[:, None], kp_cam), valid, base.world_from_camera)
    for h, side in enumerate(("left", "right")):
        folder = root / "HOI4D_Handpose" / "handpose" / f"refinehandpose_{side}" / seq
        folder.mkdir(parents=True)
        p = params[side]
        for t in range(n):
            if not valid[t, h]:
                continue  # no pickle: no hand in this frame
            hand = {"poseCoeff": np.concatenate([p["global_orient"][t], p["pose"][t]]).astype(np.float32),
                    "beta": p["betas"][t].astype(np.float32), "trans": p["transl"][t].astype(np.float32),
                    "kps2D": project(kp_cam[t, h], INTRINSICS).astype(np.float32)}  # fmt: skip
            for _ in range(video_fps // 15):  # a 30 fps video has an annotation per native frame
                (folder / f"{t * (video_fps // 15) + _}.pickle").write_bytes(pickle.dumps(hand, protocol=2))
    anno = root / "HOI4D_annotations" / seq
    (anno / "3Dseg").mkdir(parents=True)
    poses = np.repeat(scene.world_from_camera, video_fps // 15, axis=0)
    (anno / "3Dseg" / "output.log").write_text(
        "".join(
            f"{i} {i} {i + 1}\n" + "".join(" ".join(f"{v:.10f}" for v in row) + "\n" for row in pose)
            for i, pose in enumerate(poses)
        )
    )
    (anno / "action").mkdir()
    (anno / "action" / "color.json").write_text(json.dumps({
        "info": {"duration": len(poses) / video_fps},
        "events": [{"id": 0, "event": "Reachout", "startTime": 0.0, "endTime": 2 / 15},
                   {"id": 1, "event": "Pickup", "startTime": 2 / 15, "endTime": n / 15}]}))  # fmt: skip
    cam = root / "camera_params" / seq.split("/")[0]
    cam.mkdir(parents=True, exist_ok=True)
    np.save(cam / "intrin.npy", INTRINSICS.matrix)
    write_mp4(
        root / "HOI4D_release" / seq / "align_rgb" / "image.mp4",
        np.repeat(scene.frames(), video_fps // 15, axis=0),
        fps=video_fps,
    )
    if params_out is not None:
        params_out.update(params)
    return scene


def test_hoi4d_converts_camera_frame_mano_and_open3d_trajectory(tmp_path, synthetic_mano_dir):
    scene = write_hoi4d(tmp_path / "in", synthetic_mano_dir)
    summary = convert(
        "hoi4d", tmp_path / "in", tmp_path / "out", SourceOptions(mano_dir=synthetic_mano_dir), progress=lambda m: None
    )
    assert summary.converted == [SEQ], summary.report()
    got = check_converted(tmp_path / "out", scene)
    cols = got["columns"]
    # output.log is camera-to-world: the world frame is HOI4D's scene frame, so the camera motion is kept
    np.testing.assert_allclose(
        cols["observation.camera.world_from_camera"].reshape(-1, 4, 4), scene.world_from_camera, atol=1e-5
    )
    kp = cols["observation.hands.keypoints_world"].reshape(-1, 2, 21, 3)
    np.testing.assert_allclose(kp[scene.valid], scene.keypoints_world[scene.valid], atol=1e-4)
    assert not got["columns"]["observation.hands.valid"][2, 0] and got["columns"]["observation.hands.valid"][2, 1]
    meta = got["meta"]
    assert [list(s) for s in meta["instructions"]] == [[0, 4, "mug: pick and place"]]
    assert meta["metadata"]["action_segments"] == [[0, 2, "Reachout"], [2, 4, "Pickup"]]
    assert meta["metadata"]["kps2d_wrist_error_px"] < 1e-3  # HOI4D's own 2D wrist agrees with the converted hand
    assert meta["fps"] == 15


def test_hoi4d_30fps_video_keeps_every_second_frame(tmp_path, synthetic_mano_dir):
    scene = write_hoi4d(tmp_path / "in", synthetic_mano_dir, n=3, video_fps=30, missing_left=())
    summary = convert(
        "hoi4d", tmp_path / "in", tmp_path / "out", SourceOptions(mano_dir=synthetic_mano_dir), progress=lambda m: None
    )
    assert summary.converted == [SEQ], summary.report()
    got = check_converted(tmp_path / "out", scene)
    assert got["meta"]["metadata"]["frame_step"] == 2
    assert got["meta"]["metadata"]["action_segments"] == [[0, 2, "Reachout"], [2, 3, "Pickup"]]


def test_hoi4d_truncated_or_missing_files_skip_only_their_sequence(tmp_path, synthetic_mano_dir):
    other = SEQ.replace("T1", "T2")
    third = SEQ.replace("N10", "N11")
    write_hoi4d(tmp_path / "in", synthetic_mano_dir, n=2)
    write_hoi4d(tmp_path / "in", synthetic_mano_dir, seq=other, n=2)
    write_hoi4d(tmp_path / "in", synthetic_mano_dir, seq=third, n=2)
    bad = tmp_path / "in" / "HOI4D_Handpose" / "handpose" / "refinehandpose_right" / other / "1.pickle"
    bad.write_bytes(bad.read_bytes()[:40])  # truncated pickle
    (tmp_path / "in" / "HOI4D_annotations" / third / "3Dseg" / "output.log").unlink()
    summary = convert(
        "hoi4d", tmp_path / "in", tmp_path / "out", SourceOptions(mano_dir=synthetic_mano_dir), progress=lambda m: None
    )
    assert summary.converted == [SEQ]
    reasons = dict(summary.skipped)
    assert "1.pickle" in reasons[other] and "truncated" in reasons[other]
    assert "output.log" in reasons[third]


def test_hoi4d_truncated_trajectory_is_reported(tmp_path, synthetic_mano_dir):
    write_hoi4d(tmp_path / "in", synthetic_mano_dir, n=2)
    log = tmp_path / "in" / "HOI4D_annotations" / SEQ / "3Dseg" / "output.log"
    log.write_text("\n".join(log.read_text().splitlines()[:-2]) + "\n")
    summary = convert(
        "hoi4d", tmp_path / "in", tmp_path / "out", SourceOptions(mano_dir=synthetic_mano_dir), progress=lambda m: None
    )
    assert (
        not summary.converted and "output.log" in summary.skipped[0][1] and "not blocks of 5" in summary.skipped[0][1]
    )
    assert not (tmp_path / "out" / "data").exists()


def test_hoi4d_without_mano_names_what_is_missing(tmp_path, synthetic_mano_dir):
    write_hoi4d(tmp_path / "in", synthetic_mano_dir, n=2)
    with pytest.raises(ConfigError, match="--mano-dir"):
        convert("hoi4d", tmp_path / "in", tmp_path / "out", SourceOptions(), progress=lambda m: None)
