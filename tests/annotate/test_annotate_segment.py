import numpy as np
import pytest

from dexego.annotate.segment import SegmentConfig, cut_points, segment_episode, segment_hand, wrist_speed

FPS = 30


def reach_pause_path(durations_s, pause_s=0.4, seed=0):
    """A wrist that moves between random targets with smooth (minimum-jerk) strokes and pauses between them."""
    rng = np.random.default_rng(seed)
    pos = np.zeros(3)
    path, boundaries = [], []
    for d in durations_s:
        target = pos + rng.normal(scale=0.15, size=3)
        n = int(d * FPS)
        s = np.linspace(0, 1, n)
        blend = 10 * s**3 - 15 * s**4 + 6 * s**5
        path.append(pos + blend[:, None] * (target - pos))
        pos = target
        path.append(np.repeat(pos[None], int(pause_s * FPS), axis=0))
        boundaries.append(sum(len(p) for p in path) - int(pause_s * FPS) // 2)
    return np.concatenate(path), boundaries[:-1]


def test_cuts_fall_in_the_pauses():
    path, true_cuts = reach_pause_path([1.0, 1.5, 0.8, 1.2])
    segments = segment_hand(path, np.ones(len(path), bool), FPS, "right")
    cuts = [s.start for s in segments[1:]]
    assert len(cuts) == len(true_cuts)
    # Each cut lies inside the 0.4 s pause around the true phase change.
    assert np.all(np.abs(np.array(cuts) - true_cuts) <= 0.2 * FPS)
    assert segments[0].start == 0 and segments[-1].end == len(path)
    assert all(a.end == b.start for a, b in zip(segments[:-1], segments[1:]))


@pytest.mark.parametrize("seed", range(8))
def test_jitter_does_not_cut_a_smooth_stroke(seed):
    # 1 cm of frame-to-frame jitter (what a lifted monocular track has) on strokes of ~15 cm.
    path, true_cuts = reach_pause_path([1.0, 1.5, 0.8, 1.2], seed=seed)
    noisy = path + np.random.default_rng(100 + seed).normal(scale=0.01, size=path.shape)
    cuts = [s.start for s in segment_hand(noisy, np.ones(len(path), bool), FPS, "right")[1:]]
    assert len(cuts) == len(true_cuts), (cuts, true_cuts)
    assert np.all(np.abs(np.array(cuts) - true_cuts) <= 0.3 * FPS)


def test_jitter_on_one_long_stroke_needs_the_rise_test():
    path, _ = reach_pause_path([4.0], pause_s=0.0, seed=1)
    noisy = path + np.random.default_rng(7).normal(scale=0.01, size=path.shape)
    valid = np.ones(len(path), bool)
    assert len(segment_hand(noisy, valid, FPS, "right")) == 1
    assert len(segment_hand(noisy, valid, FPS, "right", SegmentConfig(min_rise=0.0, smooth_seconds=0.1))) > 1


def test_min_and_max_lengths():
    path, _ = reach_pause_path([0.3] * 6, pause_s=0.2)
    config = SegmentConfig(min_seconds=1.0, max_seconds=2.0)
    segments = segment_hand(path, np.ones(len(path), bool), FPS, "left", config)
    lengths = [s.end - s.start for s in segments]
    assert min(lengths) >= 1.0 * FPS
    assert max(lengths) <= 2.0 * FPS
    # A steady motion with no pause is split only by the maximum length.
    line = np.linspace(0, 1, 10 * FPS)[:, None] * np.array([[1.0, 0, 0]])
    segments = segment_hand(line, np.ones(len(line), bool), FPS, "left", config)
    assert all(s.end - s.start <= 2 * FPS for s in segments) and len(segments) >= 5


def test_speed_known_value_and_invalid_frames():
    line = np.linspace(0, 1, 31)[:, None] * np.array([[1.0, 0, 0]])  # 1 m in 1 s
    assert np.allclose(wrist_speed(line, np.ones(31, bool), FPS, 0.1), 1.0)
    valid = np.ones(31, bool)
    valid[10:15] = False
    broken = line.copy()
    broken[10:15] = np.nan
    assert np.allclose(wrist_speed(broken, valid, FPS, 0.1), 1.0)
    assert np.all(wrist_speed(line, np.zeros(31, bool), FPS, 0.1) == 0)


def test_two_hands_and_bad_input():
    left, _ = reach_pause_path([1.0, 1.0], seed=1)
    right = np.zeros_like(left)
    wrists = np.stack([left, right], axis=1)
    valid = np.stack([np.ones(len(left), bool), np.zeros(len(left), bool)], axis=1)
    segments = segment_episode(wrists, valid, FPS)
    assert len(segments) == 2 and all(s.side == "both" for s in segments)
    with pytest.raises(ValueError):
        segment_episode(left, valid, FPS)
    with pytest.raises(ValueError):
        SegmentConfig(min_seconds=2, max_seconds=1)
    with pytest.raises(ValueError, match="pause_ratio"):
        SegmentConfig(pause_ratio=1.5)
    assert cut_points(np.zeros(5), FPS, SegmentConfig()) == []
