"""``sim eval`` runs policies of every action space a robot can be commanded from: mano (with MANO files), joints."""

import numpy as np
import pytest

from dexego.errors import ConfigError

pytestmark = pytest.mark.timeout(300)
IMAGE = 32


def _save_policy(path, space, stats=None, robot=None):
    import torch

    from dexego.config import load_config
    from dexego.models import Policy, PolicyConfig

    config = {"action_space": space, "horizon": 8, "n_obs_frames": 2,
              "tiny": {"image_size": IMAGE, "patch_size": 16, "width": 32, "depth": 1, "heads": 2, "max_text_bytes": 16},
              "regression": {"width": 32, "depth": 1, "heads": 2}}  # fmt: skip
    if robot is not None:
        config["robot"] = robot
    torch.manual_seed(0)
    Policy(load_config(PolicyConfig, config), stats).save(path)
    return path


def _run(policy_dir, steps=8, mano_dir=""):
    from dexego.evaluate.sim_policy import CheckpointPolicyFactory, SimPolicyConfig
    from dexego.sim.env import HumanoidTaskEnv

    policy = CheckpointPolicyFactory(str(policy_dir), SimPolicyConfig(query_every=4, mano_dir=mano_dir))("Push-Box")
    env = HumanoidTaskEnv("Push-Box", render=True, image_size=IMAGE, horizon=steps)
    try:
        obs, _ = env.reset(seed=0)
        policy.reset(0)
        actions = []
        for _ in range(steps):
            actions.append(policy.act(obs))
            obs = env.step(actions[-1])[0]
        return policy, np.stack(actions), obs
    finally:
        policy.close()
        env.close()


@pytest.fixture
def mano_state(synthetic_mano_dir):
    """The robot's current hands in the mano space (MANO fitted to the robot fingertips), at the env's reset pose."""
    from dexego.evaluate.sim_observation import HistoryConfig, ObservationHistory, SimRobotGeometry
    from dexego.retarget.commands import load_mano_pair
    from dexego.sim.env import HumanoidTaskEnv

    env = HumanoidTaskEnv("Push-Box", render=True, image_size=IMAGE)
    try:
        obs, _ = env.reset(seed=0)
        geometry = SimRobotGeometry.from_env(env)
        history = ObservationHistory(
            geometry, HistoryConfig(frames=2, action_space="mano"), mano=load_mano_pair(synthetic_mano_dir)
        )
        history.push(obs)
        return history()["state"], obs
    finally:
        env.close()


@pytest.mark.slow  # MANO fits of the robot's hands at every query: minutes on a loaded 2-core machine
def test_a_mano_policy_runs_with_the_mano_files_and_fails_clearly_without(tmp_path, mano_state, synthetic_mano_dir):
    state, reset_obs = mano_state
    assert state.shape == (48,) and np.isfinite(state).all()
    # A policy whose chunks are the current hands (tiny spread around them): the robot must hold still.
    stats = {"mean": state.astype(np.float64), "std": np.full(48, 1e-3)}
    policy_dir = _save_policy(tmp_path / "mano", "mano", stats)
    with pytest.raises(ConfigError, match="MANO_LEFT.pkl"):
        _run(policy_dir)
    policy, actions, obs = _run(policy_dir, steps=8, mano_dir=str(synthetic_mano_dir))
    assert policy.action_space == "mano" and policy.chunked.queries == 2
    assert (
        policy.converter.kept.tolist() == [0, 0] and policy.converter.solves > 0
    )  # decoded, retargeted: real commands
    assert actions.shape == (8, 30) and np.isfinite(actions).all()
    # The wrists are commanded where they are (within 2 cm: MANO's average hand vs the robot's palm).
    per_hand = actions.reshape(8, 2, 15)
    assert np.abs(per_hand[:, :, :3] - reset_obs["ee_pose"][None, :, :3]).max() < 0.02


def test_a_mano_policy_without_the_mano_files_is_one_clear_error(tmp_path, capsys):
    from dexego.cli import main

    policy_dir = _save_policy(tmp_path / "mano", "mano")
    args = ["sim", "eval", "--policy", str(policy_dir), "--tasks", "Push-Box", "--episodes", "1", "--horizon", "2",
            "--image-size", str(IMAGE), "--out", str(tmp_path / "r.json")]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "MANO_LEFT.pkl" in err and "--mano-dir" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r.json").exists()


def test_a_joint_space_policy_commands_its_predicted_joints(tmp_path):
    from dataclasses import asdict

    from dexego.actions import get_space
    from dexego.actions.robot import register_robot_spaces
    from dexego.evaluate.sim_observation import HistoryConfig, ObservationHistory, SimRobotGeometry
    from dexego.retarget.robots import robot_action_config
    from dexego.sim.env import HumanoidTaskEnv

    robot = robot_action_config("h1_inspire")
    register_robot_spaces(robot)
    space = get_space("robot:h1_inspire")
    env = HumanoidTaskEnv("Push-Box", render=True, image_size=IMAGE)
    try:
        obs, _ = env.reset(seed=0)
        history = ObservationHistory(SimRobotGeometry.from_env(env), HistoryConfig(frames=2, action_space=space.name))
        history.push(obs)
        state = history()["state"]
    finally:
        env.close()
    np.testing.assert_allclose(state[space.joint_index()], obs["hand_joint_pos"].ravel(), atol=1e-6)
    mean = state.astype(np.float64)
    mean[space.joint_index()] = 0.5  # half-closed fingers, wrists where they are, whatever the images say
    policy_dir = _save_policy(
        tmp_path / "joints", space.name, {"mean": mean, "std": np.full(space.dim, 1e-4)}, asdict(robot)
    )
    policy, actions, _ = _run(policy_dir)
    assert policy.converter.solves == 0 and policy.converter.kept.tolist() == [0, 0]
    per_hand = actions.reshape(8, 2, 15)
    # Normalised outputs times the floored scale (1e-2) spread the predictions by about a centimetre / a few 0.01 rad.
    np.testing.assert_allclose(per_hand[:, :, 9:], 0.5, atol=0.05)
    assert np.abs(per_hand[:, :, :3] - obs["ee_pose"][None, :, :3]).max() < 0.03
