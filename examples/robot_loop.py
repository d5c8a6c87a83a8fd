"""A robot-side control loop against ``dexego serve`` (docs/serve.md walks through it).

    robot reading (camera image + intrinsics, world_from_camera, hand joints, wrist poses)
      -> PolicyObservation: the policy's observation (image history, state in the current camera frame)
      -> PolicyClient: a chunk (H, D) in the camera frame of that observation (ego48, or the robot's joint space)
      -> ChunkedPolicy: chunks blended in the world frame (camera_pose), one action in the current camera frame
      -> PolicyToRobot (dexego.retarget.commands, the converter ``dexego sim eval`` runs too): per hand,
         end-effector target (position 3 + rot6d 6, robot base frame) + hand joints

Usage, with a server running (``dexego serve runs/NAME --host 0.0.0.0``)::

    python examples/robot_loop.py --url ws://GPU-HOST:8000 --steps 50 [--api-key KEY]

:class:`StubRobot` stands in for the robot (the h1_inspire head camera, arms at rest, a slowly turning
head); replace it with a class that has the same ``read()`` / ``send(command)`` for real hardware.
tests/serve/test_serve_robot_loop.py runs this file against an in-process server, so it stays current.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

from dexego.actions import get_space
from dexego.actions.robot import register_robot_spaces
from dexego.actions.spaces import split_space_name
from dexego.data.samples import SampleConfig, history_frames
from dexego.evaluate.sim_observation import resize_like_backbone
from dexego.geometry import Intrinsics, euler_to_matrix, make_transform
from dexego.retarget import Robot, load_robot
from dexego.retarget.commands import PolicyToRobot, observation_camera_pose
from dexego.retarget.robots import robot_action_config
from dexego.retarget.to_human import robot_to_ego48
from dexego.serve import ChunkedPolicy, ChunkingConfig, ClientConfig, PolicyClient
from dexego.serve.adapter import close_policy

SIDES = ("left", "right")


@dataclass(frozen=True)
class LoopConfig:
    instruction: str = "pick up the bottle"
    control_hz: float = 30.0  # the rate act() is called at; the chunk steps are at the training action_fps
    query_every: int = 1  # re-query the server every k control steps (EgoVLA: 1)
    image_size: int | None = None  # resize camera frames to the policy's input size (None: send as captured)
    history_spacing_s: float = 0.2  # must match the training data.sample.history_spacing_s


class PolicyObservation:
    """The ``observation_fn`` of :class:`ChunkedPolicy`: a robot reading -> the policy's observation (a training
    sample without "actions": images oldest first, state in the CURRENT camera frame)."""

    def __init__(self, robot: Robot, n_obs_frames: int, config: LoopConfig, action_space: str = "ego48"):
        self.hands = (robot.hands["left"], robot.hands["right"])
        self.space = get_space(action_space)
        self.config = config
        self.sample = SampleConfig(history=n_obs_frames - 1, history_spacing_s=config.history_spacing_s)
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        self.step = -1
        self.frames: dict[int, np.ndarray] = {}

    def __call__(self, reading: dict) -> dict:
        self.step += 1
        image = resize_like_backbone(np.asarray(reading["image"]).transpose(2, 0, 1)[None], self.config.image_size)[0]
        self.frames[self.step] = image
        index, mask = history_frames(self.step, self.config.control_hz, self.sample)
        for old in [k for k in self.frames if k < index.min()]:
            del self.frames[old]
        height, width = image.shape[-2:]
        intrinsics = reading["intrinsics"].scaled(width, height)
        state = robot_to_ego48(
            self.hands, reading["hand_joints"], reading["world_from_wrist"], reading["world_from_camera"]
        )
        if self.space.is_robot:  # the robot's joint space: the wrist poses (and ego48 parts) + the hand joints by name
            state = robot_space_state(self.space, state, self.hands, reading["hand_joints"])
        return {
            "images": np.stack([self.frames[int(i)] for i in index]),  # (T, 3, H, W) uint8
            "image_mask": mask,  # False: padded history before the episode start
            "instruction": self.config.instruction,
            "state": state,  # (48,) float32, ego48 in the current camera frame (metres)
            "state_valid": np.ones(2, dtype=bool),  # robot hands are always there
            "fov": np.asarray(intrinsics.fov, dtype=np.float32),  # (fov_x, fov_y) radians
            "intrinsics": np.asarray(intrinsics.vector, dtype=np.float32),  # fx, fy, cx, cy at the sent size
        }


def robot_space_state(space, ego48_state: np.ndarray, hands, hand_joints: np.ndarray) -> np.ndarray:
    """ego48 state (48,) + hand joints (2, A) -> the state in a robot space (its wrist and ego48 parts, its joints)."""
    ego48, state = get_space("ego48"), np.zeros(space.dim, dtype=np.float32)
    for side in range(2):
        for part in ego48.part_names:
            if part in space.part_names:
                state[space.part_slice(part, side)] = ego48_state[ego48.part_slice(part, side)]
    names = [n for hand in hands for n in hand.joint_names]
    values = np.asarray(hand_joints, dtype=np.float64).reshape(-1)
    for dim, name, carried in zip(space.joint_index(), space.joint_names, space.joint_carried):
        if carried:
            state[dim] = values[names.index(name)]
    return state


def current_pose(robot: Robot):
    """The converter's ``current`` hook: the reading's wrist poses -> end-effector poses (2, 9), and hand joints."""
    from dexego.geometry import matrix_to_rot6d

    def hook(reading: dict) -> tuple[np.ndarray, np.ndarray]:
        ee = np.stack(
            [robot.arms[s].wrist_to_end_effector(reading["world_from_wrist"][h]).numpy() for h, s in enumerate(SIDES)]
        )
        return np.concatenate([ee[:, :3, 3], matrix_to_rot6d(ee[:, :3, :3])], axis=1), np.asarray(
            reading["hand_joints"]
        )

    return hook


class StubRobot:
    """Stands in for the hardware: h1_inspire's head camera and arm rest poses; the head turns ``head_yaw_per_step``."""

    def __init__(self, robot: Robot, head_yaw_per_step: float = 0.01, image_hw: tuple[int, int] = (48, 64)):
        import torch

        self.robot = robot
        self.head_yaw_per_step = head_yaw_per_step
        self.image_hw = image_hw
        self.intrinsics = Intrinsics.from_fov(1.2, image_hw[1], image_hw[0])
        rest = {s: robot.arms[s].wrist_pose(torch.zeros(len(robot.arms[s].joint_names))) for s in SIDES}
        self.world_from_wrist = torch.stack([rest[s] for s in SIDES]).double().numpy()  # (2, 4, 4) in the base frame
        self.hand_joints = np.stack([robot.hands[s].joint_map.middle().double().numpy() for s in SIDES])  # (2, A)
        self.step = 0
        self.sent: list[np.ndarray] = []

    def read(self) -> dict:
        """One synchronised reading; ``world_from_camera`` is the camera in the robot base frame (head FK)."""
        head = make_transform(
            euler_to_matrix(np.array([0.0, 0.0, self.head_yaw_per_step * self.step]), "xyz"), np.zeros(3)
        )
        rng = np.random.default_rng(self.step)
        return {
            "image": rng.integers(0, 256, (*self.image_hw, 3), dtype=np.uint8),  # (H, W, 3) RGB
            "intrinsics": self.intrinsics,
            "world_from_camera": head @ self.robot.base_from_camera.double().numpy(),
            "hand_joints": self.hand_joints.copy(),
            "world_from_wrist": self.world_from_wrist.copy(),
        }

    def send(self, command: np.ndarray) -> None:
        """``command`` (2 * (9 + A),): per hand end-effector position + rot6d (base frame), then hand joints.
        A real robot solves arm IK here (dexego.retarget.RobotArm.solve) and streams the joint targets."""
        width = len(command) // 2
        self.hand_joints = np.stack([command[h * width + 9 : (h + 1) * width] for h in range(2)])
        self.sent.append(np.asarray(command))
        self.step += 1


