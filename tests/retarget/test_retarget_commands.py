"""The one converter from policy output to robot commands: ego48, mano and robot joint spaces."""

import numpy as np
import pytest
import torch

from dexego.actions import get_space
from dexego.actions.robot import RobotActionConfig, register_robot_spaces
from dexego.errors import ConfigError, InputError
from dexego.geometry import matrix_to_rot6d
from dexego.retarget.commands import CommandConfig, PolicyToRobot, observation_camera_pose
from dexego.retarget.robots import load_robot, robot_action_config
from dexego.retarget.to_human import robot_to_ego48, robot_to_mano_action

STEPS = 6


@pytest.fixture(scope="module")
def robot():
    return load_robot("h1_inspire", dtype=torch.float64)


@pytest.fixture(scope="module")
def motion(robot):
    """Known hand joints and wrist poses over a few steps, a camera, and the end-effector poses they imply."""
    hands = (robot.hands["left"], robot.hands["right"])
    t = torch.linspace(0, 1, STEPS, dtype=torch.float64)[:, None]
    joints = torch.stack([h.lower + (h.upper - h.lower) * (0.3 + 0.3 * t) for h in hands], 1)  # (T, 2, 6)
    wrist = torch.eye(4, dtype=torch.float64).expand(STEPS, 2, 4, 4).clone()
    wrist[:, 0, :3, 3] = torch.tensor([0.35, 0.2, 1.05]) + t * torch.tensor([0.05, 0.0, 0.0])
    wrist[:, 1, :3, 3] = torch.tensor([0.35, -0.2, 1.05])
    camera = np.eye(4)
    camera[:3, 3] = [0.0, 0.0, 1.6]
    ee = np.stack([np.stack([robot.arms[s].wrist_to_end_effector(wrist[k, h]).numpy() for h, s in enumerate(("left", "right"))])
                   for k in range(STEPS)])  # fmt: skip
    return hands, joints, wrist, camera, ee


def _current(ee, joints):
    def hook(observation):
        return np.concatenate([ee[:, :3, 3], matrix_to_rot6d(ee[:, :3, :3])], axis=1), joints

    return hook


def test_ego48_steps_come_back_as_the_wrists_and_joints_they_were_made_from(robot, motion):
    hands, joints, wrist, camera, ee = motion
    ego = robot_to_ego48(hands, joints, wrist, np.repeat(camera[None], STEPS, 0))
    convert = PolicyToRobot(
        robot, "ego48", camera, _current(ee[0], joints[0].numpy()), CommandConfig(retarget_iterations=10)
    )
    commands = np.stack([convert(ego[k], {}) for k in range(STEPS)]).reshape(STEPS, 2, 15)
    np.testing.assert_allclose(commands[..., :3], ee[..., :3, 3], atol=1e-5)
    np.testing.assert_allclose(commands[..., 3:9], matrix_to_rot6d(ee[..., :3, :3]), atol=1e-5)
    reached = torch.stack([h.fingertips(torch.tensor(commands[:, i, 9:])) for i, h in enumerate(hands)], 1)
    expected = torch.stack([h.fingertips(joints[:, i]) for i, h in enumerate(hands)], 1)
    assert float((reached - expected).norm(dim=-1).max()) < 2e-3
    # A missing right hand (zeros) keeps its last command; the left one moves on.
    missing = ego[-1].copy()
    missing[24:] = 0
    missing[0] += 0.01
    held = convert(missing, {}).reshape(2, 15)
    np.testing.assert_allclose(held[1], commands[-1, 1])
    assert not np.allclose(held[0, :3], commands[-1, 0, :3]) and convert.kept.tolist() == [0, 1]


def test_the_first_command_of_invalid_hands_is_the_current_pose(robot, motion):
    hands, joints, wrist, camera, ee = motion
    convert = PolicyToRobot(robot, "ego48", observation_camera_pose, _current(ee[2], joints[2].numpy()))
    first = convert(np.full(48, np.nan), {"world_from_camera": camera}).reshape(2, 15)
    np.testing.assert_allclose(first[:, :3], ee[2, :, :3, 3], atol=1e-12)
    np.testing.assert_allclose(first[:, 9:], joints[2].numpy(), atol=1e-12)
    with pytest.raises(InputError, match="48 values"):
        convert(np.zeros(47), {"world_from_camera": camera})
    with pytest.raises(InputError, match="world_from_camera"):
        convert(np.zeros(48), {})


