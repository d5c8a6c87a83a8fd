import os
import pickle

import numpy as np
import pytest
import torch

from dexego.errors import InputError
from dexego.geometry import axis_angle_to_matrix
from dexego.hands import hand_frame
from dexego.hands.mano import FINGERTIP_VERTICES, MANOModel, load_mano_params


def test_loads_chumpy_and_sparse_arrays(synthetic_mano_dir):
    params = load_mano_params(synthetic_mano_dir / "MANO_RIGHT.pkl")
    assert params.shapedirs.shape == (778, 3, 10)
    assert params.J_regressor.shape == (16, 778) and isinstance(params.J_regressor, np.ndarray)
    assert params.parents[0] == -1 and params.parents[3] == 2


def test_rest_pose_and_known_global_rotation(synthetic_mano_dir):
    params = load_mano_params(synthetic_mano_dir / "MANO_RIGHT.pkl")
    model = MANOModel(params, "right", flat_hand_mean=True)
    rest = model(pose=torch.zeros(45, dtype=torch.float64))
    assert np.allclose(rest.vertices.numpy(), params.v_template)
    assert np.allclose(rest.joints.numpy(), params.J_regressor @ params.v_template)
    tip_ids = list(FINGERTIP_VERTICES.values())
    assert np.allclose(rest.keypoints.numpy()[[4, 8, 12, 16, 20]], params.v_template[tip_ids])

    # A pure global rotation turns the whole hand about the root joint.
    rotvec = torch.tensor([0.3, -0.5, 1.1], dtype=torch.float64)
    posed = model(pose=torch.zeros(45, dtype=torch.float64), global_orient=rotvec, transl=torch.tensor([1.0, 2.0, 3.0]))
    R = axis_angle_to_matrix(rotvec.numpy())
    root = rest.joints.numpy()[0]
    expected = (params.v_template - root) @ R.T + root + [1, 2, 3]
    assert np.allclose(posed.vertices.numpy(), expected, atol=1e-12)


def test_finger_joint_moves_only_its_finger(synthetic_mano_dir):
    model = MANOModel.from_dir(synthetic_mano_dir, "right", flat_hand_mean=True)
    pose = torch.zeros(45, dtype=torch.float64)
    pose[0:3] = torch.tensor([0.0, 0.0, 0.8])  # index MCP (MANO joint 1)
    rest = model(pose=torch.zeros(45, dtype=torch.float64)).keypoints.numpy()
    bent = model(pose=pose).keypoints.numpy()
    moved = np.linalg.norm(bent - rest, axis=-1) > 2e-3  # pose correctives (posedirs) move everything slightly
    assert moved[[6, 7, 8]].all() and not moved[[0, 5, 9, 12, 16, 20, 4]].any()
    # The bent index keeps its bone lengths (rigid rotation about the MCP).
    assert np.isclose(np.linalg.norm(bent[7] - bent[5]), np.linalg.norm(rest[7] - rest[5]), atol=1e-12)
    assert np.isclose(np.linalg.norm(bent[8] - bent[5]), np.linalg.norm(rest[8] - rest[5]), atol=2e-3)


def test_flat_hand_mean_is_explicit(synthetic_mano_dir):
    flat = MANOModel.from_dir(synthetic_mano_dir, "right", flat_hand_mean=True, num_pca=45)
    mean = MANOModel.from_dir(synthetic_mano_dir, "right", flat_hand_mean=False, num_pca=45)
    zeros = torch.zeros(45, dtype=torch.float64)
    assert np.allclose(
        mean.pca_to_pose(zeros),
        flat.components.new_tensor(load_mano_params(synthetic_mano_dir / "MANO_RIGHT.pkl").hands_mean),
    )
    a = mean(pca=zeros).keypoints
    b = flat(pose=mean.pose_mean).keypoints
    assert torch.allclose(a, b)
    # pose -> pca -> pose is exact with all 45 components
    pose = torch.randn(3, 45, dtype=torch.float64) * 0.2
    assert torch.allclose(mean.pca_to_pose(mean.pose_to_pca(pose + mean.pose_mean)), pose + mean.pose_mean, atol=1e-9)


def test_batched_and_differentiable(synthetic_mano_dir):
    model = MANOModel.from_dir(synthetic_mano_dir, "left", flat_hand_mean=False)
    pca = torch.zeros(4, 2, 15, dtype=torch.float64, requires_grad=True)
    out = model(pca=pca, betas=torch.zeros(4, 2, 10))
    assert out.keypoints.shape == (4, 2, 21, 3) and out.vertices.shape == (4, 2, 778, 3)
    out.keypoints.sum().backward()
    assert torch.isfinite(pca.grad).all()
    frame = hand_frame(model(pca=torch.zeros(15, dtype=torch.float64)).keypoints, "left")
    assert torch.allclose(frame[:3, :3] @ frame[:3, :3].T, torch.eye(3, dtype=torch.float64), atol=1e-9)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned_by_pickle",))


def test_refuses_code_execution(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "MANO_RIGHT.pkl"
    bad.write_bytes(pickle.dumps({"v_template": _Exploit()}, protocol=2))
    with pytest.raises(InputError, match=r"MANO_RIGHT\.pkl.*not allowed"):
        load_mano_params(bad)
    assert not (tmp_path / "pwned_by_pickle").exists()


def test_bad_files_name_file_and_field(tmp_path, synthetic_mano_dir):
    with pytest.raises(InputError, match="not found"):
        load_mano_params(tmp_path / "MANO_LEFT.pkl")
    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes((synthetic_mano_dir / "MANO_RIGHT.pkl").read_bytes()[:1000])
    with pytest.raises(InputError, match="truncated.pkl"):
        load_mano_params(truncated)
    missing = tmp_path / "missing.pkl"
    missing.write_bytes(pickle.dumps({"v_template": np.zeros((778, 3))}, protocol=2))
    with pytest.raises(InputError, match="missing.pkl: hands_components: missing"):
        load_mano_params(missing)
