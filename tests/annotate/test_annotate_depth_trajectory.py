import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from dexego import geometry as G
from dexego.annotate.depth import MEAN_PALM_LENGTH, scale_to_prior, solve_translation
from dexego.annotate.trajectory import TrackConfig, clean_track, fill_gaps, reject_outliers, to_world


def hand_shape(seed=0):
    rng = np.random.default_rng(seed)
    rel = rng.normal(scale=0.04, size=(21, 3))
    rel[0] = 0
    rel[9] = [0.0, -0.09, 0.01]
    return rel


def test_translation_recovered_from_pixels():
    k = G.Intrinsics.from_fov(np.radians(70), 640, 480)
    rng = np.random.default_rng(1)
    for _ in range(10):
        rel = hand_shape(rng.integers(100))
        t = rng.uniform([-0.2, -0.2, 0.3], [0.2, 0.2, 0.8])
        pixels = G.project(rel + t, k)
        assert np.allclose(solve_translation(rel, pixels, k), t, atol=1e-9)
    # batched, with per-frame intrinsics and pixel noise
    rel = np.stack([hand_shape(i) for i in range(5)])
    t = rng.uniform([-0.1, -0.1, 0.4], [0.1, 0.1, 0.6], size=(5, 3))
    pixels = G.project(rel + t[:, None], k) + rng.normal(scale=0.5, size=(5, 21, 2))
    est = solve_translation(rel, pixels, np.tile(k.vector, (5, 1)))
    assert np.abs(est - t).max() < 0.01


def test_scale_prior():
    rel = hand_shape() * 2.0
    scaled = scale_to_prior(rel)
    assert np.isclose(np.linalg.norm(scaled[9] - scaled[0]), MEAN_PALM_LENGTH)
    assert np.allclose(scaled / np.linalg.norm(scaled[9]), rel / np.linalg.norm(rel[9]))


def test_to_world_matches_apply_transform():
    poses = G.make_transform(Rotation.random(4, random_state=0).as_matrix(), np.arange(12.0).reshape(4, 3))
    pts = np.random.default_rng(0).normal(size=(4, 2, 21, 3))
    world = to_world(pts, poses)
    assert np.allclose(world[2, 1], G.apply_transform(poses[2], pts[2, 1]))


def test_outliers_gaps_and_smoothing():
    fps = 30
    n = 90
    t = np.arange(n) / fps
    wrist = np.stack([0.3 * np.sin(t), 0.1 * t, np.ones(n)], -1)
    kp = wrist[:, None, :] + np.zeros((1, 21, 3))
    noisy = kp + np.random.default_rng(0).normal(scale=0.003, size=kp.shape)
    noisy[40] += [0.5, 0, 0]  # a tracking glitch: 15 m/s
    valid = np.ones(n, bool)
    valid[60:64] = False  # a short dropout
    noisy[60:64] = np.nan
    assert not reject_outliers(noisy[:, 0], valid, fps, 4.0)[40]
    clean, ok, conf = clean_track(noisy, valid, np.ones(n), fps, TrackConfig())
    assert ok.all()
    assert conf[40] == 0.5 and conf[61] == 0.5 and conf[10] == 1.0
    assert np.abs(clean - kp).max() < 0.01  # glitch removed, gap filled, noise reduced
    assert np.abs(clean - kp)[5:-5].std() < np.abs(noisy[:40] - kp[:40]).std()
    # long gaps are not invented
    valid[20:50] = False
    _, ok = fill_gaps(kp, valid, max_gap=7)
    assert not ok[20:50].any()
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 3\)"):
        to_world(np.zeros((3, 21, 2)), np.tile(np.eye(4), (3, 1, 1)))