def _space_action(space, wrist_in_camera, joints_by_name):
    action = np.zeros(space.dim)
    for h in range(2):
        action[space.part_slice("wrist_pos", h)] = wrist_in_camera[h, :3, 3]
        action[space.part_slice("wrist_rot6d", h)] = matrix_to_rot6d(wrist_in_camera[h, :3, :3])
    for dim, name in zip(space.joint_index(), space.joint_names):
        if name:
            action[dim] = joints_by_name[name]
    return action


def test_joint_space_commands_are_the_predicted_joints_by_name_clipped_to_their_limits(robot, motion):
    hands, joints, wrist, camera, ee = motion
    config = robot_action_config("h1_inspire")
    register_robot_spaces(config)
    # A description listing the joints in another order (and a padded space) still commands each joint by name.
    shuffled = RobotActionConfig(name="h1_shuffled", left_joints=config.left_joints[::-1], right_joints=config.right_joints,
                                 left_lower=config.left_lower[::-1], left_upper=config.left_upper[::-1],
                                 right_lower=config.right_lower, right_upper=config.right_upper)  # fmt: skip
    register_robot_spaces(shuffled)
    shuffled_robot = load_robot("h1_inspire", dtype=torch.float64)
    shuffled_robot.name = "h1_shuffled"
    camera_from_wrist = np.linalg.inv(camera) @ wrist[3].numpy()
    values = {n: float(q) for h, hand in enumerate(hands) for n, q in zip(hand.joint_names, joints[3, h])}
    values["left_index_proximal"] = 5.0  # beyond its upper limit
    for name, bot in (
        ("robot:h1_inspire", robot),
        ("ego48+robot:h1_inspire", robot),
        ("robot:h1_shuffled", shuffled_robot),
    ):
        space = get_space(name)
        convert = PolicyToRobot(bot, name, camera, _current(ee[0], joints[0].numpy()))
        command = convert(_space_action(space, camera_from_wrist, values), {}).reshape(2, 15)
        np.testing.assert_allclose(command[:, :3], ee[3, :, :3, 3], atol=1e-9)
        np.testing.assert_allclose(command[:, 3:9], matrix_to_rot6d(ee[3, :, :3, :3]), atol=1e-9)
        wanted = np.array([[values[n] for n in hand.joint_names] for hand in hands])
        wanted[0, 2] = float(hands[0].upper[2])
        np.testing.assert_allclose(command[:, 9:], wanted, atol=1e-9)
        assert convert.solves == 0  # no retargeting in a joint space


def test_joint_space_of_another_robot_is_refused(robot):
    register_robot_spaces(RobotActionConfig(name="two_finger", left_joints=("a",), right_joints=("b",)))
    with pytest.raises(InputError, match="not in action space"):
        PolicyToRobot(robot, "robot:two_finger", np.eye(4), _current(np.eye(4)[None].repeat(2, 0), np.zeros((2, 6))))


def test_mano_needs_the_mano_files(robot):
    with pytest.raises(ConfigError, match="MANO_LEFT.pkl"):
        PolicyToRobot(robot, "mano", np.eye(4), lambda obs: None)


def test_mano_steps_place_the_wrists_and_close_the_fingers(robot, motion, synthetic_mano_dir):
    from dexego.retarget.commands import load_mano_pair

    hands, joints, wrist, camera, ee = motion
    manos = load_mano_pair(synthetic_mano_dir)
    camera_from_wrist = torch.as_tensor(np.linalg.inv(camera)) @ wrist[:2]
    mano_action, _ = robot_to_mano_action(hands, manos, joints[:2], camera_from_wrist, iterations=30)
    convert = PolicyToRobot(robot, "mano", camera, _current(ee[0], joints[0].numpy()), mano=manos)
    commands = np.stack([convert(mano_action[k], {}) for k in range(2)]).reshape(2, 2, 15)
    assert np.isfinite(commands).all() and convert.solves > 0 and convert.kept.tolist() == [0, 0]
    # The wrist goes where the MANO root was fitted (the hand frame of the decoded keypoints): within a centimetre.
    assert np.linalg.norm(commands[..., :3] - ee[:2, :, :3, 3], axis=-1).max() < 0.01
