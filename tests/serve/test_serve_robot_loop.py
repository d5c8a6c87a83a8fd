"""examples/robot_loop.py (the docs/serve.md robot loop) runs against an in-process server with a tiny real policy."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from dexego.serve import PolicyServer, ServerConfig, ServerThread, dexego_observation_spec
from dexego.serve.loading import policy_info

pytestmark = pytest.mark.timeout(180)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "robot_loop.py"


def load_example():
    spec = importlib.util.spec_from_file_location("robot_loop_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve the module's annotations through sys.modules
    spec.loader.exec_module(module)
    return module


class RecordingPolicy:
    """A tiny real dexego Policy that keeps every chunk it answered."""

    def __init__(self, policy):
        self.policy, self.config, self.chunks = policy, policy.config, []

    def predict_action_chunk(self, observation):
        chunk = self.policy.predict_action_chunk(observation)
        self.chunks.append(chunk)
        return chunk


@pytest.fixture(scope="module")
def server():
    models = pytest.importorskip("dexego.models")
    from dexego.config import load_config

    policy = RecordingPolicy(
        models.Policy(load_config(models.PolicyConfig, {"horizon": 4, "n_obs_frames": 2}), None).eval()
    )
    info = policy_info(policy.policy)
    served = PolicyServer(
        policy, ServerConfig(port=0), metadata=info, observation_spec=dexego_observation_spec(info["action_dim"])
    )
    with ServerThread(served) as handle:
        yield handle, served, policy


def test_robot_loop_drives_the_stub_robot_through_the_server(server):
    from dexego.retarget import load_robot
    from dexego.retarget.commands import PolicyToRobot, observation_camera_pose

    handle, served, policy = server
    example = load_example()
    robot = load_robot("h1_inspire")
    config = example.LoopConfig(query_every=2, image_size=32)
    controller = example.build_controller(handle.url, robot, config)
    stub = example.StubRobot(robot, head_yaw_per_step=0.05)
    before, policy.chunks[:] = served.requests_served, []
    try:
        first_reading = stub.read()
        example.run(controller, stub, steps=4)
    finally:
        example.close_policy(controller)
    assert controller.queries == 2 and served.requests_served - before == 2 and len(policy.chunks) == 2
    width = 9 + len(robot.hands["left"].joint_map.middle())
    commands = np.stack(stub.sent)
    assert commands.shape == (4, 2 * width) and np.isfinite(commands).all()
    # Step 0 has one chunk: the command is that chunk's first action retargeted with the same camera pose.
    expected = PolicyToRobot(robot, "ego48", observation_camera_pose, example.current_pose(robot))(
        policy.chunks[0][0], first_reading
    )
    np.testing.assert_allclose(commands[0], expected, atol=1e-4)
    # The hand joints the robot was sent are what the next observation's state is built from.
    np.testing.assert_allclose(stub.hand_joints, np.stack([commands[-1][9:width], commands[-1][width + 9 :]]))


def test_robot_loop_main_runs_against_a_server(server, capsys):
    handle, _, _ = server
    assert load_example().main(["--url", handle.url, "--steps", "2", "--image-size", "32"]) == 0
    assert "2 commands of 30 values from 2 queries" in capsys.readouterr().out


def test_robot_loop_runs_a_joint_space_policy_with_the_robots_joints_in_the_state():
    from dataclasses import asdict

    from dexego.config import load_config
    from dexego.models import Policy, PolicyConfig
    from dexego.retarget import load_robot
    from dexego.retarget.robots import robot_action_config

    robot_space = asdict(robot_action_config("h1_inspire"))
    config = load_config(PolicyConfig, {"horizon": 4, "n_obs_frames": 2, "action_space": "robot:h1_inspire", "robot": robot_space,
                                        "tiny": {"image_size": 32, "patch_size": 16, "width": 32, "depth": 1, "heads": 2},
                                        "regression": {"width": 32, "depth": 1, "heads": 2}})  # fmt: skip
    policy = RecordingPolicy(Policy(config, None).eval())
    info = policy_info(policy.policy)
    served = PolicyServer(
        policy, ServerConfig(port=0), metadata=info, observation_spec=dexego_observation_spec(info["action_dim"])
    )
    example = load_example()
    robot = load_robot("h1_inspire")
    with ServerThread(served) as handle:
        controller = example.build_controller(handle.url, robot, example.LoopConfig(query_every=2, image_size=32))
        stub = example.StubRobot(robot)
        try:
            example.run(controller, stub, steps=3)
        finally:
            example.close_policy(controller)
    commands = np.stack(stub.sent)
    assert info["action_dim"] == 30 and commands.shape == (3, 30) and np.isfinite(commands).all()
    # The policy saw the robot's hand joints in the state's joint dimensions.
    from dexego.actions import get_space

    space = get_space("robot:h1_inspire")
    observation = controller.observation_fn(stub.read())
    np.testing.assert_allclose(observation["state"][space.joint_index()], stub.hand_joints.ravel(), atol=1e-6)
