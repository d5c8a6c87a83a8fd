"""HOT3D full sequences, on the real trimmed Aria recording in shared/real/hot3d_aria_sample."""

import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from dexego_sources_testkit import read_episode

from dexego.data.validate import validate_dataset
from dexego.errors import InputError
from dexego.geometry import axis_angle_to_matrix
from dexego.hands.umetrack import load_umetrack_profile, umetrack_keypoints, umetrack_landmarks
from dexego.sources.base import SourceOptions
from dexego.sources.convert import convert
from dexego.sources.hot3d_sequence import read_online_rgb_calibration
from dexego.sources.undistort import fisheye624_project

# the real sample sits in shared/ beside the repository (as on every developer machine and in CI)
SAMPLE = (Path(__file__).resolve().parents[2] / ".." / "shared" / "real" / "hot3d_aria_sample").resolve()
RGB_FRAMES = 34  # the sample's 68 annotation time codes alternate RGB (214-1) and SLAM camera frames


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """The sample converted without MANO (UmeTrack hands), under a root holding only it."""
    root = tmp_path_factory.mktemp("hot3d")
    out = root / "out"
    summary = convert("hot3d", SAMPLE, out, SourceOptions(), progress=lambda m: None)
    assert summary.converted == ["hot3d_aria_sample"], summary.report()
    return out


def _boxes():
    boxes = {}
    with open(SAMPLE / "box2d_hands.csv", newline="") as f:
        for r in csv.DictReader(f):
            if r["stream_id"] == "214-1":
                boxes[(int(r["timestamp[ns]"]), int(r["hand_index"]))] = [
                    float(r[k]) for k in ("x_min[pixel]", "x_max[pixel]", "y_min[pixel]", "y_max[pixel]")
                ]
    return boxes


def _wrists(root):
    got = read_episode(root)
    cols = got["columns"]
    n = len(cols["frame_index"])
    return (
        cols["observation.hands.keypoints_world"].reshape(n, 2, 21, 3).astype(np.float64),
        cols["observation.hands.valid"],
        got,
    )


def test_real_sample_converts_without_video_and_validates(converted):
    assert validate_dataset(converted) == []
    kp, valid, got = _wrists(converted)
    assert got["frames"] is None and len(kp) == RGB_FRAMES
    meta = got["meta"]["metadata"]
    assert meta["video"] == "none" and meta["hand_model"] == "umetrack"
    assert meta["camera_model"]["name"] == "FISHEYE624" and meta["camera_model"]["width"] == 1408
    assert meta["online_calibration"].startswith("nearest in device time")
    assert valid.all() and np.isfinite(kp).all()
    info = json.loads((converted / "meta" / "info.json").read_text())
    assert not [k for k, v in info["features"].items() if v.get("dtype") == "video"]
    # hands of a human size: wrist to middle fingertip 14-22 cm
    length = np.linalg.norm(kp[:, :, 12] - kp[:, :, 0], axis=-1)
    assert (length > 0.12).all() and (length < 0.22).all(), length


def test_real_sample_projected_hands_fall_inside_the_recorded_hand_boxes(converted):
    """Headset pose x online calibration x UmeTrack FK, against HOT3D's own 2D hand boxes (RGB stream)."""
    kp, valid, got = _wrists(converted)
    cols, meta = got["columns"], got["meta"]["metadata"]
    project = fisheye624_project(np.asarray(meta["camera_model"]["median"]))
    boxes = _boxes()
    pose = cols["observation.camera.world_from_camera"].reshape(-1, 4, 4).astype(np.float64)
    wrists_in = keypoints_in = checked = 0
    for i, t in enumerate(meta["timestamps_ns"]):
        camera_from_world = np.linalg.inv(pose[i])
        for h in range(2):
            if not valid[i, h] or (t, h) not in boxes:
                continue
            x0, x1, y0, y1 = boxes[(t, h)]
            uv = project(kp[i, h] @ camera_from_world[:3, :3].T + camera_from_world[:3, 3])
            inside = (uv[:, 0] >= x0 - 5) & (uv[:, 0] <= x1 + 5) & (uv[:, 1] >= y0 - 5) & (uv[:, 1] <= y1 + 5)
            checked += 1
            wrists_in += bool(inside[0])
            keypoints_in += int(inside.sum())
    assert checked == 2 * RGB_FRAMES
    assert wrists_in == checked  # every wrist
    assert keypoints_in == 21 * checked  # and every finger keypoint (a right hand not mirrored misses half)


