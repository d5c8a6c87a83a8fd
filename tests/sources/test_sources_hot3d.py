import io
import json
import tarfile

import numpy as np
from dexego_mano_truth import mano_scene_hands
from dexego_sources_testkit import INTRINSICS, Scene, check_converted, make_scene
from PIL import Image

from dexego.geometry import matrix_to_quat
from dexego.sources.base import SourceOptions
from dexego.sources.convert import convert


def _add(tar, name, data: bytes):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_hot3d(path, mano_dir, n=4, seed=11, missing_right=2):
    base = make_scene(n, seed=seed)
    params, kp = mano_scene_hands(
        mano_dir, base, np.random.default_rng(seed), flat_hand_mean=False, num_pca=15, shared_betas=True
    )
    valid = np.ones((n, 2), dtype=bool)
    valid[missing_right, 1] = False
    scene = Scene(kp, valid, base.world_from_camera)
    path.parent.mkdir(parents=True, exist_ok=True)
    # zero distortion: FISHEYE624 is then the equidistant fisheye; draw markers where the fisheye sees the wrists
    from dexego.sources.undistort import fisheye624_project

    proj_params = [INTRINSICS.fx, INTRINSICS.fy, INTRINSICS.cx, INTRINSICS.cy] + [0.0] * 12
    fisheye = fisheye624_project(np.array(proj_params))
    cam_kp = scene.keypoints_camera()
    with tarfile.open(path, "w") as tar:
        _add(
            tar,
            "__hand_shapes.json__",
            json.dumps({"mano": params["left"]["betas"][0].tolist(), "umetrack": {}}).encode(),
        )
        for t in range(n):
            key = f"{t:06d}"
            frame = np.zeros((INTRINSICS.height, INTRINSICS.width, 3), np.uint8)
            for h, colour in enumerate(((255, 0, 0), (0, 255, 0))):
                if valid[t, h]:
                    u, v = fisheye(cam_kp[t, h, :1])[0]
                    frame[
                        int(round(v - 1.5)) : int(round(v - 1.5)) + 4, int(round(u - 1.5)) : int(round(u - 1.5)) + 4
                    ] = colour
            buf = io.BytesIO()
            Image.fromarray(frame).save(buf, format="JPEG", quality=100)
            _add(tar, f"{key}.image_214-1.jpg", buf.getvalue())
            pose = scene.world_from_camera[t]
            cameras = {
                "214-1": {
                    "calibration": {
                        "label": "camera-rgb",
                        "image_width": INTRINSICS.width,
                        "image_height": INTRINSICS.height,
                        "projection_model_type": "CameraModelType.FISHEYE624",
                        "projection_params": proj_params,
                        "T_device_from_camera": {"quaternion_wxyz": [1, 0, 0, 0], "translation_xyz": [0, 0, 0]},
                    },
                    "T_world_from_camera": {
                        "quaternion_wxyz": matrix_to_quat(pose[:3, :3]).tolist(),
                        "translation_xyz": pose[:3, 3].tolist(),
                    },
                }
            }
            _add(tar, f"{key}.cameras.json", json.dumps(cameras).encode())
            hands = {}
            for h, side in enumerate(("left", "right")):
                if valid[t, h]:
                    p = params[side]
                    hands[side] = {
                        "mano_pose": {
                            "thetas": p["pca"][t].tolist(),
                            "wrist_xform": p["global_orient"][t].tolist() + p["transl"][t].tolist(),
                        },
                        "umetrack_pose": {},
                    }
            _add(tar, f"{key}.hands.json", json.dumps(hands).encode())
            _add(tar, f"{key}.info.json", json.dumps({"timestamp_ns": t * 33_333_333}).encode())
    return scene


def test_hot3d_clip_converts_mano_pca_and_fisheye(tmp_path, synthetic_mano_dir):
    scene = write_hot3d(tmp_path / "in" / "train_aria" / "clip-001849.tar", synthetic_mano_dir)
    summary = convert(
        "hot3d", tmp_path / "in", tmp_path / "out", SourceOptions(mano_dir=synthetic_mano_dir), progress=lambda m: None
    )
    assert summary.converted == ["clip-001849"], summary.report()
    got = check_converted(tmp_path / "out", scene, pixel_tol=1.5)
    assert not got["columns"]["observation.hands.valid"][2, 1]
