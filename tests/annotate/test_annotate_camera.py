import json

import numpy as np
import pytest

from dexego.annotate.camera import CameraConfig, estimate_camera, intrinsics_for, relative_pose, rotation_ransac
from dexego.annotate.sidecar import read_camera_metadata, read_poses
from dexego.errors import ConfigError, InputError
from dexego.geometry import Intrinsics, euler_to_matrix, rotation_angle
from dexego.sources.media import read_video

K = Intrinsics(250.0, 250.0, 160.0, 120.0, 320, 240)


def _scene(seed=0, n=200):
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(-1, 1, n), rng.uniform(-0.7, 0.7, n), rng.uniform(1.5, 4.0, n)], -1)


def _project(points):
    return np.stack([K.fx * points[:, 0] / points[:, 2] + K.cx, K.fy * points[:, 1] / points[:, 2] + K.cy], -1)


def test_intrinsics_from_metadata_are_scaled_and_the_prior_has_its_fov():
    k, origin = intrinsics_for({"intrinsics": {"fx": 400, "fy": 410, "cx": 320, "cy": 240}}, 320, 240, 70.0, (640, 480))
    assert origin == "metadata" and (k.fx, k.fy, k.cx, k.cy) == pytest.approx((200, 205, 160, 120))
    k, origin = intrinsics_for({}, 320, 240, 90.0)
    assert origin == "fov_prior" and k.fov[0] == pytest.approx(np.pi / 2)
    k, origin = intrinsics_for({"fov_deg": 60}, 320, 240, 90.0)
    assert origin == "fov_deg" and k.fov[0] == pytest.approx(np.pi / 3)


def test_bad_camera_metadata_names_file_and_field(tmp_path):
    video = tmp_path / "clip.mp4"
    (tmp_path / "clip.json").write_text(json.dumps({"intrinsics": {"fx": -1, "fy": 1, "cx": 0, "cy": 0}}))
    with pytest.raises(InputError, match=r"clip.json: intrinsics"):
        read_camera_metadata(video)
    (tmp_path / "clip.json").write_text("{broken")
    with pytest.raises(InputError, match="not valid JSON"):
        read_camera_metadata(video)


def test_pure_rotation_is_recovered_from_bearings():
    points = _scene()
    rotation = euler_to_matrix(np.array([0.02, -0.03, 0.01]), "xyz")
    p0, p1 = _project(points), _project(points @ rotation.T)
    p1[:20] += 15.0  # outliers (independently moving things)
    estimate, inliers, residual = rotation_ransac(p0, p1, K.matrix, 0.5)
    assert np.rad2deg(rotation_angle(estimate, rotation)) < 0.05
    assert not inliers[:20].any() and inliers[20:].mean() > 0.95
    r, t, ratio, depths = relative_pose(p0[20:], p1[20:], K.matrix, CameraConfig())
    assert np.allclose(t, 0) and depths is None


def test_translation_direction_and_scene_depth_from_the_essential_matrix():
    points = _scene(1)
    rotation = euler_to_matrix(np.array([0.01, 0.02, 0.0]), "xyz")
    translation = np.array([0.08, 0.0, 0.03])  # camera1_from_camera0
    p0, p1 = _project(points), _project(points @ rotation.T + translation)
    r, t, ratio, depths = relative_pose(p0, p1, K.matrix, CameraConfig())
    assert np.rad2deg(rotation_angle(r, rotation)) < 0.1
    np.testing.assert_allclose(t, translation / np.linalg.norm(translation), atol=0.02)
    # Depths for a unit baseline: the true median depth divided by the true baseline.
    assert np.median(depths) == pytest.approx(np.median(points[:, 2]) / np.linalg.norm(translation), rel=0.05)


def test_static_and_moving_cameras_are_told_apart(task_video):
    static_path, _ = task_video("static")
    rotate_path, truth = task_video("rotate")
    static = estimate_camera(read_video(static_path)[:60], None, K, CameraConfig())
    assert static.mode == "static" and static.background_flow < CameraConfig().static_flow
    np.testing.assert_array_equal(static.world_from_camera, np.tile(np.eye(4), (60, 1, 1)))
    frames = read_video(rotate_path)
    k = Intrinsics.from_fov(np.deg2rad(75.0), 320, 240)
    moving = estimate_camera(frames, None, k, CameraConfig())
    assert moving.mode == "vo" and moving.translation == "none"
    true_rel = np.linalg.inv(truth["world_from_camera"][0]) @ truth["world_from_camera"]
    errors = np.rad2deg(rotation_angle(moving.world_from_camera[:, :3, :3], true_rel[:, :3, :3].astype(float)))
    true_angles = np.rad2deg(rotation_angle(np.eye(3), true_rel[:, :3, :3].astype(float)))
    assert true_angles.max() > 4.0  # the camera really turns
    assert errors.max() < 1.0, errors.max()
    assert (moving.world_from_camera[:, :3, 3] == 0).all()  # monocular: no translation unless a depth prior is given


def test_poses_mode_uses_given_poses_and_requires_them():
    poses = np.tile(np.eye(4), (4, 1, 1))
    poses[:, 0, 3] = np.arange(4)
    track = estimate_camera(np.zeros((4, 8, 8, 3), np.uint8), None, K, CameraConfig(mode="poses"), poses)
    assert track.mode == "poses" and track.world_from_camera[3, 0, 3] == 3
    with pytest.raises(ConfigError, match="poses"):
        estimate_camera(np.zeros((4, 8, 8, 3), np.uint8), None, K, CameraConfig(mode="poses"))
    with pytest.raises(ConfigError, match="camera.mode"):
        CameraConfig(mode="slam")


def test_read_poses_formats_and_errors(tmp_path):
    poses = np.tile(np.eye(4), (3, 1, 1))
    np.save(tmp_path / "a.npy", poses)
    np.savetxt(tmp_path / "a.txt", poses.reshape(3, 16))
    np.testing.assert_allclose(read_poses(tmp_path / "a.npy", 3), poses)
    np.testing.assert_allclose(read_poses(tmp_path / "a.txt", 3), poses)
    with pytest.raises(InputError, match=r"a.npy: world_from_camera: expected \(4, 4, 4\)"):
        read_poses(tmp_path / "a.npy", 4)
    bad = poses.copy()
    bad[1, 0, 0] = 2.0
    np.save(tmp_path / "b.npy", bad)
    with pytest.raises(InputError, match="orthonormal"):
        read_poses(tmp_path / "b.npy", 3)
    bad[1, 0, 0] = np.nan
    np.save(tmp_path / "c.npy", bad)
    with pytest.raises(InputError, match="NaN"):
        read_poses(tmp_path / "c.npy", 3)


def test_truncated_npz_sidecars_are_input_errors(tmp_path):
    from dexego.annotate.sidecar import read_ground_truth

    np.savez(tmp_path / "full.npz", world_from_camera=np.tile(np.eye(4), (3, 1, 1)))
    data = (tmp_path / "full.npz").read_bytes()
    (tmp_path / "p.npz").write_bytes(data[: len(data) // 2])  # a truncated zip archive
    with pytest.raises(InputError, match=r"p\.npz: unreadable poses"):
        read_poses(tmp_path / "p.npz", 3)
    (tmp_path / "clip.hands.npz").write_bytes(data[:100])
    with pytest.raises(InputError, match=r"clip\.hands\.npz: unreadable npz"):
        read_ground_truth(tmp_path / "clip.mp4")
