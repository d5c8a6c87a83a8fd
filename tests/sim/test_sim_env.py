import gymnasium
import numpy as np
import pytest

from dexego.actions import keypoints_to_action
from dexego.errors import ConfigError, InputError
from dexego.geometry import invert_transform, project
from dexego.sim import register_envs
from dexego.sim.env import EE_ACTION_DIM, JOINT_ACTION_DIM, HumanoidTaskEnv
from dexego.sim.expert import ScriptedExpert


@pytest.fixture(scope="module")
def env():
    e = HumanoidTaskEnv("Close-Drawer", image_size=64)
    yield e
    e.close()


def _rollout(env, seed, steps):
    obs, _ = env.reset(seed=seed)
    expert = ScriptedExpert(env.task.name)
    expert.reset(seed)
    trace = []
    for _ in range(steps):
        obs, _, term, trunc, info = env.step(expert.act(obs))
        trace.append(np.concatenate([obs["joint_pos"], obs["object_poses"].ravel()]))
        if term or trunc:
            break
    return np.stack(trace), obs, info


def test_every_task_has_a_registered_gymnasium_env():
    ids = register_envs()
    assert len(ids) >= 7 and "dexego/Stack-Can-v0" in ids
    env = gymnasium.make("dexego/Stack-Can-v0", render=False)
    obs, info = env.reset(seed=0)
    assert set(info["subtasks"]) == {"place", "success"} and "image" not in obs
    env.close()


def test_observation_matches_its_space_and_info_has_every_flag(env):
    obs, info = env.reset(seed=1)
    assert env.observation_space.contains(obs)
    assert obs["image"].shape == (64, 64, 3) and obs["image"].dtype == np.uint8
    assert obs["instruction"] == "Close the opened drawer"
    obs, reward, term, trunc, info = env.step(np.concatenate([obs["ee_pose"], obs["hand_joint_pos"]], axis=1).ravel())
    assert set(info["subtasks"]) == {"reach", "move", "success"} and info["success"] is False
    assert not term and not trunc


def test_same_seed_gives_identical_rollouts_and_other_seeds_differ(env):
    a, _, _ = _rollout(env, 3, 40)
    b, _, _ = _rollout(env, 3, 40)
    c, _, _ = _rollout(env, 4, 40)
    assert np.array_equal(a, b)
    assert not np.allclose(a[0], c[0])


def test_expert_closes_the_drawer(env):
    _, _, info = _rollout(env, 5, env.horizon)
    assert info["success"] and all(info["subtasks"].values())


def test_malformed_actions_are_rejected(env):
    env.reset(seed=0)
    with pytest.raises(InputError, match="action.*shape"):
        env.step(np.zeros(EE_ACTION_DIM - 1))
    bad = np.zeros(EE_ACTION_DIM)
    bad[4] = np.nan
    with pytest.raises(InputError, match="NaN"):
        env.step(bad)
    with pytest.raises(InputError, match="not a numeric array"):
        env.step("left")
    obs, _ = env.reset(seed=0)
    hold = np.concatenate([obs["ee_pose"], obs["hand_joint_pos"]], axis=1).ravel()
    degenerate = hold.copy()
    degenerate[15 + 6 : 15 + 9] = 2 * degenerate[15 + 3 : 15 + 6]  # right rot6d: second column parallel to the first
    with pytest.raises(InputError, match=r"right wrist rot6d \(indices 18\.\.23\)"):
        env.step(degenerate)
    env.step(hold)  # a rejected action leaves the episode usable


def test_step_before_reset_says_so():
    e = HumanoidTaskEnv("Close-Drawer", render=False)
    with pytest.raises(RuntimeError, match="reset"):
        e.step(np.zeros(EE_ACTION_DIM))
    e.close()


