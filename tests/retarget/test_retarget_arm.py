import mujoco
import pytest
import torch
from conftest import ARM_XML

from dexego.geometry.transforms import make_transform
from dexego.retarget.arm import ArmIKConfig, RobotArm
from dexego.retarget.robots import load_robot


@pytest.fixture(scope="module")
def arm():
    return RobotArm(mujoco.MjModel.from_xml_string(ARM_XML), "torso", "ee", "right")


def _random_joints(arm, count, seed):
    gen = torch.Generator().manual_seed(seed)
    lower, upper = arm.joint_map.lower, arm.joint_map.upper
    return lower + (upper - lower) * torch.rand(count, 7, generator=gen, dtype=torch.float64)


def test_ik_reaches_reachable_poses_from_a_nearby_start(arm):
    q = _random_joints(arm, 200, seed=0)
    target = arm.end_effector_pose(q)
    start = arm.joint_map.clamp(
        q + 0.3 * torch.randn(200, 7, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    )
    result = arm.solve(target, init=start, wrist=False)
    assert result.reachable.all()
    reached = arm.end_effector_pose(result.joints)
    distance = (reached[:, :3, 3] - target[:, :3, 3]).norm(dim=-1)
    assert float(distance.max()) < arm.config.position_tolerance and float(distance.median()) < 1e-6
    assert ((result.joints >= arm.joint_map.lower - 1e-12) & (result.joints <= arm.joint_map.upper + 1e-12)).all()


def test_unreachable_and_nan_targets_are_flagged(arm):
    q = _random_joints(arm, 3, seed=2)
    target = arm.end_effector_pose(q).clone()
    target[1, :3, 3] = torch.tensor([3.0, 0.0, 1.0])  # metres beyond the arm's reach
    target[2, 0, 0] = float("nan")
    result = arm.solve(target, init=q, wrist=False)
    assert result.valid.tolist() == [True, True, False]
    assert result.reachable.tolist() == [True, False, False]
    assert float(result.position_error[1]) > 1.0
    assert torch.isnan(result.joints[2]).all() and torch.isfinite(result.joints[1]).all()


def test_sim_robot_wrist_pose_matches_mujoco_and_round_trips():
    from dexego.sim.models import hand_asset_path  # noqa: F401  (the simulator's robot must be there)

    robot = load_robot("h1_inspire")
    arm = robot.arms["right"]
    model = mujoco.MjModel.from_xml_path(str(hand_asset_path("right").parent / "h1_inspire.xml"))
    data = mujoco.MjData(model)
    q = torch.tensor([-0.6, -0.3, 0.2, -1.2, 0.3, 0.2, -0.1], dtype=torch.float64)
    for name, value in zip(arm.joint_names, q.tolist()):
        data.qpos[model.jnt_qposadr[model.joint(name).id]] = value
    mujoco.mj_kinematics(model, data)
    torso = data.body("torso")
    rot = torso.xmat.reshape(3, 3)
    site = data.site("right_wrist")
    expected = make_transform(
        torch.tensor(rot.T @ site.xmat.reshape(3, 3)), torch.tensor(rot.T @ (site.xpos - torso.xpos))
    )
    torch.testing.assert_close(arm.wrist_pose(q), expected, atol=1e-9, rtol=0)
    result = arm.solve(expected[None], init=q[None] + 0.2)
    assert result.reachable.all() and float(result.position_error[0]) < 1e-3


def test_calibrated_offset_moves_the_end_effector_target():
    model = mujoco.MjModel.from_xml_string(
        ARM_XML.replace(
            '<site name="ee"',
            '<site name="w" pos="0.03 0 0"/><site name="i" pos="0.12 0.02 0.01"/><site name="m" pos="0.12 0 0.01"/><site name="l" pos="0.11 -0.03 0.01"/><site name="ee"',
        )
    )
    arm = RobotArm(
        model, "torso", "ee", "right", palm_sites={"wrist": "w", "index_mcp": "i", "middle_mcp": "m", "little_mcp": "l"}
    )
    assert not torch.allclose(arm.ee_from_wrist, torch.eye(4, dtype=torch.float64))
    q = torch.tensor([0.2, -0.4, 0.3, 1.0, 0.1, -0.2, 0.3], dtype=torch.float64)
    wrist = arm.wrist_pose(q)
    torch.testing.assert_close(arm.wrist_to_end_effector(wrist), arm.end_effector_pose(q))
    result = arm.solve(wrist[None], init=q[None] + 0.1)
    torch.testing.assert_close(arm.wrist_pose(result.joints[0]), wrist, atol=1e-4, rtol=0)


@pytest.mark.parametrize("change", [{"iterations": -1}, {"damping": 0.0}, {"max_step": float("nan")}])
def test_config_rejects_out_of_range_values(change):
    from dexego.errors import ConfigError

    with pytest.raises(ConfigError, match="arm IK"):
        ArmIKConfig(**change)


def test_robot_head_camera_is_the_simulators_camera_in_the_torso_frame():
    from dexego.sim.env import HumanoidTaskEnv

    robot = load_robot("h1_inspire")
    env = HumanoidTaskEnv("Push-Box", render=False)
    try:
        env.reset(seed=0)
        torso = env.data.body("torso")
        world_from_torso = make_transform(torch.tensor(torso.xmat.reshape(3, 3)), torch.tensor(torso.xpos))
        expected = torch.linalg.inv(world_from_torso) @ torch.tensor(env.camera_pose())
    finally:
        env.close()
    torch.testing.assert_close(robot.base_from_camera, expected, atol=1e-9, rtol=0)
    assert torch.isclose(torch.linalg.det(robot.base_from_camera[:3, :3]), torch.tensor(1.0, dtype=torch.float64))
