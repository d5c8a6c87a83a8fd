import math

import numpy as np
import pytest

from dexego import geometry as G


def test_project_known_value_and_round_trip():
    K = G.Intrinsics(fx=500, fy=400, cx=320, cy=240, width=640, height=480)
    assert np.allclose(G.project(np.array([0.1, -0.2, 2.0]), K), [345, 200])
    pts = np.random.default_rng(0).uniform([-1, -1, 0.5], [1, 1, 3], size=(100, 3))
    px = G.project(pts, K)
    assert np.allclose(G.unproject(px, pts[:, 2], K), pts)
    # per-point intrinsics as arrays broadcast like the points
    Ks = np.tile(K.vector, (100, 1))
    assert np.allclose(G.project(pts, Ks), px)
    assert G.in_front(np.array([[0, 0, 1.0], [0, 0, -1.0]])).tolist() == [True, False]


def test_intrinsics_fov_matrix_and_scaling():
    K = G.Intrinsics.from_fov(math.radians(90), 224, 224)
    assert K.fx == pytest.approx(112)
    assert K.fov[0] == pytest.approx(math.radians(90))
    assert np.allclose(G.Intrinsics.from_matrix(K.matrix, 224, 224).vector, K.vector)
    half = K.scaled(112, 112)
    pt = np.array([0.2, 0.1, 1.0])
    assert np.allclose(G.project(pt, half), G.project(pt, K) / 2)
    with pytest.raises(ValueError):
        G.Intrinsics(fx=0, fy=1, cx=0, cy=0, width=10, height=10)
    with pytest.raises(ValueError):
        G.Intrinsics(fx=float("nan"), fy=1, cx=0, cy=0, width=10, height=10)