def test_unknown_task_or_visual_config_is_an_error():
    with pytest.raises(ConfigError, match="unknown task"):
        HumanoidTaskEnv("Juggle-Chainsaws")
    e = HumanoidTaskEnv("Push-Box", render=False)
    with pytest.raises(ValueError, match="room, table"):
        e.reset(seed=0, options={"room": 6, "table": 1})
    with pytest.raises(ConfigError):
        e.reset(seed=0, options={"weather": "rain"})


def test_diverging_simulation_ends_the_episode_as_a_failure(caplog):
    e = HumanoidTaskEnv("Push-Box", render=False)
    obs, _ = e.reset(seed=0)
    e.data.qvel[-1] = np.nan
    action = np.concatenate([obs["ee_pose"], obs["hand_joint_pos"]], axis=1).ravel()
    obs, reward, terminated, truncated, info = e.step(action)
    assert terminated and not info["success"] and info["failure_reason"]
    assert all(np.isfinite(v).all() for v in obs.values() if isinstance(v, np.ndarray))
    assert "diverged" in caplog.text
    with pytest.raises(RuntimeError):
        e.step(action)


def test_joint_action_mode_tracks_joint_targets():
    e = HumanoidTaskEnv("Push-Box", render=False, action_mode="joint")
    obs, _ = e.reset(seed=0)
    assert e.action_space.shape == (JOINT_ACTION_DIM,)
    target = np.concatenate([e.home_q, np.zeros((2, 6))], axis=1)
    target[1, 3] += 0.3  # right elbow
    target[1, 9:] = 0.8  # right fingers
    for _ in range(30):
        obs, *_ = e.step(target.ravel())
    assert obs["joint_pos"][7 + 3] == pytest.approx(target[1, 3], abs=0.02)
    assert obs["hand_joint_pos"][1, 2] == pytest.approx(0.8, abs=0.05)


def test_ee_action_reaches_its_target_through_ik():
    e = HumanoidTaskEnv("Push-Box", render=False)
    obs, _ = e.reset(seed=0)
    pos, rot = e.ee_poses()
    pos[1] += [0.08, 0.05, -0.05]
    for _ in range(45):
        obs, *_ = e.step(e.ee_action(pos, rot, np.zeros((2, 6))))
    assert np.allclose(obs["ee_pose"][1, :3], pos[1], atol=0.01)


def test_camera_sees_the_hands_and_ego48_comes_from_forward_kinematics():
    e = HumanoidTaskEnv("Push-Box", render=False, image_size=128)
    e.reset(seed=0)
    kp = e.hand_keypoints()
    cam = e.camera_pose()
    in_cam = (invert_transform(cam)[None, :3, :3] @ kp[:, 0, :, None])[..., 0] + invert_transform(cam)[:3, 3]
    px = project(in_cam, e.intrinsics())
    assert (in_cam[:, 2] > 0).all() and ((px > 0) & (px < 128)).all()
    ego48 = keypoints_to_action(kp, cam, np.array([True, True]), "ego48")
    assert np.allclose(ego48[:3], in_cam[0], atol=1e-6)


def test_visual_configurations_change_the_image():
    e = HumanoidTaskEnv("Push-Box", image_size=48)
    a, _ = e.reset(seed=0, options={"room": 1, "table": 1})
    b, _ = e.reset(seed=0, options={"room": 4, "table": 3})
    c, _ = e.reset(seed=0, options={"room": 1, "table": 1})
    assert np.array_equal(a["image"], c["image"]) and not np.array_equal(a["image"], b["image"])
    e.close()


def test_renders_headless_without_a_chosen_gl_backend():
    # A fresh process on a display-less machine with MUJOCO_GL unset: importing dexego picks EGL.
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "DISPLAY", "WAYLAND_DISPLAY")}
    code = (
        "from dexego.sim.env import HumanoidTaskEnv\n"
        "e = HumanoidTaskEnv('Push-Box', image_size=32)\n"
        "obs, _ = e.reset(seed=0)\n"
        "import os; print(os.environ['MUJOCO_GL'], obs['image'].shape, int(obs['image'].std() > 0))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["egl", "(32,", "32,", "3)", "1"]
