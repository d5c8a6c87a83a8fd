"""The human-hands environment: same tasks and layouts as the robot, physical grasps, head camera, determinism."""

import numpy as np
import pytest

from dexego.errors import ConfigError, InputError
from dexego.geometry import invert_transform, matrix_to_rot6d, project
from dexego.hands import hand_frames
from dexego.sim.env import HumanoidTaskEnv
from dexego.sim.human_control import fingers_from_inspire
from dexego.sim.human_demos import TaskExpert
from dexego.sim.human_env import POSE_ACTION_DIM, HumanHandsEnv


@pytest.fixture(scope="module")
def env():
    e = HumanHandsEnv("Stack-Can", image_size=48)
    yield e
    e.close()


def _rollout(env, seed, steps=None):
    obs, _ = env.reset(seed=seed)
    expert = TaskExpert(env.task)
    expert.reset(seed)
    trace, info = [], {}
    for _ in range(steps or env.horizon):
        obs, _, term, trunc, info = env.step(expert.act(obs))
        trace.append(obs)
        if term or trunc:
            break
    return trace, info


def test_observation_space_keypoints_and_wrist_frame(env):
    obs, info = env.reset(seed=2)
    assert env.observation_space.contains(obs) and info["embodiment"] == "human"
    assert obs["keypoints"].shape == (2, 21, 3) and np.isfinite(obs["keypoints"]).all()
    assert obs["hand_valid"].tolist() == [1, 1]  # both hands in view at the start
    frames = hand_frames(obs["keypoints"])
    assert np.allclose(frames[:, :3, 3], obs["wrist_pose"][:, :3], atol=1e-9)
    assert np.allclose(matrix_to_rot6d(frames[:, :3, :3]), obs["wrist_pose"][:, 3:], atol=1e-9)
    cam = obs["camera_pose"]
    in_cam = obs["keypoints"].reshape(-1, 3) @ invert_transform(cam)[:3, :3].T + invert_transform(cam)[:3, 3]
    px = project(in_cam, env.intrinsics())
    assert (in_cam[:, 2] > 0).all() and ((px >= 0) & (px < 48)).all()


def test_same_layout_as_the_robot_for_a_seed(env):
    env.reset(seed=9)
    robot = HumanoidTaskEnv("Stack-Can", render=False)
    robot.reset(seed=9)
    assert all(np.array_equal(env.layout[k], robot.layout[k]) for k in robot.layout)


def test_expert_stacks_the_can_with_human_hands_and_same_seed_repeats(env):
    trace, info = _rollout(env, 0)
    assert info["success"]
    can_z = np.array([o["object_poses"][0, 2] for o in trace])
    assert can_z.max() - can_z[0] > 0.06  # carried through the air by a physical grasp
    # No attachment: the only equality constraints are the two wrist welds.
    assert env.model.neq == 2 and {env.model.equality(i).name for i in range(2)} == {
        "left_wrist_weld",
        "right_wrist_weld",
    }
    cams = np.stack([o["camera_pose"] for o in trace])
    moved = np.linalg.norm(cams[:, :3, 3] - cams[0, :3, 3], axis=-1).max()
    assert 0.001 < moved < 0.06  # a few cm of head motion
    again, _ = _rollout(env, 0, steps=40)
    for a, b in zip(trace[:40], again):
        assert np.array_equal(a["keypoints"], b["keypoints"]) and np.array_equal(a["camera_pose"], b["camera_pose"])
        assert np.array_equal(a["image"], b["image"])
    other, _ = _rollout(env, 1, steps=2)
    assert not np.allclose(other[0]["camera_pose"], trace[0]["camera_pose"])


def test_pose_action_mode_drives_the_wrists_and_fingers():
    e = HumanHandsEnv("Push-Box", render=False, action_mode="pose")
    obs, _ = e.reset(seed=0)
    assert e.action_space.shape == (POSE_ACTION_DIM,)
    target = obs["wrist_pose"].copy()
    target[1, :3] += [0.05, 0.03, -0.04]
    fingers = fingers_from_inspire(np.array([[0, 0, 0, 0, 0, 0], [0.5, 0.2, 1.0, 1.0, 1.0, 1.0]]))
    for _ in range(30):
        obs, *_ = e.step(np.concatenate([target, fingers], axis=1).ravel())
    assert np.allclose(obs["wrist_pose"][1, :3], target[1, :3], atol=0.005)
    assert np.allclose(obs["finger_joint_pos"][1], fingers[1], atol=0.08)
    with pytest.raises(InputError, match="shape"):
        e.step(np.zeros(30))
    with pytest.raises(InputError, match="left wrist rot6d"):
        e.step(np.concatenate([np.zeros_like(target), fingers], axis=1).ravel())


def test_action_modes_are_checked_per_embodiment():
    with pytest.raises(ConfigError, match="human hands"):
        HumanHandsEnv("Push-Box", render=False, action_mode="joint")
    with pytest.raises(ConfigError, match="robot"):
        HumanoidTaskEnv("Push-Box", render=False, action_mode="pose")


def test_appearance_randomisation_is_seeded():
    e = HumanHandsEnv("Push-Box", image_size=32, randomize_appearance=True)
    e.reset(seed=3)
    a = e.model.geom_rgba.copy()
    e.reset(seed=4)
    b = e.model.geom_rgba.copy()
    e.reset(seed=3)
    assert np.array_equal(a, e.model.geom_rgba) and not np.array_equal(a, b)
    box = e.model.body("box").id
    assert not np.allclose(a[e.model.body_geomadr[box]], b[e.model.body_geomadr[box]])
    e.close()
