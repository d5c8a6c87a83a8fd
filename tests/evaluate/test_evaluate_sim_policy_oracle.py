"""An oracle policy replaying the scripted expert's future hands (as the dataset encodes them) through the adapter.

If the observation layout, the camera-frame conversions, the wrist -> end
effector transform or the hand retargeting were wrong, the robot would not
follow the expert's wrists nor finish the task.
"""

import numpy as np
import pytest

from dexego.data import features as F
from dexego.data.samples import SampleConfig, build_samples
from dexego.evaluate.sim_policy import SimPolicyConfig, model_sim_policy
from dexego.sim.demos import run_expert_episode
from dexego.sim.evaluation import protocol, run_rollout

pytestmark = pytest.mark.timeout(300)


class ExpertOracle:
    """predict_action_chunk -> the training sample's future ego48 chunk at the observation's frame."""

    def __init__(self, rollout: dict, horizon: int = 30):
        n = len(rollout["keypoints_world"])
        columns = {
            F.FRAME_INDEX: np.arange(n),
            F.KEYPOINTS: rollout["keypoints_world"].reshape(n, -1),
            F.HAND_VALID: np.ones((n, 2), bool),
            F.CAMERA_POSE: rollout["world_from_camera"].reshape(n, 16),
            F.INTRINSICS: np.tile(rollout["intrinsics"].vector, (n, 1)),
        }
        meta = {"embodiment": "h1_inspire", "source": "sim", "episode_index": 0}
        self.samples = build_samples(columns, [None] * n, np.arange(n), 30.0, SampleConfig(horizon=horizon), None, meta, [""] * n)
        self.states_seen = []

    def predict_action_chunk(self, observation: dict) -> np.ndarray:
        i = min(int(observation["frame_index"]), len(self.samples) - 1)
        self.states_seen.append((i, observation["state"]))
        return self.samples[i]["actions"]


class WristRecorder:
    def __init__(self, policy):
        self.policy, self.wrists = policy, []

    def reset(self, seed):
        self.policy.reset(seed)

    def act(self, observation):
        self.wrists.append(np.asarray(observation["ee_pose"])[:, :3].copy())
        return self.policy.act(observation)


@pytest.mark.parametrize("task, query_every", [("Push-Box", 4), ("Close-Drawer", 1)])
def test_oracle_replay_succeeds_and_tracks_the_expert(task, query_every):
    from dexego.sim.env import HumanoidTaskEnv

    spec = protocol(task, "seen", 2)[1]
    expert = run_expert_episode(task, spec.seed, spec.room, spec.table, render=False)
    assert expert["success"]
    oracle = ExpertOracle(expert)
    policy = WristRecorder(model_sim_policy(oracle, task, SimPolicyConfig(query_every=query_every), info={"action_space": "ego48"}))
    env = HumanoidTaskEnv(task, render=True, image_size=64)
    try:
        result = run_rollout(env, policy, spec)
    finally:
        env.close()
    assert result.success, result
    assert result.steps <= len(expert["keypoints_world"]) + 5
    ours = np.stack(policy.wrists)
    m = min(len(ours), len(expert["keypoints_world"]))
    error = np.linalg.norm(ours[:m] - expert["keypoints_world"][:m, :, 0], axis=-1)
    assert error.max() < 0.02, f"wrist tracking error up to {error.max():.3f} m"
    # The oracle saw the robot's hands where the expert's were (same start, closed loop).
    first_index, first_state = oracle.states_seen[0]
    np.testing.assert_allclose(first_state, oracle.samples[first_index]["state"], atol=1e-4)
    assert len(oracle.states_seen) == -(-result.steps // query_every)
