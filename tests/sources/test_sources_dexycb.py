import numpy as np
import yaml
from dexego_sources_testkit import INTRINSICS, Scene, check_converted, make_scene
from PIL import Image

from dexego.geometry import apply_transform, invert_transform
from dexego.sources.convert import convert


def write_dexycb(root, n=4, seed=9, side="left", serials=("836212060125",), pose_m=None):
    base = make_scene(n, seed=seed)
    h = 0 if side == "left" else 1
    valid = np.zeros((n, 2), dtype=bool)
    valid[:, h] = True
    valid[1, h] = False  # no hand label in frame 1
    # the world of the converted dataset is the camera's own frame
    kp_cam = apply_transform(invert_transform(base.world_from_camera)[:, None], base.keypoints_world)
    scene = Scene(kp_cam, valid, np.tile(np.eye(4), (n, 1, 1)))
    seq = root / "20200709-subject-01" / "20200709_141754"
    seq.mkdir(parents=True)
    (seq / "meta.yml").write_text(
        yaml.safe_dump(
            {
                "serials": list(serials),
                "mano_sides": [side],
                "num_frames": n,
                "ycb_ids": [2, 5, 10],
                "ycb_grasp_ind": 1,
                "mano_calib": ["mano_x"],
            }
        )
    )
    intr = root / "calibration" / "intrinsics"
    intr.mkdir(parents=True)
    for serial in serials:
        (intr / f"{serial}_640x480.yml").write_text(yaml.safe_dump({"color": {"fx": INTRINSICS.fx * 10, "fy": INTRINSICS.fy * 10,
            "ppx": (INTRINSICS.cx + 0.5) * 10 - 0.5 * 10, "ppy": (INTRINSICS.cy + 0.5) * 10 - 0.5 * 10}}))  # fmt: skip
        cam = seq / serial
        cam.mkdir()
        for t, frame in enumerate(scene.frames()):
            joints = np.where(valid[t, h], kp_cam[t, h], -1.0)[None].astype(np.float32)
            np.savez(
                cam / f"labels_{t:06d}.npz",
                joint_3d=joints,
                pose_m=(np.zeros((1, 51)) if pose_m is None else pose_m[t][None]).astype(np.float32),
            )
            Image.fromarray(frame).save(cam / f"color_{t:06d}.jpg", quality=100)
    return scene


def test_dexycb_converts_camera_frame_joints(tmp_path):
    scene = write_dexycb(tmp_path / "in")
    # images stored at 64x48 while the intrinsics file is for 640x480: the converter scales them
    summary = convert("dexycb", tmp_path / "in", tmp_path / "out", progress=lambda m: None)
    assert summary.converted == ["20200709-subject-01/20200709_141754/836212060125"], summary.report()
    got = check_converted(tmp_path / "out", scene)
    assert "pick up the mustard bottle" in str(got["meta"]["instructions"])
    assert not got["columns"]["observation.hands.valid"][:, 1].any()  # the right hand never appears


def test_dexycb_truncated_label_file_skips_only_its_sequence(tmp_path):
    write_dexycb(tmp_path / "in", serials=("836212060125", "839512060362"))
    label = tmp_path / "in/20200709-subject-01/20200709_141754/839512060362/labels_000002.npz"
    label.write_bytes(label.read_bytes()[:60])
    summary = convert("dexycb", tmp_path / "in", tmp_path / "out", progress=lambda m: None)
    assert summary.converted == ["20200709-subject-01/20200709_141754/836212060125"], summary.report()
    assert "labels_000002.npz" in summary.report()
