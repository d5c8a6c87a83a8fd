"""The hold-the-current-pose baseline in closed loop: the robot stays where it is and the task is not done."""

from __future__ import annotations

import numpy as np
import pytest

from dexego.errors import ConfigError
from dexego.evaluate.sim_policy import HoldPoseFactory, SimPolicyConfig
from dexego.sim.env import EnvConfig, HumanoidTaskEnv


def test_holding_the_pose_keeps_the_wrists_still_and_does_not_solve_the_task():
    factory = HoldPoseFactory(SimPolicyConfig(query_every=4))
    policy = factory("Close-Drawer")
    env = HumanoidTaskEnv("Close-Drawer", EnvConfig(image_size=32, horizon=40))
    try:
        obs, _ = env.reset(seed=1_000_000_123)
        policy.reset(1_000_000_123)
        start, _ = env.ee_poses()
        drawer = obs["object_joint_pos"].copy()
        for _ in range(40):
            obs, _, terminated, truncated, info = env.step(policy.act(obs))
            if terminated or truncated:
                break
        end, _ = env.ee_poses()
    finally:
        env.close()
        policy.close()
    assert np.linalg.norm(end - start, axis=1).max() < 0.01  # metres: both wrists held within 1 cm
    assert np.abs(obs["object_joint_pos"] - drawer).max() < 0.01  # the drawer is not moved
    assert not info["success"]
    assert factory.describe()["spec"] == "hold"


def test_a_hold_horizon_below_one_is_refused():
    with pytest.raises(ConfigError, match="horizon"):
        HoldPoseFactory(horizon=0)
