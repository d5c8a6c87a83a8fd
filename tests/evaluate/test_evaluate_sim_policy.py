"""The simulator adapter for ego48 policies: observations as training samples, ego48 -> robot actions, factory, CLI."""

import json
import pickle

import numpy as np
import pytest

from dexego.data import features as F
from dexego.data.samples import SampleConfig, build_samples, history_frames
from dexego.errors import ConfigError, InputError
from dexego.evaluate.sim_observation import HistoryConfig, ObservationHistory, SimRobotGeometry
from dexego.evaluate.sim_policy import CheckpointPolicyFactory, SimPolicyConfig, model_sim_policy, sim_current
from dexego.retarget.commands import CommandConfig, PolicyToRobot

pytestmark = pytest.mark.timeout(300)
IMAGE = 64


@pytest.fixture(scope="module")
def env():
    from dexego.sim.env import HumanoidTaskEnv

    env = HumanoidTaskEnv("Push-Box", render=True, image_size=IMAGE)
    yield env
    env.close()


@pytest.fixture(scope="module")
def geometry(env):
    return SimRobotGeometry.from_env(env)


@pytest.fixture(scope="module")
def expert_run(env):
    """An expert episode: its observations, and what the dataset records (as dexego.sim.demos does)."""
    from dexego.sim.expert import ScriptedExpert

    expert = ScriptedExpert("Push-Box")
    obs, _ = env.reset(seed=3, options={"room": 2, "table": 1})
    expert.reset(3)
    observations, keypoints, cameras = [], [], []
    for _ in range(45):
        observations.append(obs)
        keypoints.append(env.hand_keypoints())
        cameras.append(env.camera_pose())
        obs, _, terminated, truncated, _ = env.step(expert.act(obs))
        if terminated or truncated:
            break
    return observations, np.stack(keypoints), np.stack(cameras), env.intrinsics()


def _samples(keypoints, cameras, intrinsics, anchors, frames):
    n = len(keypoints)
    columns = {
        F.FRAME_INDEX: np.arange(n),
        F.KEYPOINTS: keypoints.astype(np.float32).reshape(n, -1),
        F.HAND_VALID: np.ones((n, 2), bool),
        F.CAMERA_POSE: cameras.astype(np.float32).reshape(n, 16),
        F.INTRINSICS: np.tile(intrinsics.vector, (n, 1)),
    }
    config = SampleConfig(image_size=(IMAGE, IMAGE))
    images = [frames[history_frames(a, 30.0, config)[0]] for a in anchors]
    meta = {"embodiment": "h1_inspire", "source": "sim", "episode_index": 0}
    return build_samples(columns, images, anchors, 30.0, config, (IMAGE, IMAGE), meta, ["push"] * len(anchors))


def test_geometry_reproduces_the_simulators_keypoints_and_camera(env, geometry):
    obs, _ = env.reset(seed=1)
    rng = np.random.default_rng(0)
    for _ in range(6):
        np.testing.assert_allclose(geometry.world_from_camera, env.camera_pose(), atol=1e-9)
        ours, theirs = geometry.hand_keypoints(obs), env.hand_keypoints()
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
        np.testing.assert_allclose(ours[~np.isnan(ours)], theirs[~np.isnan(theirs)], atol=1e-9)
        pos, rot = env.ee_poses()
        hand = rng.uniform(0, 1.0, size=(2, 6))  # closes the fingers: tips move, the palm stays rigid
        obs = env.step(env.ee_action(pos + rng.normal(scale=0.02, size=(2, 3)), rot, hand))[0]
    with pytest.raises(InputError, match="fingertips"):
        geometry.hand_keypoints({"ee_pose": obs["ee_pose"], "fingertips": np.zeros((2, 4, 3))})


