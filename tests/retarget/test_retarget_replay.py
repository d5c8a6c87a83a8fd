import numpy as np
import torch

from dexego.geometry.rotations import axis_angle_to_matrix
from dexego.geometry.transforms import apply_transform, make_transform
from dexego.retarget.hand_retarget import knuckle_aligned_targets
from dexego.retarget.replay import human_to_robot_actions, replay_task
from dexego.retarget.robots import load_robot


def test_knuckle_alignment_of_the_robots_own_hand_is_the_identity():
    hand = load_robot("inspire_hand_right", dtype=torch.float64).hands["right"]
    q = hand.lower + (hand.upper - hand.lower) * torch.rand(
        12, 6, generator=torch.Generator().manual_seed(2), dtype=torch.float64
    )
    pose = make_transform(
        axis_angle_to_matrix(torch.tensor([0.4, 0.1, -0.7], dtype=torch.float64)),
        torch.tensor([0.1, 0.2, 0.9], dtype=torch.float64),
    )
    world = apply_transform(pose, hand.keypoints21(q))[None]
    targets, ok, offset = knuckle_aligned_targets(world, hand)
    assert ok.all()
    torch.testing.assert_close(offset, torch.zeros_like(offset), atol=1e-9, rtol=0)
    tips = [4, 8, 12, 16, 20]
    # No middle-finger joints on the robot: the finger ratio falls back to the default human scale about the knuckles.
    knuckles = hand.keypoints21(hand.joint_map.middle())[[5, 9, 17]].mean(0)
    expected = knuckles + hand.human_scale() * (hand.keypoints21(q)[:, tips] - knuckles)
    torch.testing.assert_close(targets[0][:, tips], expected, atol=1e-9, rtol=0)


def test_human_to_robot_actions_layout_and_missing_hands():
    robot = load_robot("h1_inspire", dtype=torch.float64)
    hand = robot.hands["left"]
    q = hand.joint_map.middle().expand(6, 6)
    kp = np.full((6, 2, 21, 3), np.nan)
    kp[:, 0] = hand.keypoints21(q).numpy() * 0.8 + np.array([0.3, 0.2, 1.0])
    kp[:, 1] = kp[:, 0] * np.array([1, -1, 1])
    valid = np.ones((6, 2), dtype=bool)
    valid[3:, 1] = False
    kp[3:, 1] = np.nan
    actions, error = human_to_robot_actions(robot, kp, valid)
    assert actions.shape == (6, 30) and np.isfinite(actions).all() and np.isfinite(error)
    np.testing.assert_array_equal(actions[3:, 15:], np.repeat(actions[2:3, 15:], 3, 0))


def test_a_retargeted_human_demo_succeeds_on_the_robot():
    result = replay_task("Flip-Mug", seed=0)
    assert result.human_success and result.robot_success
