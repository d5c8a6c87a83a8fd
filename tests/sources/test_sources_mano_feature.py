"""MANO sources store observation.hands.mano: the least-squares 15-PCA projection of their 45-D pose, root at the wrist."""

import numpy as np
import pytest
from dexego_sources_testkit import read_episode
from test_sources_arctic import write_arctic
from test_sources_dexycb import write_dexycb
from test_sources_hoi4d import write_hoi4d
from test_sources_taco import write_taco

from dexego.data.features import HAND_MANO
from dexego.geometry import axis_angle_to_matrix, rot6d_to_matrix
from dexego.hands.mano import load_mano_params
from dexego.sources.base import SourceOptions
from dexego.sources.convert import convert
from dexego.sources.mano_feature import load_projectors, mano_feature

SIDES = ("left", "right")


def truth_pca(mano_dir, side, pose, absolute):
    """Least-squares coefficients (numpy lstsq, not the module's pseudo-inverse) and the 45-D residual norm."""
    params = load_mano_params(mano_dir / f"MANO_{side.upper()}.pkl")
    relative = np.asarray(pose, np.float64) - (params.hands_mean if absolute else 0.0)
    comps = params.hands_components[:15]
    coef = np.linalg.lstsq(comps.T, relative.T, rcond=None)[0].T
    return coef, np.linalg.norm(relative - coef @ comps, axis=-1)


def check_mano(out, pose, rotation_world, mano_dir, absolute):
    """The stored feature against the truth; returns the mean projection loss the converter reported."""
    got = read_episode(out)
    cols, n = got["columns"], len(got["columns"]["frame_index"])
    mano = cols[HAND_MANO].reshape(n, 2, 24).astype(np.float64)
    valid = cols["observation.hands.valid"]
    wrist = cols["observation.hands.keypoints_world"].reshape(n, 2, 21, 3)[:, :, 0]
    assert np.isnan(mano[~valid]).all() and np.isfinite(mano[valid]).all()
    losses = []
    for h, side in enumerate(SIDES):
        ok = valid[:, h]
        coef, loss = truth_pca(mano_dir, side, pose[side][ok], absolute)
        losses.append(loss)
        np.testing.assert_allclose(mano[ok, h, 9:], coef, atol=1e-4)
        np.testing.assert_allclose(mano[ok, h, :3], wrist[ok, h], atol=1e-5)  # root = converted keypoint 0
        np.testing.assert_allclose(rot6d_to_matrix(mano[ok, h, 3:9]), rotation_world[side][ok], atol=1e-5)
    reported = got["meta"]["metadata"]["mano_pca_loss_rad"]
    assert reported == pytest.approx(np.concatenate(losses).mean(), rel=1e-4, abs=1e-6)
    return reported


def test_projection_is_least_squares_on_non_orthonormal_components(synthetic_mano_dir):
    projector = load_projectors(synthetic_mano_dir, "test")["right"]
    comps = projector.components
    assert not np.allclose(comps @ comps.T, np.eye(15))  # the fixture's rows are orthogonal but of norm 0.5
    rng = np.random.default_rng(0)
    pose = rng.normal(scale=0.3, size=(5, 45))
    for flat in (False, True):
        pca, loss = projector.project(pose, source_flat_hand_mean=flat)
        coef, truth_loss = truth_pca(synthetic_mano_dir, "right", pose, absolute=flat)
        np.testing.assert_allclose(pca, coef, atol=1e-10)
        np.testing.assert_allclose(loss, truth_loss, atol=1e-10)
        assert (loss > 0.1).all()  # a generic 45-D pose is not in the 15-PCA span: the projection is lossy
        residual = projector.relative_pose(pose, flat) - pca @ comps
        np.testing.assert_allclose(residual @ comps.T, 0.0, atol=1e-10)  # residual orthogonal to the span


def test_pose_inside_the_span_round_trips_exactly_for_both_conventions(synthetic_mano_dir):
    projector = load_projectors(synthetic_mano_dir, "test")["left"]
    coef = np.random.default_rng(1).normal(size=(4, 15))
    relative = coef @ projector.components
    for flat, pose in (
        (False, relative),
        (True, relative + projector.hands_mean),
    ):  # flat sources store the absolute pose
        pca, loss = projector.project(pose, source_flat_hand_mean=flat)
        np.testing.assert_allclose(pca, coef, atol=1e-10)
        np.testing.assert_allclose(loss, 0.0, atol=1e-10)


def test_mano_feature_marks_invalid_hands_and_rejects_bad_shapes(synthetic_mano_dir):
    projectors = load_projectors(synthetic_mano_dir, "test")
    valid = np.array([[True, False], [True, True]])
    rot = np.tile(np.eye(3), (2, 2, 1, 1))
    feature = mano_feature(
        projectors, np.zeros((2, 2, 45)), rot, np.ones((2, 2, 3)), valid, source_flat_hand_mean=False
    )
    assert feature.hand_mano.shape == (2, 2, 24) and np.isnan(feature.hand_mano[0, 1]).all()
    np.testing.assert_allclose(feature.hand_mano[valid][:, 9:], 0.0, atol=1e-7)  # zero relative pose = zero PCA
    assert feature.mean_loss_rad == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="45"):
        mano_feature(projectors, np.zeros((2, 2, 48)), rot, np.ones((2, 2, 3)), valid, source_flat_hand_mean=False)


