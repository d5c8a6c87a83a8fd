import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from dexego import geometry as G


def random_transforms(n, seed=0):
    rng = np.random.default_rng(seed)
    return G.make_transform(Rotation.random(n, random_state=seed).as_matrix(), rng.normal(size=(n, 3)))


def test_invert_and_compose():
    T = random_transforms(16)
    assert np.allclose(G.compose(T, G.invert_transform(T)), np.eye(4), atol=1e-12)
    assert np.allclose(G.invert_transform(T), np.linalg.inv(T), atol=1e-12)
    a, b, c = random_transforms(3, seed=4)
    assert np.allclose(G.compose(a, b, c), a @ b @ c)


def test_apply_transform_known_value_and_batching():
    T = G.make_transform(G.axis_angle_to_matrix(np.array([0, 0, np.pi / 2])), np.array([1.0, 2.0, 3.0]))
    assert np.allclose(G.apply_transform(T, np.array([[1.0, 0, 0]])), [[1, 3, 3]])
    Ts = random_transforms(6).reshape(2, 3, 4, 4)
    pts = np.random.default_rng(1).normal(size=(2, 3, 21, 3))
    out = G.apply_transform(Ts, pts)
    homo = np.concatenate([pts, np.ones(pts.shape[:-1] + (1,))], -1)
    assert np.allclose(out, np.einsum("bcij,bcnj->bcni", Ts, homo)[..., :3])
    with pytest.raises(ValueError):
        G.apply_transform(Ts, pts[..., :2])


def test_pos_rot6d_round_trip_and_broadcast():
    T = random_transforms(10)
    assert np.allclose(G.pos_rot6d_to_pose(G.pose_to_pos_rot6d(T)), T, atol=1e-12)
    # one rotation, many translations
    many = G.make_transform(np.eye(3), np.zeros((5, 3)))
    assert many.shape == (5, 4, 4)


def test_torch_gradients():
    t = torch.randn(4, 9, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(G.pos_rot6d_to_pose, (t,))
