"""An oracle policy: the scripted expert's recorded future hands (ego48, or a robot action space with the
recorded hand joints), chunked exactly as training samples.

Replaying it closed-loop through :mod:`dexego.evaluate.sim_policy` checks the
whole simulator adapter without a trained model: with correct observation
layout, camera-frame conversions, wrist -> end-effector transform and hand
retargeting, the robot follows the expert's wrists and finishes the task.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dexego.evaluate.sim_policy import SimPolicyConfig, model_sim_policy


class ExpertOracle:
    """``predict_action_chunk(observation)`` -> the future chunk of the recorded episode at ``frame_index``."""

    def __init__(self, rollout: dict, horizon: int = 30, fps: float = 30.0, space: str = "ego48"):
        """``rollout``: :func:`dexego.sim.demos.run_expert_episode` output (keypoints, camera poses, intrinsics,
        robot state and actions)."""
        from dexego.data import features as F
        from dexego.data.samples import SampleConfig, build_samples
        from dexego.sim.env import action_names, state_names

        n = len(rollout["keypoints_world"])
        columns = {
            F.FRAME_INDEX: np.arange(n),
            F.KEYPOINTS: np.asarray(rollout["keypoints_world"]).reshape(n, -1),
            F.HAND_VALID: np.ones((n, 2), bool),
            F.CAMERA_POSE: np.asarray(rollout["world_from_camera"]).reshape(n, 16),
            F.INTRINSICS: np.tile(rollout["intrinsics"].vector, (n, 1)),
            F.ROBOT_STATE: np.asarray(rollout["robot_state"]),
            F.ROBOT_ACTION: np.asarray(rollout["robot_action"]),
        }
        meta = {"embodiment": "h1_inspire", "source": "sim", "episode_index": 0,
                "robot_state_names": state_names(), "robot_action_names": action_names("ee")}  # fmt: skip
        config = SampleConfig(horizon=horizon, action_space=space)
        self.space = space
        self.samples = build_samples(columns, [None] * n, np.arange(n), fps, config, None, meta, [""] * n)
        self.queried: list[tuple[int, np.ndarray]] = []  # (frame, state the adapter sent)

    def predict_action_chunk(self, observation: dict) -> np.ndarray:
        i = min(int(observation["frame_index"]), len(self.samples) - 1)
        self.queried.append((i, np.asarray(observation["state"]).copy()))
        return self.samples[i]["actions"]


class _WristRecorder:
    def __init__(self, policy):
        self.policy, self.wrists, self.hands = policy, [], []
        self.uses_images = True

    def reset(self, seed):
        self.policy.reset(seed)

    def act(self, observation):
        self.wrists.append(np.asarray(observation["ee_pose"])[:, :3].copy())
        self.hands.append(np.asarray(observation["hand_joint_pos"]).copy())
        return self.policy.act(observation)


@dataclass
class OracleReplay:
    expert_success: bool
    expert_steps: int
    success: bool
    steps: int
    wrist_error_max: float  # m, robot vs expert wrist at the same control step
    wrist_error_mean: float
    hand_error_mean: float  # rad, mean over the actuated hand joints
    oracle: ExpertOracle


def replay_expert(spec, config: SimPolicyConfig = SimPolicyConfig(), image_size: int = 64, env=None,
                  space: str = "ego48") -> OracleReplay:  # fmt: skip
    """Record the expert on ``spec`` (a :class:`dexego.sim.evaluation.RolloutSpec`), then replay it through the adapter
    (and :class:`dexego.retarget.commands.PolicyToRobot`) as a policy in ``space`` (ego48 or a robot space)."""
    from dexego.sim.demos import run_expert_episode
    from dexego.sim.env import HumanoidTaskEnv
    from dexego.sim.evaluation import run_rollout

    expert = run_expert_episode(spec.task, spec.seed, spec.room, spec.table, render=False)
    oracle = ExpertOracle(expert, space=space)
    policy = _WristRecorder(model_sim_policy(oracle, spec.task, config, info={"action_space": space}))
    own = env is None
    env = env or HumanoidTaskEnv(spec.task, render=True, image_size=image_size)
    try:
        result = run_rollout(env, policy, spec)
    finally:
        if own:
            env.close()
    ours, theirs = np.stack(policy.wrists), expert["keypoints_world"][:, :, 0]
    m = min(len(ours), len(theirs))
    error = np.linalg.norm(ours[:m] - theirs[:m], axis=-1)
    expert_hands = expert["robot_state"][:m, -12:].reshape(m, 2, 6)  # state: arm joints, then the hand joints
    hand_error = float(np.abs(np.stack(policy.hands)[:m] - expert_hands).mean())
    return OracleReplay(bool(expert["success"]), len(theirs), result.success, result.steps, float(error.max()),
                        float(error.mean()), hand_error, oracle)  # fmt: skip
