"""Driving a policy through the server gives exactly the in-process actions (and so the same SR)."""

import numpy as np
import pytest
from serve_fakes import DIM, EchoPolicy, make_observation, start_server

from dexego.serve import (
    ChunkedPolicy,
    ChunkingConfig,
    PolicyServer,
    ServerConfig,
    ServerThread,
    close_policy,
    policy_from_spec,
)

pytestmark = pytest.mark.timeout(90)


class _ToyEnv:
    """Deterministic dynamics: the state moves towards the commanded action; images show the state."""

    def reset(self, seed):
        rng = np.random.default_rng(seed)
        self.state = rng.normal(size=DIM).astype(np.float32)
        self.seed = seed
        return self._obs()

    def _obs(self):
        obs = make_observation(self.seed, size=8)
        obs["state"] = self.state.copy()
        obs["images"] = np.clip(128 + 40 * self.state[:8].mean() + obs["images"] // 8, 0, 255).astype(np.uint8)
        return obs

    def step(self, action):
        self.state = (0.7 * self.state + 0.3 * np.tanh(action)).astype(np.float32)
        return self._obs()

    def success(self):
        return bool(np.abs(self.state).mean() < 1.0)


def _rollout(policy, seed, steps=12):
    env = _ToyEnv()
    obs = env.reset(seed)
    policy.reset(seed)
    actions = []
    for _ in range(steps):
        action = policy.act(obs)
        actions.append(action)
        obs = env.step(action)
    return np.stack(actions), env.success()


@pytest.mark.parametrize(
    "chunking", [ChunkingConfig(), ChunkingConfig(query_every=4), ChunkingConfig(query_every=5, ensemble=False)]
)
def test_remote_and_in_process_rollouts_are_identical(chunking):
    handle, served_policy = start_server()
    with handle:
        remote = policy_from_spec(handle.url, chunking=chunking)
        local = ChunkedPolicy(EchoPolicy(), chunking)
        try:
            for seed in (0, 1, 2):
                remote_actions, remote_success = _rollout(remote, seed)
                local_actions, local_success = _rollout(local, seed)
                assert remote_actions.dtype == local_actions.dtype
                np.testing.assert_array_equal(remote_actions, local_actions)
                assert remote_success == local_success
        finally:
            close_policy(remote)
    assert served_policy.calls == local.source.calls == local.queries


def test_policy_from_spec_takes_the_ensembling_split_from_the_server_metadata():
    handle, _ = start_server()
    with handle:
        remote = policy_from_spec(handle.url)
        try:
            assert remote.config.action_space == "ego48" and remote.config.query_every == 1
        finally:
            close_policy(remote)


class _Reacher:
    """A deterministic chunk policy for the MuJoCo env: move the right wrist towards the first object."""

    horizon = 10

    def predict_action_chunk(self, obs):
        ee = np.asarray(obs["ee_pose"], dtype=np.float64)  # (2, 9): position + rot6d per arm
        target = np.asarray(obs["object_poses"], dtype=np.float64)[0, :3] + np.array([0.0, 0.0, 0.08])
        chunk = np.zeros((self.horizon, 30))
        for h in range(self.horizon):
            alpha = min(1.0, 0.04 * (h + 1))
            right = ee[1, :3] + alpha * (target - ee[1, :3])
            chunk[h] = np.concatenate([ee[0], np.zeros(6), right, ee[1, 3:], np.full(6, 0.1 * alpha)])
        return chunk


def test_mujoco_benchmark_closed_loop_through_the_server_matches_in_process():
    env_module = pytest.importorskip("dexego.sim.env")
    env = env_module.HumanoidTaskEnv("Push-Box", render=False, horizon=40)
    chunking = ChunkingConfig(action_space=None, query_every=2)

    def run(policy, seed):
        obs, info = env.reset(seed=seed)
        policy.reset(seed)
        actions = []
        done = False
        while not done:
            action = policy.act(obs)
            actions.append(action)
            obs, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
        return np.stack(actions), info["success"], info["progress"]

    server = PolicyServer(_Reacher(), ServerConfig(port=0))  # raw env observations: no dexego spec
    with ServerThread(server) as handle:
        remote = policy_from_spec(handle.url, chunking=chunking)
        local = ChunkedPolicy(_Reacher(), chunking)
        try:
            for seed in (0, 1):
                r_actions, r_success, r_progress = run(remote, seed)
                l_actions, l_success, l_progress = run(local, seed)
                np.testing.assert_array_equal(r_actions, l_actions)
                assert len(r_actions) == 40 and np.ptp(r_actions[:, 15:18], axis=0).max() > 0.01  # the arm really moved
                assert (r_success, r_progress) == (l_success, l_progress)
        finally:
            close_policy(remote)
    env.close()


def test_policy_from_spec_without_a_known_space_uses_one_decay_and_refuses_bad_specs(tmp_path):
    from dexego.errors import InputError

    server = PolicyServer(_Reacher(), ServerConfig(port=0), metadata={"action_space": "h1_joints"})
    with ServerThread(server) as handle:
        remote = policy_from_spec(handle.url)
        try:
            assert remote.config.action_space is None
        finally:
            close_policy(remote)
    with pytest.raises(InputError, match="missing: not found"):
        policy_from_spec(str(tmp_path / "missing"))


def test_stateful_hooks_are_reset_with_the_episode():
    class History:
        def __init__(self):
            self.frames, self.resets = [], []

        def __call__(self, observation):
            self.frames.append(observation)
            return {"history": list(self.frames)}

        def reset(self, seed):
            self.frames.clear()
            self.resets.append(seed)

    class CountFrames:
        def predict_action_chunk(self, observation):
            return np.full((3, 4), float(len(observation["history"])))

    history = History()
    policy = ChunkedPolicy(CountFrames(), ChunkingConfig(action_space=None, ensemble=False), observation_fn=history)
    assert [policy.act(o)[0] for o in "abc"] == [1.0, 2.0, 3.0]
    policy.reset(seed=9)
    assert history.resets == [9] and policy.act("d")[0] == 1.0
