from pathlib import Path

import mujoco
import numpy as np
import pytest
import torch
import yaml
from conftest import ARM_XML, hand_yaml_dict, inspire_like_xml, write_hand

from dexego.errors import InputError
from dexego.retarget import RobotHand, load_hand_spec
from dexego.retarget.chain import PointSpec, chain_from_model, load_chain
from dexego.retarget.kinematics import ChainKinematics
from dexego.retarget.robots import load_robot

TIPS = ["thumb_tip", "index_tip", "middle_tip", "ring_tip", "little_tip"]


def _mujoco_points(xml: str, qpos_by_name: dict, sites: list[str], root: str) -> np.ndarray:
    model = mujoco.MjModel.from_xml_string(xml)
    data = mujoco.MjData(model)
    for name, value in qpos_by_name.items():
        data.qpos[model.jnt_qposadr[model.joint(name).id]] = value
    mujoco.mj_kinematics(model, data)
    base = data.body(root)
    rot = base.xmat.reshape(3, 3)
    return np.stack([rot.T @ (data.site(s).xpos - base.xpos) for s in sites])


@pytest.mark.parametrize("side", ["left", "right"])
def test_torch_fk_matches_mujoco_on_a_floating_hand(tmp_path, side):
    hand = RobotHand.from_yaml(write_hand(tmp_path, side, free_base=True), dtype=torch.float64)
    gen = torch.Generator().manual_seed(1)
    for _ in range(5):
        q = hand.lower + (hand.upper - hand.lower) * torch.rand(hand.num_joints, generator=gen, dtype=torch.float64)
        full = hand.full_joints(q)
        expected = _mujoco_points(
            inspire_like_xml(side, True), dict(zip(hand.chain.joint_names, full.tolist())), TIPS, "hand_base"
        )
        rows = [hand.chain.point_index(t) for t in TIPS]
        got = hand.kinematics(full).points[rows].numpy()
        np.testing.assert_allclose(got, expected, atol=1e-12)


def test_builtin_inspire_hand_fk_matches_mujoco():
    from dexego.sim.models import hand_asset_path

    hand = RobotHand.from_yaml(
        Path(__file__).parents[2] / "src/dexego/retarget/robots/inspire_hand_right.yaml", dtype=torch.float64
    )
    assert hand.joint_names[:2] == ("right_thumb_yaw", "right_thumb_pitch") and hand.num_joints == 6
    assert len(hand.chain.joints) == 12 and len(hand.chain.couplings) == 6
    q = torch.tensor([0.7, 0.4, 0.3, 1.2, 0.9, 1.6], dtype=torch.float64)
    full = dict(zip(hand.chain.joint_names, hand.full_joints(q).tolist()))
    assert full["right_thumb_distal"] == pytest.approx(2.4 * 0.4) and full["right_ring_intermediate"] == pytest.approx(
        0.9
    )
    sites = [f"right_{t}" for t in TIPS]
    expected = _mujoco_points(hand_asset_path("right").read_text(), full, sites, "right_hand")
    # The sim's hand body frame IS the wrist frame, so wrist-frame fingertips equal MuJoCo's body-frame ones.
    np.testing.assert_allclose(hand.fingertips(q).numpy(), expected, atol=1e-9)


def test_analytic_jacobian_matches_autograd(hand_yaml):
    hand = RobotHand.from_yaml(hand_yaml, dtype=torch.float64)
    q = torch.tensor([0.5, 0.2, 0.4, 0.8, 1.2, 1.6], dtype=torch.float64)
    _, jac = hand.keypoints(q, jacobian=True)
    numeric = torch.autograd.functional.jacobian(lambda x: hand.keypoints(x)[0], q)
    torch.testing.assert_close(jac, numeric, atol=1e-10, rtol=0)


def test_coupling_limits_are_intersected_with_the_driven_joints():
    xml = inspire_like_xml("right").replace('range="-0.24 1.44"', 'range="-0.24 1.2"')  # thumb distal = 2.4 x pitch
    model = mujoco.MjModel.from_xml_string(xml)
    spec = load_hand_spec_from_dict(hand_yaml_dict("right", "<string>"))
    hand = RobotHand.from_spec(spec, model=model)
    assert float(hand.upper[1]) == pytest.approx(1.2 / 2.4)
    assert float(hand.lower[1]) == pytest.approx(-0.1)


def load_hand_spec_from_dict(data):
    from dexego.retarget.hand import parse_hand_spec

    return parse_hand_spec(data, "<dict>")