def test_real_sample_mano_and_umetrack_wrists_agree(converted, tmp_path, synthetic_mano_dir):
    """The MANO path (with --mano-dir) and the UmeTrack path give the same wrist trajectory.

    MANO's wrist joint is ``transl + J0(betas)`` (HOT3D's MANO rotates about J0), J0 depending on
    the MANO files: with the test's MANO-structured model the two trajectories must differ by one
    constant offset; with the real MANO (``DEXEGO_MANO_DIR``) by less than a few millimetres.
    """
    mano_dir = Path(os.environ.get("DEXEGO_MANO_DIR") or synthetic_mano_dir)
    summary = convert("hot3d", SAMPLE, tmp_path / "mano", SourceOptions(mano_dir=mano_dir), progress=lambda m: None)
    assert summary.converted == ["hot3d_aria_sample"], summary.report()
    assert validate_dataset(tmp_path / "mano") == []
    ume, ume_valid, _ = _wrists(converted)
    mano, mano_valid, got = _wrists(tmp_path / "mano")
    assert got["meta"]["metadata"]["hand_model"] == "mano"
    np.testing.assert_array_equal(ume_valid, mano_valid)
    offset = mano[:, :, 0] - ume[:, :, 0]  # (n, 2, 3)
    spread_mm = np.linalg.norm(offset - offset.mean(axis=0), axis=-1).max(axis=0) * 1000
    assert (spread_mm < 1.0).all(), spread_mm  # float32 storage and annotation noise: measured 0.2-0.4 mm
    if "DEXEGO_MANO_DIR" in os.environ:
        assert np.linalg.norm(offset, axis=-1).max() * 1000 < 5.0


def test_online_calibration_matches_projectaria_tools():
    """Our reading of the MPS online calibration and FISHEYE624 against Project Aria's own library."""
    mps = pytest.importorskip("projectaria_tools.core.mps", reason="projectaria-tools is the 'aria' extra")
    path = SAMPLE / "mps" / "slam" / "online_calibration.jsonl"
    times, params, device_from_camera = read_online_rgb_calibration(path)
    theirs = [c.get_camera_calib("camera-rgb") for c in mps.read_online_calibration(str(path))]
    assert len(theirs) == len(times)
    rng = np.random.default_rng(0)
    points = np.c_[rng.uniform(-0.3, 0.3, (200, 2)), rng.uniform(0.2, 1.0, 200)]
    for ours, ext, cam in zip(params, device_from_camera, theirs):
        np.testing.assert_allclose(ext, cam.get_transform_device_camera().to_matrix(), atol=1e-9)
        expected = np.array([cam.project(p) for p in points])
        np.testing.assert_allclose(fisheye624_project(ours)(points), expected, atol=1e-6)


def test_umetrack_hinges_rotate_about_their_rest_points():
    profile = load_umetrack_profile(SAMPLE / "umetrack_hand_user_profile.json")
    eye = np.eye(4)[None]
    rest = umetrack_landmarks(profile, np.zeros((1, 22)), eye)[0]
    np.testing.assert_allclose(rest, profile.landmark_rest, atol=1e-12)  # zero angles: the rest hand (left)
    right = umetrack_keypoints(profile, np.zeros((1, 22)), eye, "right")[0]
    left = umetrack_keypoints(profile, np.zeros((1, 22)), eye, "left")[0]
    np.testing.assert_allclose(right, left * [-1, 1, 1], atol=1e-12)  # a right hand is the mirror image
    # bend the index PIP (joint 6): the index DIP and tip turn about that hinge, nothing before it moves
    angles = np.zeros((1, 22))
    angles[0, 6] = 0.7
    bent = umetrack_landmarks(profile, angles, eye)[0]
    hinge, axis = profile.rest_positions[6], profile.rotation_axes[6]
    turn = axis_angle_to_matrix(axis * 0.7)
    for lm in (10, 1):  # index distal frame, index fingertip
        np.testing.assert_allclose(bent[lm], hinge + turn @ (rest[lm] - hinge), atol=1e-12)
    moved = np.linalg.norm(bent - rest, axis=-1) > 1e-12
    assert set(np.flatnonzero(moved)) == {1, 10}  # the palm centre hangs on the wrist and the MCP frames only


def test_umetrack_profile_errors_name_file_and_field(tmp_path):
    data = json.loads((SAMPLE / "umetrack_hand_user_profile.json").read_text())
    del data["hand_model"]["joint_rest_positions"]
    bad = tmp_path / "profile.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"profile.json: hand_model.joint_rest_positions: missing"):
        load_umetrack_profile(bad)
    data["hand_model"]["joint_rest_positions"] = [[0, 0, 0]] * 3
    bad.write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"expected shape \(22, 3\)"):
        load_umetrack_profile(bad)