def test_arctic_stores_mano_with_exact_round_trip_inside_the_span(tmp_path, synthetic_mano_dir):
    _, params = write_arctic(tmp_path / "in", synthetic_mano_dir, num_pca=15)
    convert(
        "arctic", tmp_path / "in", tmp_path / "out", SourceOptions(mano_dir=synthetic_mano_dir), progress=lambda m: None
    )
    pose = {s: params[s]["pose"].astype(np.float32) for s in SIDES}  # relative to hands_mean (flat_hand_mean=False)
    rotation = {
        s: axis_angle_to_matrix(params[s]["global_orient"].astype(np.float32).astype(np.float64)) for s in SIDES
    }
    loss = check_mano(tmp_path / "out", pose, rotation, synthetic_mano_dir, absolute=False)
    assert loss < 1e-5  # the pose is in the 15-PCA span: nothing lost
    mano = read_episode(tmp_path / "out")["columns"][HAND_MANO].reshape(-1, 2, 24)
    for h, side in enumerate(SIDES):
        np.testing.assert_allclose(mano[:, h, 9:], params[side]["pca"], atol=1e-4)  # the fixture's own coefficients


def test_arctic_full_pose_is_projected_with_its_loss_reported(tmp_path, synthetic_mano_dir):
    _, params = write_arctic(tmp_path / "in", synthetic_mano_dir, n=3)
    convert(
        "arctic", tmp_path / "in", tmp_path / "out", SourceOptions(mano_dir=synthetic_mano_dir), progress=lambda m: None
    )
    pose = {s: params[s]["pose"].astype(np.float32) for s in SIDES}
    rotation = {
        s: axis_angle_to_matrix(params[s]["global_orient"].astype(np.float32).astype(np.float64)) for s in SIDES
    }
    assert check_mano(tmp_path / "out", pose, rotation, synthetic_mano_dir, absolute=False) > 0.1


def test_taco_absolute_pose_is_taken_relative_to_hands_mean(tmp_path, synthetic_mano_dir):
    params = {}
    write_taco(tmp_path / "in", synthetic_mano_dir, n=3, params_out=params)
    convert(
        "taco", tmp_path / "in", tmp_path / "out", SourceOptions(mano_dir=synthetic_mano_dir), progress=lambda m: None
    )
    pose = {s: params[s]["pose"].astype(np.float32) for s in SIDES}  # absolute (flat_hand_mean=True)
    rotation = {
        s: axis_angle_to_matrix(params[s]["global_orient"].astype(np.float32).astype(np.float64)) for s in SIDES
    }
    assert check_mano(tmp_path / "out", pose, rotation, synthetic_mano_dir, absolute=True) > 0.1


def test_hoi4d_root_rotation_is_carried_from_camera_to_world(tmp_path, synthetic_mano_dir):
    params = {}
    scene = write_hoi4d(tmp_path / "in", synthetic_mano_dir, n=3, params_out=params)
    convert(
        "hoi4d", tmp_path / "in", tmp_path / "out", SourceOptions(mano_dir=synthetic_mano_dir), progress=lambda m: None
    )
    pose = {s: params[s]["pose"].astype(np.float32) for s in SIDES}
    world_r_cam = scene.world_from_camera[:, :3, :3]
    rotation = {
        s: world_r_cam @ axis_angle_to_matrix(params[s]["global_orient"].astype(np.float32).astype(np.float64))
        for s in SIDES
    }
    assert check_mano(tmp_path / "out", pose, rotation, synthetic_mano_dir, absolute=True) > 0.1
    assert not read_episode(tmp_path / "out")["columns"]["observation.hands.valid"][
        2, 0
    ]  # the missing left hand -> NaN (checked above)


def test_dexycb_reprojects_its_45_pca_with_a_mano_dir_and_has_no_feature_without(tmp_path, synthetic_mano_dir):
    n, rng = 4, np.random.default_rng(5)
    pose_m = np.concatenate(
        [rng.normal(scale=0.4, size=(n, 3)), rng.normal(scale=0.5, size=(n, 45)), rng.normal(size=(n, 3))], axis=1
    )
    write_dexycb(tmp_path / "in", n=n, pose_m=pose_m)
    convert("dexycb", tmp_path / "in", tmp_path / "plain", progress=lambda m: None)
    assert HAND_MANO not in read_episode(tmp_path / "plain")["columns"]
    convert(
        "dexycb", tmp_path / "in", tmp_path / "out", SourceOptions(mano_dir=synthetic_mano_dir), progress=lambda m: None
    )
    pose_m = pose_m.astype(np.float32).astype(np.float64)
    comps = load_mano_params(synthetic_mano_dir / "MANO_LEFT.pkl").hands_components
    pose = {s: pose_m[:, 3:48] @ comps for s in SIDES}  # manopth use_pca, flat_hand_mean=False: relative to the mean
    rotation = {s: axis_angle_to_matrix(pose_m[:, :3]) for s in SIDES}
    assert check_mano(tmp_path / "out", pose, rotation, synthetic_mano_dir, absolute=False) > 0.1
    mano = read_episode(tmp_path / "out")["columns"][HAND_MANO].reshape(n, 2, 24)
    assert np.isnan(mano[:, 1]).all() and np.isnan(mano[1, 0]).all()  # right hand absent; no left label at frame 1
