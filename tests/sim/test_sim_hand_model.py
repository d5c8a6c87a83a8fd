import mujoco
import numpy as np
import pytest

from dexego.actions import get_space, keypoints_to_action
from dexego.hands import hand_frame, hand_frames
from dexego.sim.hand_mjcf import HAND_ACTUATED, HAND_COUPLED, HAND_RANGES
from dexego.sim.models import generated_assets, hand_asset_path, load_hand_model, robot_model_xml
from dexego.sim.robot_keypoints import FILLED_KEYPOINTS, HandKeypointReader, robot_keypoints


def test_shipped_assets_match_generators():
    for name, text in generated_assets().items():
        assert (hand_asset_path("left").parent / name).read_text() == text, (
            f"{name} is stale: run python -m dexego.sim.models"
        )


@pytest.mark.parametrize("side", ["left", "right"])
def test_hand_has_6_actuated_and_6_coupled_joints(side):
    model = load_hand_model(side)
    assert model.nu == 6 and model.njnt == 12 and model.neq == 6
    assert [model.actuator(i).name for i in range(6)] == [f"{side}_{j}" for j in HAND_ACTUATED]
    assert (model.dof_armature >= 0.001).all()
    for j, (lo, hi) in HAND_RANGES.items():
        assert np.allclose(model.jnt_range[model.joint(f"{side}_{j}").id], (lo, hi))


@pytest.mark.parametrize("side", ["left", "right"])
def test_hand_frame_of_robot_sites_is_the_hand_body_frame(side):
    model = load_hand_model(side)
    data = mujoco.MjData(model)
    data.qpos[:] = np.random.default_rng(0).uniform(0, 0.5, model.nq)
    mujoco.mj_forward(model, data)
    kp = robot_keypoints(model, data)
    h = 0 if side == "left" else 1
    assert np.isnan(kp[1 - h]).all()
    missing = [i for i in range(21) if i not in FILLED_KEYPOINTS]
    assert np.isnan(kp[h, missing]).all() and np.isfinite(kp[h, list(FILLED_KEYPOINTS)]).all()
    frame = hand_frame(kp[h], side)
    assert np.allclose(frame[:3, :3], data.body(f"{side}_hand").xmat.reshape(3, 3), atol=1e-9)
    assert np.allclose(frame[:3, 3], data.body(f"{side}_hand").xpos)


@pytest.mark.parametrize("side", ["left", "right"])
def test_coupled_joints_follow_the_actuated_ones_and_hand_stays_stable(side):
    model = load_hand_model(side)
    data = mujoco.MjData(model)
    data.ctrl[:] = [1.0, 0.5, 1.2, 1.2, 1.2, 1.2]
    for _ in range(480):
        mujoco.mj_step(model, data)
    assert np.isfinite(data.qpos).all()
    for joint, driver, ratio in HAND_COUPLED:
        q_driver = data.joint(f"{side}_{driver}").qpos[0]
        expected = np.clip(ratio * q_driver, *model.jnt_range[model.joint(f"{side}_{joint}").id])
        assert data.joint(f"{side}_{joint}").qpos[0] == pytest.approx(expected, abs=0.03)
    assert data.joint(f"{side}_index_proximal").qpos[0] == pytest.approx(1.2, abs=0.05)


def test_closing_the_hand_brings_fingertips_towards_the_palm_side():
    model = load_hand_model("right")
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    open_tips = robot_keypoints(model, data)[1, [8, 12, 16, 20]]
    data.ctrl[:] = [1.2, 0.4, 1.5, 1.5, 1.5, 1.5]
    for _ in range(480):
        mujoco.mj_step(model, data)
    closed_tips = robot_keypoints(model, data)[1, [8, 12, 16, 20]]
    # z of the hand frame is palmar: fingers curl towards +z and back towards the wrist.
    assert (closed_tips[:, 2] > open_tips[:, 2] + 0.03).all()
    assert (closed_tips[:, 0] < open_tips[:, 0] - 0.03).all()


def test_robot_ego48_from_forward_kinematics():
    model = mujoco.MjModel.from_xml_string(robot_model_xml())
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    kp = HandKeypointReader(model)(data)
    frames = hand_frames(kp)
    for h, side in enumerate(("left", "right")):
        assert np.allclose(frames[h, :3, :3], data.body(f"{side}_hand").xmat.reshape(3, 3), atol=1e-9)
    action = keypoints_to_action(kp, np.eye(4), np.array([True, True]), "ego48")
    assert action.shape == (get_space("ego48").dim,) and np.isfinite(action).all()
    assert np.allclose(action[:3], data.site("left_wrist").xpos)
