"""The human hand model, the hand pose controller's mapping and the head motion."""

import mujoco
import numpy as np
import pytest

from dexego.hands import KEYPOINT_NAMES, hand_frame
from dexego.sim.human_control import (
    FINGER_GAINS,
    HeadMotion,
    HeadMotionConfig,
    HumanHandController,
    fingers_from_inspire,
    human_wrist_from_robot,
    robot_wrist_from_human,
)
from dexego.sim.human_hand_mjcf import HUMAN_JOINTS, HUMAN_RANGES, KEYPOINT_SITES, human_hand_model_xml

J = {j: i for i, j in enumerate(HUMAN_JOINTS)}


def _hand(side):
    model = mujoco.MjModel.from_xml_string(human_hand_model_xml(side))
    return model, mujoco.MjData(model)


def _keypoints(model, data, side):
    return np.stack([data.site(f"{side}_{k}").xpos for k in KEYPOINT_SITES])


def test_keypoint_sites_follow_dexegos_order():
    assert len(KEYPOINT_SITES) == 21
    assert list(KEYPOINT_SITES) == list(KEYPOINT_NAMES)


@pytest.mark.parametrize("side", ["left", "right"])
def test_hand_frame_of_the_sites_is_the_wrist_body_frame_and_the_hand_has_human_size(side):
    model, data = _hand(side)
    rng = np.random.default_rng(1)
    for j in HUMAN_JOINTS:
        data.joint(f"{side}_{j}").qpos[0] = rng.uniform(*HUMAN_RANGES[j]) * 0.5
    data.qpos[3:7] = [np.cos(0.4), 0.3, -0.5, 0.2] / np.linalg.norm([np.cos(0.4), 0.3, -0.5, 0.2])
    mujoco.mj_forward(model, data)
    frame = hand_frame(_keypoints(model, data, side), side)
    assert np.allclose(frame[:3, :3], data.body(f"{side}_hand").xmat.reshape(3, 3), atol=1e-9)
    assert np.allclose(frame[:3, 3], data.body(f"{side}_hand").xpos)
    data.qpos[7:] = 0.0
    mujoco.mj_forward(model, data)
    kp = _keypoints(model, data, side)
    assert 0.175 < np.linalg.norm(kp[12] - kp[0]) < 0.2  # wrist to middle fingertip of an adult hand
    assert 0.05 < np.linalg.norm(kp[5] - kp[17]) < 0.075  # knuckle width


@pytest.mark.parametrize("side", ["left", "right"])
def test_joints_have_human_ranges_and_collision_is_capsules(side):
    model, _ = _hand(side)
    assert model.nu == 20 and model.neq == 1
    for j, (lo, hi) in HUMAN_RANGES.items():
        assert np.allclose(model.jnt_range[model.joint(f"{side}_{j}").id], (lo, hi))
    assert HUMAN_RANGES["index_pip"][1] > HUMAN_RANGES["index_mcp"][1] > HUMAN_RANGES["index_dip"][1] * 1.1
    colliding = [g for g in range(model.ngeom) if model.geom_contype[g] or model.geom_conaffinity[g]]
    assert colliding and all(model.geom_type[g] == mujoco.mjtGeom.mjGEOM_CAPSULE for g in colliding)


def test_inspire_values_map_to_human_articulation():
    open_ = fingers_from_inspire(np.zeros(6))
    assert open_[J["index_mcp"]] == 0 and open_[J["thumb_ip"]] == 0 and open_[J["little_abd"]] > 0
    hand = np.array([1.0, 0.6, 1.0, 0.5, 0.2, 1.7])
    q = fingers_from_inspire(hand)
    assert q[J["index_mcp"]] == pytest.approx(FINGER_GAINS[0] * 1.0)
    assert q[J["middle_pip"]] == pytest.approx(FINGER_GAINS[1] * 0.5)
    assert q[J["ring_dip"]] == pytest.approx(FINGER_GAINS[2] * 0.2)
    assert (
        q[J["little_mcp"]] == pytest.approx(FINGER_GAINS[0] * 1.7)
        and q[J["little_mcp"]] <= HUMAN_RANGES["little_mcp"][1]
    )
    assert q[J["thumb_ip"]] == HUMAN_RANGES["thumb_ip"][1]  # clipped to the human range
    assert q[J["index_abd"]] == 0.0  # a curled finger is not spread
    assert q[J["thumb_cmc_opp"]] > 0 and q[J["thumb_ip"]] > q[J["thumb_cmc_flex"]] > 0
    batch = fingers_from_inspire(np.stack([hand, np.zeros(6)]))
    assert batch.shape == (2, 20) and np.allclose(batch[0], q)


