import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.transform import Rotation

from dexego import geometry as G

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
quats = arrays(np.float64, (4,), elements=st.floats(-1, 1)).filter(lambda q: np.linalg.norm(q) > 1e-2)
rotvecs = arrays(np.float64, (3,), elements=st.floats(-np.pi, np.pi)).filter(lambda v: np.linalg.norm(v) < np.pi - 1e-6)


def random_matrices(n, seed=0):
    return Rotation.random(n, random_state=seed).as_matrix()


def same_quat(a, b, atol=1e-6):
    return np.allclose(a, b, atol=atol) or np.allclose(a, -b, atol=atol)


@settings(max_examples=200, deadline=None)
@given(quats)
def test_quat_matrix_round_trip(q):
    q = q / np.linalg.norm(q)
    assert same_quat(G.matrix_to_quat(G.quat_to_matrix(q)), q)


@settings(max_examples=200, deadline=None)
@given(quats)
def test_matrix_rot6d_round_trip(q):
    R = G.quat_to_matrix(q)
    assert np.allclose(G.rot6d_to_matrix(G.matrix_to_rot6d(R)), R, atol=1e-6)


@settings(max_examples=200, deadline=None)
@given(rotvecs)
def test_axis_angle_round_trip(v):
    assert np.allclose(G.matrix_to_axis_angle(G.axis_angle_to_matrix(v)), v, atol=1e-6)
    assert np.allclose(G.quat_to_axis_angle(G.axis_angle_to_quat(v)), v, atol=1e-6)


def test_agrees_with_scipy_known_values():
    mats = random_matrices(500)
    scipy_quat = Rotation.from_matrix(mats).as_quat()  # x, y, z, w
    ours = G.matrix_to_quat(mats)
    assert np.allclose(G.quat_xyzw_to_wxyz(scipy_quat) * np.sign(scipy_quat[:, 3:]), ours, atol=1e-9)
    assert np.allclose(G.matrix_to_axis_angle(mats), Rotation.from_matrix(mats).as_rotvec(), atol=1e-9)
    # 90 degrees about z: x -> y.
    Rz = G.axis_angle_to_matrix(np.array([0, 0, np.pi / 2]))
    assert np.allclose(Rz @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    assert np.allclose(G.matrix_to_quat(Rz), [np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)])


def test_rot6d_layout_is_first_two_columns():
    R = random_matrices(1)[0]
    assert np.allclose(G.matrix_to_rot6d(R), np.concatenate([R[:, 0], R[:, 1]]))


def test_rot6d_gram_schmidt_makes_a_rotation_from_any_input():
    x = np.random.default_rng(1).normal(size=(100, 6))
    R = G.rot6d_to_matrix(x)
    assert np.allclose(R @ np.swapaxes(R, -1, -2), np.eye(3), atol=1e-9)
    assert np.allclose(np.linalg.det(R), 1)
    assert np.allclose(R[:, :, 0], x[:, :3] / np.linalg.norm(x[:, :3], axis=-1, keepdims=True))


@pytest.mark.parametrize("angle", [0.0, 1e-9, 1e-6, 1e-3, np.pi - 1e-3, np.pi - 1e-7, np.pi])
def test_safe_near_zero_and_pi(angle):
    axes = Rotation.random(50, random_state=3).as_rotvec()
    axes /= np.linalg.norm(axes, axis=-1, keepdims=True)
    v = axes * angle
    R = G.axis_angle_to_matrix(v)
    assert np.allclose(R, Rotation.from_rotvec(v).as_matrix(), atol=1e-9)
    back = G.matrix_to_axis_angle(R)
    assert np.all(np.isfinite(back))
    assert np.allclose(G.axis_angle_to_matrix(back), R, atol=1e-7)
    assert np.allclose(np.linalg.norm(back, axis=-1), angle, atol=1e-7)


def test_euler_matches_scipy():
    angles = np.random.default_rng(2).uniform(-np.pi, np.pi, size=(20, 3))
    for seq in ("xyz", "zyx", "XYZ", "ZYX", "xzy", "YXZ"):
        assert np.allclose(G.euler_to_matrix(angles, seq), Rotation.from_euler(seq, angles).as_matrix(), atol=1e-12)
    with pytest.raises(ValueError):
        G.euler_to_matrix(angles, "xyw")


def test_batched_shapes_and_dtype():
    R = random_matrices(24).reshape(2, 3, 4, 3, 3).astype(np.float32)
    assert G.matrix_to_rot6d(R).shape == (2, 3, 4, 6)
    assert G.matrix_to_quat(R).shape == (2, 3, 4, 4)
    assert G.matrix_to_quat(R).dtype == np.float32
    assert G.rot6d_to_matrix(G.matrix_to_rot6d(R)).shape == R.shape
    with pytest.raises(ValueError, match="rot6d"):
        G.rot6d_to_matrix(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="3, 3"):
        G.matrix_to_quat(np.zeros((3, 4)))


def test_quat_multiply_composes_rotations():
    a, b = Rotation.random(2, random_state=5).as_matrix()
    qa, qb = G.matrix_to_quat(a), G.matrix_to_quat(b)
    assert np.allclose(G.quat_to_matrix(G.quat_multiply(qa, qb)), a @ b, atol=1e-12)
    assert np.allclose(G.quat_to_matrix(G.quat_conjugate(qa)), a.T, atol=1e-12)


def test_rotation_angle():
    R = random_matrices(10)
    delta = G.axis_angle_to_matrix(np.array([0.3, 0, 0]))
    assert np.allclose(G.rotation_angle(R, R @ delta), 0.3, atol=1e-9)
    assert np.allclose(G.rotation_angle(R, R), 0, atol=1e-7)
    assert np.allclose(G.rotation_angle(np.eye(3), G.axis_angle_to_matrix(np.array([0, np.pi, 0]))), np.pi)


def test_torch_matches_numpy_and_has_gradients():
    mats = random_matrices(8)
    t = torch.tensor(mats, requires_grad=True)
    for fn in (G.matrix_to_quat, G.matrix_to_axis_angle, G.matrix_to_rot6d):
        out = fn(t)
        assert isinstance(out, torch.Tensor)
        assert np.allclose(out.detach().numpy(), fn(mats))
        out.sum().backward()
        assert t.grad is not None and torch.isfinite(t.grad).all()
        t.grad = None


def test_gradients_finite_at_identity_and_small_angles():
    for fn in (G.axis_angle_to_matrix, G.axis_angle_to_quat):
        v = torch.zeros(4, 3, dtype=torch.float64, requires_grad=True)
        fn(v).sum().backward()
        assert torch.isfinite(v.grad).all()
    x = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(G.rot6d_to_matrix, (x,))
    v = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(G.axis_angle_to_matrix, (v,))
