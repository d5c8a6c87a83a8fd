import numpy as np
import pytest
from synthetic_video import hand_pose_points

from dexego.annotate.depth import MEAN_PALM_LENGTH
from dexego.annotate.estimators import HandDetection
from dexego.annotate.lift import LiftConfig, lift_hands
from dexego.geometry import Intrinsics

K = Intrinsics(250.0, 250.0, 160.0, 120.0, 320, 240)


def _detection(points, side="right", confidence=1.0, scale=0.37):
    pixels = np.stack([K.fx * points[:, 0] / points[:, 2] + K.cx, K.fy * points[:, 1] / points[:, 2] + K.cy], -1)
    return HandDetection(side, pixels, (points - points[0]) * scale, confidence)


def test_a_prior_sized_hand_is_placed_exactly_whatever_the_estimators_scale():
    right = hand_pose_points(0.3, "right") + [0.05, 0.1, 0.45]
    left = hand_pose_points(0.0, "left") + [-0.1, 0.12, 0.6]
    out = lift_hands([[_detection(right), _detection(left, "left", scale=3.0)], []], K)
    np.testing.assert_allclose(out.keypoints[0, 1], right, atol=1e-9)
    np.testing.assert_allclose(out.keypoints[0, 0], left, atol=1e-9)
    assert out.valid.tolist() == [[True, True], [False, False]]
    assert np.isnan(out.keypoints[1]).all() and out.reprojection_px[0].max() < 1e-6


def test_a_bigger_hand_than_the_prior_is_placed_proportionally_too_near():
    big = hand_pose_points(0.0, "right", palm_length=MEAN_PALM_LENGTH * 1.1) + [0.0, 0.1, 0.55]
    out = lift_hands([[_detection(big)]], K)
    assert out.keypoints[0, 1, 0, 2] == pytest.approx(0.55 / 1.1, rel=1e-6)


def test_low_confidence_implausible_and_duplicate_hands():
    hand = hand_pose_points(0.0, "right") + [0.0, 0.1, 0.5]
    far = hand_pose_points(0.0, "right", palm_length=0.005) + [0.0, 0.1, 0.5]  # looks 20x smaller: placed 10 m away
    inconsistent = _detection(hand)
    inconsistent = HandDetection(
        "right",
        inconsistent.keypoints_2d + np.random.default_rng(0).normal(0, 60, (21, 2)),
        inconsistent.relative_3d,
        1.0,
    )
    out = lift_hands([[_detection(hand, confidence=0.1)], [_detection(far)], [inconsistent],
                      [_detection(hand + [0.1, 0, 0], confidence=0.6), _detection(hand, confidence=0.9)]], K, LiftConfig())  # fmt: skip
    assert out.valid[:, 1].tolist() == [False, False, False, True]
    np.testing.assert_allclose(out.keypoints[3, 1], hand, atol=1e-9)
    assert out.confidence[3, 1] == 0.9


def test_pixel_noise_does_not_bias_depth():
    from dexego.annotate.depth import solve_translation

    rng = np.random.default_rng(0)
    hand = hand_pose_points(0.2, "right") + [0.05, 0.1, 0.6]
    exact = _detection(hand)
    detections, linear = [], []
    for _ in range(300):
        pixels = exact.keypoints_2d + rng.normal(0, 2.0, (21, 2))
        detections.append([HandDetection("right", pixels, exact.relative_3d, 1.0)])
        linear.append(solve_translation(hand - hand[0], pixels, K)[2])
    out = lift_hands(detections, K, LiftConfig(max_reprojection_px=100))
    depth = out.keypoints[:, 1, 0, 2]
    assert abs(depth.mean() - 0.6) < 0.002  # unbiased to a few millimetres
    assert abs(np.mean(linear) - 0.6) > 3 * abs(
        depth.mean() - 0.6
    )  # the linear solution alone is pulled toward the camera
