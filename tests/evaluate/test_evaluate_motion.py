import math

import numpy as np
import pytest
from evaluate_helpers import TIPS_LOCAL, hand_chunk, rot_z

from dexego.evaluate.motion import MotionMetrics, motion_errors, motion_summary_line, steps_for_seconds
from dexego.geometry import Intrinsics

K = Intrinsics(fx=200.0, fy=100.0, cx=112.0, cy=112.0, width=224, height=224)
ALL_VALID = np.ones((30, 2), dtype=bool)


def test_wrist_offset_gives_known_errors():
    target = hand_chunk()
    predicted = hand_chunk(wrist=((-0.07, 0.0, 0.5), (0.1, -0.04, 0.5)))  # left +3 cm in x, right -4 cm in y
    errors = motion_errors(predicted, target, ALL_VALID, K, (224, 224))
    np.testing.assert_allclose(errors.wrist_cm[:, 0], 3.0)
    np.testing.assert_allclose(errors.wrist_cm[:, 1], 4.0)
    np.testing.assert_allclose(errors.rotation_deg, 0.0, atol=1e-6)
    # A rigid shift moves every fingertip by the same amount; the hand shape is unchanged.
    np.testing.assert_allclose(errors.fingertip_cm, errors.wrist_cm)
    np.testing.assert_allclose(errors.fingertip_local_cm, 0.0, atol=1e-9)
    # 2D: dx = fx * 0.03 / 0.5 = 12 px -> 12 / 224; dy = fy * 0.04 / 0.5 = 8 px -> 8 / 224.
    np.testing.assert_allclose(errors.wrist_2d[:, 0], 12.0 / 224)
    np.testing.assert_allclose(errors.wrist_2d[:, 1], 8.0 / 224)


def test_wrist_rotation_gives_geodesic_angle_and_fingertip_arc():
    target = hand_chunk()
    predicted = hand_chunk(rotation=(rot_z(math.radians(30)), np.eye(3)))
    errors = motion_errors(predicted, target, ALL_VALID, K, (224, 224))
    np.testing.assert_allclose(errors.rotation_deg[:, 0], 30.0, atol=1e-6)
    np.testing.assert_allclose(errors.rotation_deg[:, 1], 0.0, atol=1e-6)
    np.testing.assert_allclose(errors.wrist_cm, 0.0, atol=1e-9)
    # Rotating about the wrist by theta moves a point at radius r (about z) by 2 r sin(theta / 2).
    radius = np.linalg.norm(TIPS_LOCAL[:, :2], axis=1)
    expected = 100 * np.mean(2 * radius * math.sin(math.radians(15)))
    np.testing.assert_allclose(errors.fingertip_cm[:, 0], expected, rtol=1e-6)
    np.testing.assert_allclose(errors.fingertip_local_cm, 0.0, atol=1e-9)


def test_fingertip_articulation_error_in_wrist_frame():
    moved = TIPS_LOCAL.copy()
    moved[1, 1] += 0.01  # index tip 1 cm sideways in the wrist frame
    target = hand_chunk(rotation=(rot_z(0.7), rot_z(-0.3)))
    predicted = hand_chunk(rotation=(rot_z(0.7), rot_z(-0.3)), tips=(moved, TIPS_LOCAL))
    errors = motion_errors(predicted, target, ALL_VALID, K, (224, 224))
    np.testing.assert_allclose(errors.fingertip_local_cm[:, 0], 1.0 / 5, rtol=1e-9)  # mean over 5 tips
    np.testing.assert_allclose(errors.fingertip_cm[:, 0], 1.0 / 5, rtol=1e-9)  # same wrist pose
    np.testing.assert_allclose(errors.fingertip_local_cm[:, 1], 0.0, atol=1e-9)


def test_invalid_hands_are_ignored_even_if_garbage():
    target = hand_chunk()
    predicted = hand_chunk(wrist=((-0.1, 0.0, 0.5), (5.0, 5.0, 5.0)))
    predicted[:, 24:48] = np.nan  # an invalid right hand may hold anything
    valid = ALL_VALID.copy()
    valid[:, 1] = False
    errors = motion_errors(predicted, target, valid, K, (224, 224))
    assert np.isnan(errors.wrist_cm[:, 1]).all() and np.isnan(errors.wrist_2d[:, 1]).all()
    np.testing.assert_allclose(errors.wrist_cm[:, 0], 0.0, atol=1e-9)


