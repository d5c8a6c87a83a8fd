import mujoco
import numpy as np
import torch

from dexego.actions import keypoints_to_action
from dexego.hands.mano import MANOModel
from dexego.retarget.robots import load_robot
from dexego.retarget.to_human import fit_mano_to_fingertips, robot_to_ego48, robot_to_mano_action


def test_robot_ego48_matches_the_simulators_keypoints():
    """FK ego48 == ego48 of the MuJoCo sites of the full robot (through the arm chain and the hand chain)."""
    from dexego.sim.models import hand_asset_path
    from dexego.sim.robot_keypoints import robot_keypoints

    robot = load_robot("h1_inspire", dtype=torch.float64)
    model = mujoco.MjModel.from_xml_path(str(hand_asset_path("right").parent / "h1_inspire.xml"))
    data = mujoco.MjData(model)
    gen = np.random.default_rng(0)
    arm_q, hand_q = [], []
    for side in ("left", "right"):
        arm, hand = robot.arms[side], robot.hands[side]
        qa = gen.uniform(-0.5, 0.5, size=7)
        qh = gen.uniform(hand.lower.numpy(), hand.upper.numpy())
        full = hand.full_joints(torch.tensor(qh)).numpy()
        for name, value in list(zip(arm.joint_names, qa)) + list(zip(hand.chain.joint_names, full)):
            data.qpos[model.jnt_qposadr[model.joint(name).id]] = value
        arm_q.append(qa)
        hand_q.append(qh)
    mujoco.mj_kinematics(model, data)
    world_from_torso = np.eye(4)
    world_from_torso[:3, :3] = data.body("torso").xmat.reshape(3, 3)
    world_from_torso[:3, 3] = data.body("torso").xpos
    wrist = np.stack(
        [world_from_torso @ robot.arms[s].wrist_pose(torch.tensor(q)).numpy() for s, q in zip(("left", "right"), arm_q)]
    )
    camera = np.eye(4)
    camera[:3, 3] = [0.1, 0.0, 1.6]
    ours = robot_to_ego48((robot.hands["left"], robot.hands["right"]), np.stack(hand_q), wrist, camera)
    expected = keypoints_to_action(robot_keypoints(model, data), camera, np.ones(2, dtype=bool), "ego48")
    np.testing.assert_allclose(ours, expected, atol=1e-5)


def test_mano_fit_recovers_fingertips(synthetic_mano_dir):
    mano = MANOModel.from_dir(synthetic_mano_dir, "right", flat_hand_mean=True)
    gen = torch.Generator().manual_seed(0)
    pca = 0.5 * torch.randn(4, 15, generator=gen, dtype=torch.float64)
    target_fit = fit_mano_to_fingertips(mano, torch.zeros(1, 5, 3, dtype=torch.float64), iterations=1)
    out = mano(pca=pca)
    from dexego.geometry.transforms import apply_transform

    tips = apply_transform(
        target_fit.wrist_from_mano, (out.keypoints - out.joints[..., :1, :])[..., [4, 8, 12, 16, 20], :]
    )
    fit = fit_mano_to_fingertips(mano, tips, iterations=50)
    assert float(fit.fingertip_error.max()) < 0.003
    start = (
        (
            tips
            - apply_transform(
                target_fit.wrist_from_mano,
                (
                    mano(pca=torch.zeros(1, 15, dtype=torch.float64)).keypoints
                    - mano(pca=torch.zeros(1, 15, dtype=torch.float64)).joints[..., :1, :]
                )[..., [4, 8, 12, 16, 20], :],
            )
        )
        .norm(dim=-1)
        .mean()
    )
    assert float(fit.fingertip_error.max()) < 0.2 * float(start)


def test_robot_to_mano_action_shapes_and_invalid_hands(synthetic_mano_dir):
    robot = load_robot("h1_inspire", dtype=torch.float64)
    hands = (robot.hands["left"], robot.hands["right"])
    manos = tuple(MANOModel.from_dir(synthetic_mano_dir, s, flat_hand_mean=True) for s in ("left", "right"))
    joints = torch.stack([h.joint_map.middle() for h in hands])[None].expand(3, 2, 6).clone()
    camera_from_wrist = torch.eye(4, dtype=torch.float64).expand(3, 2, 4, 4)
    valid = np.array([[True, True], [True, False], [True, True]])
    action, errors = robot_to_mano_action(hands, manos, joints, camera_from_wrist, valid, iterations=10)
    assert action.shape == (3, 48) and np.isfinite(action).all()
    assert np.all(action[1, 24:] == 0) and np.isnan(errors[1, 1]) and np.isfinite(errors[0]).all()