def test_history_matches_training_samples(expert_run, geometry):
    observations, keypoints, cameras, intrinsics = expert_run
    frames = np.stack([o["image"].transpose(2, 0, 1) for o in observations])
    history = ObservationHistory(geometry, HistoryConfig(image_size=None))
    anchors = [0, 4, 6, 29, 30, len(observations) - 1]
    samples = dict(zip(anchors, _samples(keypoints, cameras, intrinsics, anchors, frames)))
    assert len(observations) > 31  # past the first frame being dropped from the buffer
    for step, obs in enumerate(observations):
        history.push(obs)
        if step not in samples:
            continue
        model_obs, sample = history(), samples[step]
        np.testing.assert_array_equal(model_obs["images"], sample["images"])
        np.testing.assert_array_equal(model_obs["image_mask"], sample["image_mask"])
        np.testing.assert_allclose(model_obs["state"], sample["state"], atol=2e-5)
        np.testing.assert_array_equal(model_obs["state_valid"], sample["state_valid"])
        np.testing.assert_allclose(model_obs["fov"], sample["fov"], rtol=1e-6)
        np.testing.assert_allclose(model_obs["intrinsics"], sample["intrinsics"], rtol=1e-6)
        assert model_obs["instruction"] == geometry.instruction and model_obs["frame_index"] == step
    assert samples[4]["image_mask"].tolist() == [False] * 5 + [True]  # the layout really has padding


def test_history_resizes_to_the_policy_size_and_keeps_the_fov(expert_run, geometry):
    history = ObservationHistory(geometry, HistoryConfig(frames=3, image_size=32))
    history.push(expert_run[0][0])
    obs = history()
    assert obs["images"].shape == (3, 3, 32, 32) and obs["images"].dtype == np.uint8
    np.testing.assert_allclose(obs["intrinsics"], np.asarray(geometry.intrinsics.vector) / 2, rtol=1e-6)
    np.testing.assert_allclose(obs["fov"], geometry.intrinsics.fov, rtol=1e-6)
    with pytest.raises(InputError, match="image"):
        history.push({k: v for k, v in expert_run[0][0].items() if k != "image"})


@pytest.fixture(scope="module")
def converter(geometry):
    return PolicyToRobot(
        "h1_inspire", "ego48", geometry.world_from_camera, sim_current, CommandConfig(retarget_iterations=8)
    )


def test_current_hands_convert_back_to_the_current_robot_command(expert_run, geometry, converter):
    observations = expert_run[0]
    obs = observations[30]  # mid-motion, fingers away from their limits
    history = ObservationHistory(geometry, HistoryConfig())
    history.push(obs)
    converter.reset()
    command = converter(history()["state"], obs).reshape(2, 15)
    np.testing.assert_allclose(command[:, :3], obs["ee_pose"][:, :3], atol=1e-5)
    np.testing.assert_allclose(command[:, 3:9], obs["ee_pose"][:, 3:], atol=1e-4)
    # Hand joints: the fingertips they reach are the observed ones (robot-scale ego48).
    import torch

    for h, hand in enumerate(converter.hands):
        q = torch.as_tensor(command[h, 9:], dtype=hand.dtype)  # the hand order is the simulator's
        reached = hand.fingertips(q).double().numpy()
        wanted = history()["state"][24 * h + 9 : 24 * h + 24].reshape(5, 3)
        assert np.linalg.norm(reached - wanted, axis=-1).mean() < 0.003


def test_invalid_hands_keep_their_last_command(expert_run, geometry, converter):
    obs = expert_run[0][30]
    history = ObservationHistory(geometry, HistoryConfig())
    history.push(obs)
    state = history()["state"]
    converter.reset()
    first = converter(np.zeros(48), obs).reshape(2, 15)  # both hands invalid: hold the robot's current pose
    np.testing.assert_allclose(first[:, :3], obs["ee_pose"][:, :3], atol=1e-9)
    np.testing.assert_allclose(first[:, 9:], obs["hand_joint_pos"], atol=1e-6)
    moved = state.copy()
    moved[0:3] += [0.05, 0.0, 0.0]  # left wrist 5 cm along the camera x axis
    moved[24:48] = np.nan  # right hand invalid
    command = converter(moved, obs).reshape(2, 15)
    shift = geometry.world_from_camera[:3, :3] @ np.array([0.05, 0.0, 0.0])
    np.testing.assert_allclose(command[0, :3], obs["ee_pose"][0, :3] + shift, atol=1e-5)
    np.testing.assert_allclose(command[1], first[1], atol=1e-9)
    assert converter.kept.tolist() == [1, 2]
    with pytest.raises(InputError, match="48 values"):
        converter(np.zeros(47), obs)