def test_wrist_offset_round_trip():
    rot = np.stack([np.eye(3), mujoco_rot([0.3, -0.2, 0.9])])
    pos = np.array([[0.2, 0.1, 1.1], [0.4, -0.2, 1.05]])
    hp, hr = human_wrist_from_robot(pos, rot)
    assert np.allclose(hp[0] - pos[0], [0.03, 0, 0])  # along the palm (x) of the wrist frame
    back_p, back_r = robot_wrist_from_human(hp, hr)
    assert np.allclose(back_p, pos) and np.allclose(back_r, rot)


def mujoco_rot(rotvec):
    q = np.zeros(4)
    mujoco.mju_axisAngle2Quat(q, np.asarray(rotvec) / np.linalg.norm(rotvec), np.linalg.norm(rotvec))
    m = np.zeros(9)
    mujoco.mju_quat2Mat(m, q)
    return m.reshape(3, 3)


def test_controller_moves_the_wrist_and_curls_the_fingers_towards_the_palm():
    model, data = _hand("right")
    ctl = HumanHandController.__new__(HumanHandController)
    ctl.mocap = np.array([model.body("right_hand_target").mocapid[0]])
    ctl.ctrl = np.array([[model.actuator(f"right_{j}").id for j in HUMAN_JOINTS]])
    mujoco.mj_forward(model, data)
    open_tips = _keypoints(model, data, "right")[[8, 12, 16, 20]]
    target = np.array([[0.05, -0.03, 0.02]])
    ctl.set_targets(
        data, target, mujoco_rot([0, 0, 0.3])[None], fingers_from_inspire(np.array([[1.0, 0.3, 1.4, 1.4, 1.4, 1.4]]))
    )
    for _ in range(480):
        mujoco.mj_step(model, data)
    assert np.isfinite(data.qpos).all()
    assert np.allclose(data.body("right_hand").xpos, target[0], atol=0.003)
    assert np.allclose(data.body("right_hand").xmat.reshape(3, 3), mujoco_rot([0, 0, 0.3]), atol=0.01)
    local = (_keypoints(model, data, "right")[[8, 12, 16, 20]] - target[0]) @ mujoco_rot([0, 0, 0.3])
    assert (local[:, 2] > open_tips[:, 2] + 0.02).all() and (local[:, 0] < open_tips[:, 0] - 0.03).all()


def test_head_motion_is_reproducible_small_and_smooth():
    cfg = HeadMotionConfig()
    a, b = HeadMotion(np.random.default_rng(5), cfg), HeadMotion(np.random.default_rng(5), cfg)
    c = HeadMotion(np.random.default_rng(6), cfg)
    t = np.arange(0, 10, 1 / 30)
    da, db, dc = (np.stack([h.delta(x) for x in t]) for h in (a, b, c))
    assert np.array_equal(da, db) and not np.allclose(da, dc)
    assert np.abs(da[:, :3]).max() <= cfg.offset_m + cfg.drift_m + 1e-9
    assert np.degrees(np.abs(da[:, 3:]).max()) <= cfg.offset_deg + cfg.drift_deg + 1e-9
    assert da[:, :3].std(axis=0).max() > 0.001  # it does move
    step = np.abs(np.diff(da, axis=0))
    assert step[:, :3].max() < 0.002 and np.degrees(step[:, 3:].max()) < 0.3  # per frame at 30 Hz
    still = HeadMotion(np.random.default_rng(5), cfg, enabled=False)
    assert np.array_equal(still.delta(3.0), np.zeros(6))