def test_arm_fk_matches_mujoco():
    model = mujoco.MjModel.from_xml_string(ARM_XML)
    chain = chain_from_model(model, "torso", [PointSpec("ee", site="ee")])
    assert chain.joint_names == (
        "shoulder_pitch",
        "shoulder_roll",
        "shoulder_yaw",
        "elbow",
        "wrist_roll",
        "wrist_pitch",
        "wrist_yaw",
    )
    kin = ChainKinematics(chain, dtype=torch.float64)
    q = np.array([0.3, -0.5, 0.7, 1.1, -0.4, 0.6, 0.2])
    data = mujoco.MjData(model)
    data.qpos[:] = q
    mujoco.mj_kinematics(model, data)
    pose = kin(torch.tensor(q))
    torso = data.body("torso")
    rot = torso.xmat.reshape(3, 3)
    np.testing.assert_allclose(pose.points[0].numpy(), rot.T @ (data.site("ee").xpos - torso.xpos), atol=1e-12)
    np.testing.assert_allclose(
        pose.point_rotations(kin)[0].numpy(), rot.T @ data.site("ee").xmat.reshape(3, 3), atol=1e-12
    )


def test_missing_site_and_broken_chain_are_clear_errors(tmp_path):
    path = write_hand(tmp_path, "right")
    data = yaml.safe_load(path.read_text())
    data["keypoints"]["index_tip"] = "no_such_site"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(
        InputError, match=r"hand_right.yaml: keypoints.index_tip: no site or body \(link\) named 'no_such_site'"
    ):
        RobotHand.from_yaml(path)
    data = hand_yaml_dict("right", "hand_right.xml")
    data["root"] = "index_proximal"  # the palm sites are not below this body
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError, match="not below the root body 'index_proximal': the chain is broken"):
        RobotHand.from_yaml(path)


def test_bad_description_files_name_the_file(tmp_path):
    path = write_hand(tmp_path, "right")
    (tmp_path / "hand_right.xml").write_text(
        inspire_like_xml("right").replace('<body name="index_intermediate"', "<body name=", 1)
    )
    with pytest.raises(InputError, match="hand_right.xml: MuJoCo cannot compile"):
        RobotHand.from_yaml(path)
    (tmp_path / "hand_right.xml").unlink()
    with pytest.raises(InputError, match="robot description not found"):
        RobotHand.from_yaml(path)
    bad_urdf = tmp_path / "broken.urdf"
    bad_urdf.write_text(
        '<robot name="r"><link name="a"/><joint name="j" type="revolute"><parent link="a"/><child link="missing"/></joint></robot>'
    )
    with pytest.raises(InputError, match="broken.urdf"):
        load_chain(bad_urdf, "a", [])


def test_hand_file_validation(tmp_path):
    data = hand_yaml_dict("right", "hand_right.xml")
    del data["keypoints"]["little_mcp"]
    path = tmp_path / "h.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError, match="missing required keypoint.*little_mcp"):
        load_hand_spec(path)
    data = hand_yaml_dict("right", "hand_right.xml")
    data["keypoints"]["pinky_tip"] = "little_tip"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError, match="keypoints.pinky_tip: unknown keypoint"):
        load_hand_spec(path)
    path.write_text("name: [unclosed")
    with pytest.raises(InputError, match="not valid YAML"):
        load_hand_spec(path)


def test_wrist_frame_points_must_be_on_the_palm(tmp_path):
    write_hand(tmp_path, "right")
    data = hand_yaml_dict("right", "hand_right.xml")
    data["keypoints"]["index_mcp"] = {"body": "index_intermediate"}  # moves with the index proximal joint
    path = tmp_path / "moving.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError, match="index_mcp move with the joints"):
        RobotHand.from_yaml(path)


def test_builtin_robot_loads_hands_and_calibrated_arms():
    robot = load_robot("h1_inspire")
    assert set(robot.hands) == {"left", "right"} and set(robot.arms) == {"left", "right"}
    # The sim's wrist site frame is the hand frame of its palm sites: the calibration is the identity.
    torch.testing.assert_close(robot.arms["left"].ee_from_wrist, torch.eye(4, dtype=torch.float64), atol=1e-6, rtol=0)
    with pytest.raises(InputError, match="unknown robot 'nope'"):
        load_robot("nope")


def test_urdf_export_round_trips_through_mujoco(tmp_path):
    from dexego.retarget.hand import parse_hand_spec
    from dexego.retarget.urdf import export_urdf, urdf_hand_spec

    hand = load_robot("inspire_hand_left", dtype=torch.float64).hands["left"]
    path = export_urdf(hand, tmp_path / "inspire_left.urdf")
    again = RobotHand.from_spec(parse_hand_spec(urdf_hand_spec(hand, path), "<dict>"), dtype=torch.float64)
    assert again.joint_names == hand.joint_names and len(again.chain.couplings) == 6
    q = hand.lower + (hand.upper - hand.lower) * torch.rand(
        20, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    torch.testing.assert_close(again.keypoints21(q), hand.keypoints21(q), atol=1e-8, rtol=0, equal_nan=True)
    # The URDF's base link is the wrist frame itself.
    torch.testing.assert_close(again.root_from_wrist, torch.eye(4, dtype=torch.float64), atol=1e-8, rtol=0)
