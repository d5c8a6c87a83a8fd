import numpy as np
import pytest
import torch

from dexego.geometry.rotations import axis_angle_to_matrix
from dexego.geometry.transforms import apply_transform, make_transform
from dexego.retarget import HandRetargetConfig, HandRetargeter, ego48_to_targets, human_to_targets
from dexego.retarget.robots import load_robot
from dexego.retarget.to_human import robot_to_ego48


@pytest.fixture(scope="module")
def inspire():
    return load_robot("h1_inspire", dtype=torch.float64).hands


def _random_joints(hand, count, seed):
    gen = torch.Generator().manual_seed(seed)
    return hand.lower + (hand.upper - hand.lower) * torch.rand(count, hand.num_joints, generator=gen, dtype=hand.dtype)


def _smooth_joints(hand, steps, seed):
    gen = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 1, steps, dtype=hand.dtype)[:, None]
    freq, phase = (
        1 + 2 * torch.rand(hand.num_joints, generator=gen, dtype=hand.dtype),
        torch.rand(hand.num_joints, generator=gen, dtype=hand.dtype),
    )
    return hand.lower + (hand.upper - hand.lower) * (0.5 + 0.45 * torch.sin(2 * np.pi * (freq * t + phase)))


@pytest.mark.parametrize("side", ["left", "right"])
def test_own_fingertips_are_recovered_below_one_millimetre(inspire, side):
    hand = inspire[side]
    q = _random_joints(hand, 400, seed=3)
    targets = hand.keypoints21(q)[:, None]  # 400 independent one-frame sequences
    result = HandRetargeter(hand, HandRetargetConfig(smoothness=0.0)).retarget(targets)
    assert result.valid.all() and result.reachable.all()
    per_tip = (hand.fingertips(result.joints[:, 0]) - hand.fingertips(q)).norm(dim=-1)
    assert float(per_tip.max()) < 1e-3
    # The four fingers have one joint each: they come back exactly (the thumb's two joints are nearly redundant).
    torch.testing.assert_close(result.joints[:, 0, 2:], q[:, 2:], atol=1e-3, rtol=0)


def test_smooth_sequences_with_temporal_smoothness(inspire):
    hand = inspire["right"]
    q = torch.stack([_smooth_joints(hand, 120, seed) for seed in range(3)])  # (3, 120, 6)
    result = HandRetargeter(hand).retarget(hand.keypoints21(q))
    assert result.joints.shape == (3, 120, 6)
    assert float(result.fingertip_error.max()) < 1e-3
    jumps = (result.joints[:, 1:] - result.joints[:, :-1]).abs().max()
    assert float(jumps) < 0.2  # no frame flips to another thumb solution


def test_warm_start_from_previous_chunk(inspire):
    hand = inspire["right"]
    q = _smooth_joints(hand, 60, seed=5)
    targets = hand.keypoints21(q)
    retargeter = HandRetargeter(hand, HandRetargetConfig(grid_candidates=0, iterations=15))
    first = retargeter.retarget(targets[:30])
    second = retargeter.retarget(targets[30:], previous=first.joints[-1])
    assert float(second.fingertip_error.max()) < 1e-3
    assert float((second.joints[0] - first.joints[-1]).abs().max()) < 0.2


def test_nan_missing_and_unreachable_frames_are_flagged(inspire):
    hand = inspire["right"]
    q = _random_joints(hand, 6, seed=7)
    targets = hand.keypoints21(q)[:, None].clone()
    targets[1, 0, 8] = float("nan")  # index tip unknown
    targets[4, 0] = targets[4, 0] * 3.0  # far outside the hand's workspace
    valid = torch.ones(6, 1, dtype=torch.bool)
    valid[2] = False  # hand missing
    result = HandRetargeter(hand, HandRetargetConfig(smoothness=0.0)).retarget(targets, valid=valid)
    assert result.valid[:, 0].tolist() == [True, False, False, True, True, True]
    assert result.reachable[:, 0].tolist() == [True, False, False, True, False, True]
    assert torch.isnan(result.joints[1]).all() and torch.isnan(result.joints[2]).all()
    assert torch.isfinite(result.joints[4]).all() and float(result.fingertip_error[4, 0]) > 0.01
    assert ((result.joints[4] >= hand.lower - 1e-9) & (result.joints[4] <= hand.upper + 1e-9)).all()
    with pytest.raises(ValueError, match=r"targets must have shape \(..., T, 21, 3\)"):
        HandRetargeter(hand).retarget(torch.zeros(3, 5, 3))


def test_human_keypoints_in_any_frame_and_scale(inspire):
    """A 'human' hand = the robot's keypoints shrunk to human size and placed anywhere: joints come back."""
    hand = inspire["left"]
    q = _random_joints(hand, 50, seed=11)
    robot_local = hand.keypoints21(q)
    human_local = robot_local * (0.09 / hand.palm_length)
    pose = make_transform(
        axis_angle_to_matrix(torch.tensor([0.3, -1.2, 0.5], dtype=torch.float64)),
        torch.tensor([0.2, 0.4, 1.1], dtype=torch.float64),
    )
    world = apply_transform(pose, human_local)[None]  # one 50-frame sequence
    world[0, 7] = float("nan")
    targets, ok = human_to_targets(world, hand)
    assert ok[0].tolist() == [i != 7 for i in range(50)]
    result = HandRetargeter(hand, HandRetargetConfig(smoothness=0.0)).retarget(
        targets, valid=ok
    )  # frames are unrelated
    good = ok[0]
    assert float(result.fingertip_error[0, good].max()) < 2e-3
    torch.testing.assert_close(result.joints[0, good, 2:], q[good, 2:], atol=5e-3, rtol=0)


def test_ego48_round_trip_through_the_robot(inspire):
    hands = (inspire["left"], inspire["right"])
    steps = 40
    joints = torch.stack([_smooth_joints(h, steps, seed) for seed, h in enumerate(hands)], 1)  # (T, 2, 6)
    wrist = torch.eye(4, dtype=torch.float64).expand(steps, 2, 4, 4).clone()
    wrist[:, 0, :3, 3] = torch.tensor([0.3, 0.2, 1.0])
    wrist[:, 1, :3, 3] = torch.tensor([0.3, -0.2, 1.0])
    camera = torch.eye(4, dtype=torch.float64).expand(steps, 4, 4)
    valid = np.ones((steps, 2), dtype=bool)
    valid[5, 1] = False
    action = robot_to_ego48(hands, joints, wrist, camera, valid)
    assert action.shape == (steps, 48) and np.all(action[5, 24:] == 0)
    for side, hand in enumerate(hands):
        targets, ok = ego48_to_targets(action, hand, valid, scale=1.0)
        result = HandRetargeter(hand).retarget(targets, valid=ok)
        assert bool(result.valid[5]) == (side == 0)
        assert float(np.nanmax(result.fingertip_error.numpy())) < 1e-3


@pytest.mark.parametrize("change", [{"smoothness": -1.0}, {"fingertip_weight": float("nan")}, {"iterations": -1},
                                    {"grid_spacing": 0.0}, {"fingertip_weight": 0.0}])  # fmt: skip
def test_config_rejects_out_of_range_values(change):
    from dexego.errors import ConfigError

    with pytest.raises(ConfigError, match="hand retarget"):
        HandRetargetConfig(**change)
    assert HandRetargetConfig(iterations=0, grid_candidates=0).iterations == 0  # grid or initializer only is allowed
