"""Robot action spaces: layout from the robot description, per-dimension masks, registration."""

import numpy as np
import pytest

from dexego.actions import get_space
from dexego.actions.robot import RobotActionConfig, build_robot_space, register_robot_spaces
from dexego.actions.spaces import split_space_name
from dexego.errors import ConfigError

ARMS = RobotActionConfig(name="test_arms", left_joints=("l0", "l1", "l2"), right_joints=("r0", "r1"),
                         left_lower=(0.0, 0.0, 0.0), left_upper=(1.0, 1.0, 1.0), right_lower=(-1.0, -1.0), right_upper=(1.0, 2.0))  # fmt: skip


def test_robot_space_layout_names_limits_and_padding():
    space = build_robot_space(ARMS)
    assert space.name == "robot:test_arms" and space.hand_dim == 9 + 3 and space.dim == 24
    assert space.joint_names == ("l0", "l1", "l2", "r0", "r1", "")  # the right arm has one joint fewer: padded
    assert space.joint_upper[3:5] == (1.0, 2.0) and space.joint_upper[5] == np.inf
    assert space.joint_index().tolist() == [9, 10, 11, 21, 22, 23]
    robot = space.carried(True)
    assert robot.sum() == 23 and not robot[23]  # the padding is never carried
    assert not space.carried(False).any()  # a human sample carries nothing of a robot-only space
    assert space.names()[9] == "left.joints.l0" and space.names()[12] == "right.wrist_pos.0"


def test_padded_space_human_samples_carry_the_hand_space_only():
    space = build_robot_space(ARMS, "ego48")
    assert space.name == "ego48+robot:test_arms" and space.dim == 2 * (24 + 3)
    human = space.carried(False)
    ego48 = get_space("ego48")
    assert human.sum() == ego48.dim and not human[space.joint_index()].any()
    # The hand-space parts sit where ego48 has them within each hand's block.
    assert space.part_slice("fingertips", 1) == slice(27 + 9, 27 + 24)
    assert space.carried(True).sum() == space.dim - 1


def test_registration_makes_the_names_known_and_refuses_a_conflicting_robot():
    with pytest.raises(ConfigError, match="not declared"):
        get_space("ego48+robot:test_arms_unregistered")
    register_robot_spaces(ARMS)
    register_robot_spaces(ARMS)  # the same robot again is fine
    assert get_space("mano+robot:test_arms").hand_space == "mano"
    with pytest.raises(ConfigError, match="already registered"):
        register_robot_spaces(RobotActionConfig(name="test_arms", left_joints=("x",), right_joints=("y",)))
    with pytest.raises(ConfigError, match="not a hand space"):
        split_space_name("foo+robot:test_arms")
    with pytest.raises(ConfigError, match="repeated"):
        RobotActionConfig(name="bad", left_joints=("a", "a"))
    with pytest.raises(ConfigError, match="2 values for 1"):
        RobotActionConfig(name="bad", left_joints=("a",), left_lower=(0.0, 1.0))


def test_the_benchmark_robot_description_declares_its_hand_joints():
    from dexego.retarget.robots import load_robot, robot_action_config

    config = robot_action_config("h1_inspire")
    robot = load_robot("h1_inspire")
    assert config.name == "h1_inspire" and config.left_joints == robot.hands["left"].joint_names
    np.testing.assert_allclose(config.right_upper, robot.hands["right"].upper.numpy())
    register_robot_spaces(config)
    assert get_space("robot:h1_inspire").dim == 2 * (9 + 6)


def test_policy_config_checks_the_robot_and_the_head():
    from dexego.config import load_config
    from dexego.models import PolicyConfig

    register_robot_spaces(ARMS)
    robot = {"name": "test_arms", "left_joints": ["l0", "l1", "l2"], "right_joints": ["r0", "r1"],
             "left_lower": [0.0, 0.0, 0.0], "left_upper": [1.0, 1.0, 1.0], "right_lower": [-1.0, -1.0], "right_upper": [1.0, 2.0]}  # fmt: skip
    config = load_config(PolicyConfig, {"action_space": "ego48+robot:test_arms", "robot": robot})
    assert config.action_dim == 54
    with pytest.raises(ConfigError, match="needs the robot's hand joints"):
        load_config(PolicyConfig, {"action_space": "robot:test_arms"})
    with pytest.raises(ConfigError, match="names robot 'other'"):
        load_config(PolicyConfig, {"action_space": "robot:other", "robot": robot})
    with pytest.raises(ConfigError, match="tokens head"):
        load_config(PolicyConfig, {"action_space": "robot:test_arms", "robot": robot, "head": "tokens"})