def test_nan_in_a_valid_hand_is_an_error():
    predicted = hand_chunk()
    predicted[3, 2] = np.nan
    with pytest.raises(ValueError, match="predicted"):
        motion_errors(predicted, hand_chunk(), ALL_VALID, K, (224, 224))


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="shape"):
        motion_errors(hand_chunk()[:, :47], hand_chunk()[:, :47], ALL_VALID, K, (224, 224))
    with pytest.raises(ValueError, match="valid"):
        motion_errors(hand_chunk(), hand_chunk(), ALL_VALID[:10], K, (224, 224))


def test_points_behind_the_camera_are_left_out_of_2d_only():
    target = hand_chunk()
    predicted = hand_chunk(wrist=((-0.1, 0.0, -0.2), (0.1, 0.0, 0.5)))
    errors = motion_errors(predicted, target, ALL_VALID, K, (224, 224))
    assert np.isnan(errors.wrist_2d[:, 0]).all()
    np.testing.assert_allclose(errors.wrist_cm[:, 0], 70.0)
    np.testing.assert_allclose(errors.wrist_2d[:, 1], 0.0, atol=1e-12)


def test_batched_per_sample_intrinsics_and_image_sizes():
    target = np.stack([hand_chunk(), hand_chunk()])
    predicted = np.stack([hand_chunk(wrist=((-0.07, 0.0, 0.5), (0.1, 0.0, 0.5)))] * 2)
    k = np.array([[200.0, 100.0, 112.0, 112.0], [100.0, 100.0, 32.0, 32.0]])
    errors = motion_errors(predicted, target, np.ones((2, 30, 2), bool), k, np.array([[224, 224], [64, 64]]))
    np.testing.assert_allclose(errors.wrist_2d[0, :, 0], 12.0 / 224)
    np.testing.assert_allclose(errors.wrist_2d[1, :, 0], 6.0 / 64)


def test_aggregation_weights_every_valid_hand_step_and_groups():
    target = hand_chunk(horizon=4)
    valid = np.ones((4, 2), bool)
    first = motion_errors(hand_chunk(4, wrist=((-0.09, 0.0, 0.5), (0.1, 0.0, 0.5))), target, valid, K, (224, 224))
    valid_left_only = valid.copy()
    valid_left_only[:2, 1] = False
    second = motion_errors(
        hand_chunk(4, wrist=((-0.06, 0.0, 0.5), (0.14, 0.0, 0.5))), target, valid_left_only, K, (224, 224)
    )
    metrics = MotionMetrics(horizon=4, steps=(1, 4))
    metrics.add(first, source="egodex", task="pour")
    metrics.add(second, source="sim", task="pour")
    result = metrics.result()
    # first: left 1 cm x4 steps, right 0 x4; second: left 4 cm x4, right 4 cm x2 (steps 3, 4).
    overall = result["overall"]
    assert overall["samples"] == 2 and overall["hand_steps"] == 14
    assert overall["wrist_cm"] == pytest.approx((4 * 1 + 4 * 4 + 2 * 4) / 14)
    assert overall["at_step"]["1"]["wrist_cm"] == pytest.approx((1 + 0 + 4) / 3)
    assert overall["at_step"]["4"]["wrist_cm"] == pytest.approx((1 + 0 + 4 + 4) / 4)
    assert result["per_step"]["wrist_cm"] == pytest.approx([5 / 3, 5 / 3, 9 / 4, 9 / 4])
    assert result["by_hand"]["left"]["wrist_cm"] == pytest.approx(2.5)
    assert result["by_hand"]["right"]["wrist_cm"] == pytest.approx(8 / 6)
    assert result["by_source"]["egodex"]["wrist_cm"] == pytest.approx(0.5)
    assert result["by_source"]["sim"]["wrist_cm"] == pytest.approx(4.0)
    assert result["by_task"]["pour"]["samples"] == 2
    assert "2 samples, 14 hand-steps" in motion_summary_line(result)


def test_groups_with_no_valid_hands_report_none():
    metrics = MotionMetrics(horizon=30)
    errors = motion_errors(hand_chunk(), hand_chunk(), np.zeros((30, 2), bool), K, (224, 224))
    metrics.add(errors, source="x")
    result = metrics.result()
    assert result["overall"]["wrist_cm"] is None and result["by_source"]["x"]["hand_steps"] == 0
    assert "wrist n/a" in motion_summary_line(result)


def test_report_steps_must_lie_in_the_horizon():
    with pytest.raises(ValueError, match="outside the horizon"):
        MotionMetrics(horizon=30, steps=(0, 31))
    assert steps_for_seconds((1 / 3, 1.0, 5.0), fps=30, horizon=30) == (10, 30)
