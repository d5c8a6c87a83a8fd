"""An oracle policy replaying the scripted expert's future hands (as the dataset encodes them) through the adapter.

If the observation layout, the camera-frame conversions, the wrist -> end
effector transform or the hand retargeting were wrong, the robot would not
follow the expert's wrists nor finish the task.
"""

import numpy as np
import pytest

from dexego.evaluate.sim_oracle import replay_expert
from dexego.evaluate.sim_policy import SimPolicyConfig
from dexego.sim.evaluation import protocol

pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize("task, query_every", [("Push-Box", 4), ("Close-Drawer", 1)])
def test_oracle_replay_succeeds_and_tracks_the_expert(task, query_every):
    spec = protocol(task, "seen", 2)[1]
    replay = replay_expert(spec, SimPolicyConfig(query_every=query_every))
    assert replay.expert_success
    assert replay.success, replay
    assert replay.steps <= replay.expert_steps + 5
    assert replay.wrist_error_max < 0.02, f"wrist tracking error up to {replay.wrist_error_max:.3f} m"
    # The oracle saw the robot's hands where the expert's were (same start, closed loop).
    oracle = replay.oracle
    frame, state = oracle.queried[0]
    np.testing.assert_allclose(state, oracle.samples[frame]["state"], atol=1e-4)
    assert [f for f, _ in oracle.queried[:3]] == [0, query_every, 2 * query_every]
    assert len(oracle.queried) == -(-replay.steps // query_every)


def test_the_joint_space_oracle_commands_the_recorded_joints():
    """The same replay as a policy in the robot's joint space: wrists placed, hand joints commanded as recorded."""
    from dexego.actions.robot import register_robot_spaces
    from dexego.retarget.robots import robot_action_config

    register_robot_spaces(robot_action_config("h1_inspire"))
    spec = protocol("Push-Box", "seen", 1)[0]
    replay = replay_expert(spec, SimPolicyConfig(query_every=4), space="robot:h1_inspire")
    assert replay.expert_success and replay.success
    assert replay.wrist_error_max < 0.02 and replay.hand_error_mean < 0.01  # rad: no retargeting in between


def test_a_wrong_fingertip_scale_is_visible_in_the_replay():
    """Negative control: human-scale fingertips on a robot-scale oracle curl the fingers differently."""
    spec = protocol("Push-Box", "seen", 1)[0]
    right = replay_expert(spec, SimPolicyConfig(query_every=4))
    wrong = replay_expert(spec, SimPolicyConfig(query_every=4, fingertip_scale=0.7))
    assert right.hand_error_mean < 0.05  # rad: the retargeted fingers follow the expert's
    assert right.hand_error_mean < 0.5 * wrong.hand_error_mean