def test_sequence_with_a_broken_file_is_skipped_with_its_name(tmp_path):
    seq = tmp_path / "in" / "P0003_c701bd11"
    shutil.copytree(SAMPLE, seq)
    lines = (seq / "umetrack_hand_pose_trajectory.jsonl").read_text().splitlines()
    record = json.loads(lines[0])
    record["hand_poses"]["1"]["joint_angles"] = record["hand_poses"]["1"]["joint_angles"][:5]
    lines[0] = json.dumps(record)
    (seq / "umetrack_hand_pose_trajectory.jsonl").write_text("\n".join(lines))
    summary = convert("hot3d", tmp_path / "in", tmp_path / "out", SourceOptions(), progress=lambda m: None)
    assert not summary.converted
    assert "umetrack_hand_pose_trajectory.jsonl" in summary.skipped[0][1] and "joint_angles" in summary.skipped[0][1]
    assert not (tmp_path / "out" / "meta" / "episodes").exists() or not list(
        (tmp_path / "out" / "meta" / "episodes").rglob("*.parquet")
    )


@pytest.mark.slow  # 1408 x 1408 frames resampled and encoded: about 30 s
def test_vrs_video_is_resampled_onto_the_stored_pinhole_camera(tmp_path, monkeypatch):
    """The video path, with projectaria-tools' VRS provider replaced by one serving drawn frames.

    No real VRS is at hand (the sample ships without ``recording.vrs``): frames are drawn with a
    marker where the fisheye camera sees each wrist; after conversion the markers must sit where the
    stored pinhole camera projects the stored wrists.
    """
    data_provider = pytest.importorskip(
        "projectaria_tools.core.data_provider", reason="projectaria-tools is the 'aria' extra"
    )
    from types import SimpleNamespace

    from dexego_sources_testkit import LEFT_COLOUR, RIGHT_COLOUR, marker_centre

    from dexego.sources.base import SequenceRef
    from dexego.sources.hot3d_sequence import cameras, load_sequence, read_headset, timecode_to_device_offset

    n, size = 3, 1408
    truth = load_sequence(SequenceRef("x", SAMPLE, {"layout": "sequence"}), SourceOptions(max_frames=n))
    stamps = truth.metadata["timestamps_ns"]
    headset = read_headset(SAMPLE / "headset_trajectory.csv")
    offset = timecode_to_device_offset(SAMPLE / "mps" / "slam" / "closed_loop_trajectory.csv", headset)
    world_from_camera, fisheye, _ = cameras(SAMPLE, stamps, headset, lambda t: t + offset)
    images = {}
    for i, t in enumerate(stamps):
        image = np.zeros((size, size, 3), np.uint8)
        camera_from_world = np.linalg.inv(world_from_camera[i])
        for h, colour in enumerate((LEFT_COLOUR, RIGHT_COLOUR)):
            wrist = camera_from_world[:3, :3] @ truth.keypoints_world[i, h, 0] + camera_from_world[:3, 3]
            u, v = np.rint(fisheye624_project(fisheye[i])(wrist[None])[0]).astype(int)
            image[v - 4 : v + 5, u - 4 : u + 5] = colour
        images[t] = image

    class Provider:
        def get_image_configuration(self, stream):
            return SimpleNamespace(image_width=size, image_height=size)

        def convert_from_timecode_to_device_time_ns(self, t):
            return int(t) + offset

        def get_image_data_by_time_ns(self, stream, t, domain, options):
            return SimpleNamespace(to_numpy_array=lambda: images[int(t)]), None

    monkeypatch.setattr(data_provider, "create_vrs_data_provider", lambda path: Provider())
    seq = tmp_path / "in" / "P0003_c701bd11"
    shutil.copytree(SAMPLE, seq)
    (seq / "recording.vrs").write_bytes(b"")
    summary = convert("hot3d", tmp_path / "in", tmp_path / "out", SourceOptions(max_frames=n), progress=lambda m: None)
    assert summary.converted == ["P0003_c701bd11"], summary.report()
    assert validate_dataset(tmp_path / "out") == []
    kp, valid, got = _wrists(tmp_path / "out")
    assert got["meta"]["metadata"]["video"] == "recording.vrs" and got["frames"].shape[0] == n
    cols = got["columns"]
    pose = cols["observation.camera.world_from_camera"].reshape(n, 4, 4).astype(np.float64)
    intr = cols["observation.camera.intrinsics"].astype(np.float64)
    for i in range(n):
        camera_from_world = np.linalg.inv(pose[i])
        for h, colour in enumerate((LEFT_COLOUR, RIGHT_COLOUR)):
            x, y, z = camera_from_world[:3, :3] @ kp[i, h, 0] + camera_from_world[:3, 3]
            expected = np.array([intr[i, 0] * x / z + intr[i, 2], intr[i, 1] * y / z + intr[i, 3]])
            found = marker_centre(got["frames"][i], colour)
            assert found is not None and np.linalg.norm(found - expected) < 2.0, (i, h, found, expected)