def build_controller(url: str, robot: Robot, config: LoopConfig = LoopConfig(), api_key: str | None = None,
                     description: str | None = None) -> ChunkedPolicy:  # fmt: skip
    """Client -> ChunkedPolicy (blending in the world frame) -> PolicyToRobot, set up from the server's metadata.

    ``description``: the robot's YAML (or built-in name), for a server that predicts the robot's joint space."""
    client = PolicyClient(url, ClientConfig(api_key=api_key))
    info = client.metadata  # action_space, action_dim, horizon, obs_frames (dexego serve sends them)
    space = info.get("action_space", "ego48")
    named = split_space_name(space)
    if named is not None:  # the policy predicts a robot's joints: this robot's, declared by its description
        if named[1] != robot.name:
            raise SystemExit(f"the server predicts the joints of {named[1]!r}; this robot is {robot.name!r}")
        register_robot_spaces(robot_action_config(description or robot.name))
    elif space != "ego48":
        raise SystemExit(f"this loop runs ego48 or this robot's joint space; the server predicts {space!r}")
    return ChunkedPolicy(
        client,
        ChunkingConfig(query_every=config.query_every, action_space=space),
        observation_fn=PolicyObservation(robot, int(info.get("obs_frames", 6)), config, space),
        # reads reading["world_from_camera"] to place the wrists; starts from the robot's current pose
        retarget=PolicyToRobot(robot, space, observation_camera_pose, current_pose(robot)),
        camera_pose=lambda reading: reading["world_from_camera"],  # the head moves: blend in the base frame
    )


def run(controller: ChunkedPolicy, robot_io, steps: int) -> None:
    controller.reset(0)
    for _ in range(steps):
        robot_io.send(controller.act(robot_io.read()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="ws://127.0.0.1:8000")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--robot", default="h1_inspire", help="a built-in robot name or a robot YAML")
    parser.add_argument("--query-every", type=int, default=1)
    parser.add_argument("--image-size", type=int, default=None)
    args = parser.parse_args(argv)
    robot = load_robot(args.robot)
    loop = LoopConfig(query_every=args.query_every, image_size=args.image_size)
    controller = build_controller(args.url, robot, loop, args.api_key, args.robot)
    stub = StubRobot(robot)
    try:
        run(controller, stub, args.steps)
    finally:
        close_policy(controller)
    print(
        f"{len(stub.sent)} commands of {len(stub.sent[0]) if stub.sent else 0} values from {controller.queries} queries"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