class _FixedChunk:
    def __init__(self, chunk):
        self.chunk, self.observations = chunk, []

    def predict_action_chunk(self, observation):
        self.observations.append(observation)
        return self.chunk


def test_model_sim_policy_queries_every_k_steps_and_records_history_every_step(env):
    obs, _ = env.reset(seed=0)
    chunk = np.zeros((8, 48), np.float32)  # invalid hands: the robot holds its pose
    source = _FixedChunk(chunk)
    policy = model_sim_policy(
        source, "Push-Box", SimPolicyConfig(query_every=3), info={"action_space": "ego48", "obs_frames": 2}
    )
    policy.reset(0)
    for _ in range(7):
        action = policy.act(obs)
        obs = env.step(action)[0]
    assert [int(o["frame_index"]) for o in source.observations] == [0, 3, 6]
    # 2 frames, 0.2 s apart at 30 Hz: step 6 sees frames 0 and 6, both real.
    assert source.observations[-1]["images"].shape == (2, 3, IMAGE, IMAGE)
    assert source.observations[-1]["image_mask"].tolist() == [True, True]
    assert source.observations[1]["image_mask"].tolist() == [False, True]
    with pytest.raises(ConfigError, match="kp21"):
        model_sim_policy(source, "Push-Box", info={"action_space": "kp21"})


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from dexego.config import load_config
    from dexego.models import Policy, PolicyConfig

    config = {"horizon": 8, "tiny": {"image_size": 32, "patch_size": 16, "width": 32, "depth": 1, "heads": 2, "max_text_bytes": 16},
              "regression": {"width": 32, "depth": 1, "heads": 2}}  # fmt: skip
    path = tmp_path_factory.mktemp("policy") / "tiny"
    import torch

    torch.manual_seed(0)
    Policy(load_config(PolicyConfig, config), None).save(path)
    return path


def test_factory_is_picklable_and_checks_its_spec(tiny_checkpoint, tmp_path):
    factory = CheckpointPolicyFactory(str(tiny_checkpoint), SimPolicyConfig(query_every=2))
    copy = pickle.loads(pickle.dumps(factory))
    assert copy.spec == str(tiny_checkpoint) and copy.describe()["query_every"] == 2
    with pytest.raises(InputError, match="not found"):
        CheckpointPolicyFactory(str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="query_every"):
        SimPolicyConfig(query_every=0)


def test_server_and_in_process_checkpoints_command_the_robot_identically(tiny_checkpoint, env):
    from dexego.serve import PolicyServer, ServerConfig, ServerThread, dexego_observation_spec
    from dexego.serve.loading import load_policy, policy_info

    config = SimPolicyConfig(query_every=2, image_size=32)  # the server does not report the image size
    model = load_policy(tiny_checkpoint)
    server = PolicyServer(
        model, ServerConfig(port=0), metadata=policy_info(model), observation_spec=dexego_observation_spec(48)
    )
    with ServerThread(server) as handle:
        remote = CheckpointPolicyFactory(handle.url, config)("Push-Box")
        local = CheckpointPolicyFactory(str(tiny_checkpoint), config)("Push-Box")
        try:
            obs, _ = env.reset(seed=0)
            remote.reset(0), local.reset(0)
            for _ in range(4):
                a, b = remote.act(obs), local.act(obs)
                np.testing.assert_allclose(a, b, atol=1e-5)
                assert a.shape == (30,) and np.isfinite(a).all()
                obs = env.step(b)[0]
            assert remote.chunked.queries == local.chunked.queries == 2
        finally:
            remote.close()


def test_cli_evaluates_a_checkpoint(tiny_checkpoint, tmp_path):
    from dexego.cli import main

    out = tmp_path / "results.json"
    args = ["sim", "eval", "--policy", str(tiny_checkpoint), "--tasks", "Push-Box", "--episodes", "1",
            "--horizon", "6", "--image-size", "64", "--query-every", "3", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    results = json.loads(out.read_text())
    assert len(results["rollouts"]) == 1 and results["rollouts"][0]["steps"] <= 6
    assert results["adapter"]["query_every"] == 3 and results["adapter"]["spec"] == str(tiny_checkpoint)
    assert set(results["tasks"]) == {"Push-Box"} and out.with_suffix(".md").is_file()
