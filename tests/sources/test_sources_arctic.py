import json

import numpy as np
from dexego_mano_truth import mano_scene_hands
from dexego_sources_testkit import INTRINSICS, Scene, check_converted, make_scene
from PIL import Image

from dexego.geometry import invert_transform
from dexego.sources.base import SourceOptions
from dexego.sources.convert import convert


def write_arctic(root, mano_dir, n=4, seed=7, offset=2, num_pca=45):
    base = make_scene(n, seed=seed)
    params, kp = mano_scene_hands(mano_dir, base, np.random.default_rng(seed), flat_hand_mean=False, num_pca=num_pca)
    scene = Scene(kp, base.valid, base.world_from_camera)
    raw = root / "raw_seqs" / "s01"
    raw.mkdir(parents=True)
    mano = {side: {"rot": p["global_orient"].astype(np.float32), "pose": p["pose"].astype(np.float32),
                   "trans": p["transl"].astype(np.float32), "shape": p["betas"][0].astype(np.float32),
                   "fitting_err": np.zeros(n)} for side, p in params.items()}  # fmt: skip
    np.save(raw / "box_grab_01.mano.npy", mano, allow_pickle=True)
    cw = invert_transform(scene.world_from_camera)
    np.save(
        raw / "box_grab_01.egocam.dist.npy",
        {
            "R_k_cam_np": cw[:, :3, :3],
            "T_k_cam_np": cw[:, :3, 3:],
            "intrinsics": INTRINSICS.matrix,
            "dist8": np.zeros(8),
        },
        allow_pickle=True,
    )
    (root / "meta").mkdir()
    (root / "meta" / "misc.json").write_text(json.dumps({"s01": {"ioi_offset": offset}}))
    images = root / "images" / "s01" / "box_grab_01" / "0"
    images.mkdir(parents=True)
    for t, frame in enumerate(scene.frames()):
        Image.fromarray(frame).save(images / f"{t + offset:05d}.jpg", quality=100)
    return scene, params


def test_arctic_converts_world_mano_and_egocam(tmp_path, synthetic_mano_dir):
    scene, _ = write_arctic(tmp_path / "in", synthetic_mano_dir)
    summary = convert(
        "arctic", tmp_path / "in", tmp_path / "out", SourceOptions(mano_dir=synthetic_mano_dir), progress=lambda m: None
    )
    assert summary.converted == ["s01/box_grab_01"], summary.report()
    got = check_converted(tmp_path / "out", scene)
    assert "grab the box" in str(got["meta"]["instructions"])


def test_arctic_missing_image_skips_sequence(tmp_path, synthetic_mano_dir):
    write_arctic(tmp_path / "in", synthetic_mano_dir, n=3)
    (tmp_path / "in" / "images" / "s01" / "box_grab_01" / "0" / "00003.jpg").unlink()
    summary = convert(
        "arctic", tmp_path / "in", tmp_path / "out", SourceOptions(mano_dir=synthetic_mano_dir), progress=lambda m: None
    )
    assert not summary.converted and "00003.jpg" in summary.skipped[0][1]
    assert not (tmp_path / "out" / "data").exists()


def test_rational_distortion_warp_moves_a_point_to_its_pinhole_pixel():
    from dexego.sources.undistort import opencv_rational_project, warp_to_pinhole

    k, dist = INTRINSICS.matrix, np.array([-0.2, 0.05, 0.001, -0.002, 0.0, 0.01, 0.0, 0.0])
    project = opencv_rational_project(k, dist)
    ray = np.array([[0.25, -0.15, 1.0]])
    u, v = project(ray)[0]  # where the distorted camera sees the point
    image = np.zeros((INTRINSICS.height, INTRINSICS.width, 3), np.uint8)
    yy, xx = np.mgrid[: INTRINSICS.height, : INTRINSICS.width]
    image[..., 1] = (255 * np.exp(-((xx - u) ** 2 + (yy - v) ** 2) / 2.0)).astype(np.uint8)
    warped = warp_to_pinhole(image, project, INTRINSICS)
    pinhole = k @ ray[0]
    peak = np.unravel_index(np.argmax(warped[..., 1]), warped.shape[:2])
    assert abs(peak[1] - pinhole[0]) <= 1 and abs(peak[0] - pinhole[1]) <= 1
