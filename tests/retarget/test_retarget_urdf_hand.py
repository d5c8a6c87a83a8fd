"""A URDF hand brought by a user: fixed-joint links, a mimic joint, three fingers, missing meshes.

The hand is the shipped example (examples/hands/three_finger); its forward
kinematics are checked against positions worked out by hand from the URDF's
numbers.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from dexego.errors import InputError
from dexego.hands.layout import FINGERTIPS, KEYPOINT_INDEX
from dexego.retarget import HandRetargetConfig, HandRetargeter, RobotHand
from dexego.retarget.chain import load_chain, load_model

EXAMPLE = Path(__file__).parents[2] / "examples" / "hands" / "three_finger"
HAND_YAML = EXAMPLE / "three_finger_right.yaml"
TIPS = (KEYPOINT_INDEX["thumb_tip"], KEYPOINT_INDEX["index_tip"], KEYPOINT_INDEX["middle_tip"])


def expected_tips_in_base(thumb: float, index: float, middle: float) -> np.ndarray:
    """Fingertips in the base link's frame, worked out from the URDF's origins, axes and the mimic."""
    palm = np.array([0.02, 0.0, 0.01])
    yaw = 0.5  # the thumb joint's origin rpy
    thumb_tip = palm + np.array(
        [0.02 - np.sin(yaw) * 0.05 * np.cos(thumb), 0.03 + np.cos(yaw) * 0.05 * np.cos(thumb), -0.05 * np.sin(thumb)]
    )
    distal = index + (0.8 * index + 0.1)  # index_pip = 0.8 * index_mcp + 0.1, about the same axis
    index_tip = (
        palm
        + np.array([0.06, 0.02, 0.0])
        + 0.04 * np.array([np.cos(index), 0, -np.sin(index)])
        + 0.03 * np.array([np.cos(distal), 0, -np.sin(distal)])
    )
    middle_tip = palm + np.array([0.06, 0.0, 0.0]) + 0.07 * np.array([np.cos(middle), 0, -np.sin(middle)])
    return np.stack([thumb_tip, index_tip, middle_tip])


@pytest.fixture(scope="module")
def hand() -> RobotHand:
    return RobotHand.from_yaml(HAND_YAML, dtype=torch.float64)


def test_fixed_joint_links_survive_and_the_mimic_becomes_a_coupling(hand):
    bodies = {b.name for b in hand.chain.bodies}
    assert {"base", "palm", "thumb_tip", "index_tip", "middle_tip"} <= bodies
    assert hand.chain.root == "base" and hand.chain.bodies[0].name == "base"
    assert hand.joint_names == ("thumb_flex", "index_mcp", "middle_mcp")
    assert hand.chain.joint_names == ("thumb_flex", "index_mcp", "index_pip", "middle_mcp")
    (coupling,) = hand.chain.couplings
    assert (
        hand.chain.joints[coupling.joint].name == "index_pip" and hand.chain.joints[coupling.driver].name == "index_mcp"
    )
    assert coupling.coefficients[:2] == pytest.approx((0.1, 0.8))
    assert hand.tip_indices == TIPS
    # The meshes the URDF names are not shipped: loading must not need them.
    text = (EXAMPLE / "three_finger_right.urdf").read_text()
    assert "package://three_finger/meshes/palm_collision.stl" in text and not (EXAMPLE / "meshes").exists()


@pytest.mark.parametrize("q", [(0.0, 0.0, 0.0), (0.4, 0.6, 0.9), (1.2, 1.5, 0.3)])
def test_fingertip_fk_matches_hand_computed_positions(hand, q):
    q_t = torch.tensor(q, dtype=torch.float64)
    full = hand.full_joints(q_t)
    assert float(full[2]) == pytest.approx(0.8 * q[1] + 0.1)
    rows = [hand.chain.point_index(n) for n in ("thumb_tip", "index_tip", "middle_tip")]
    in_base = hand.kinematics(full).points[rows].numpy()
    np.testing.assert_allclose(in_base, expected_tips_in_base(*q), atol=1e-12)
    # fingertips() is the same points in the wrist frame.
    wrist_from_base = hand.wrist_from_root.numpy()
    expected_wrist = expected_tips_in_base(*q) @ wrist_from_base[:3, :3].T + wrist_from_base[:3, 3]
    np.testing.assert_allclose(hand.fingertips(q_t).numpy(), expected_wrist, atol=1e-12)


def test_wrist_frame_of_the_three_finger_hand_is_palmar_like_a_human_right_hand(hand):
    rot = hand.root_from_wrist[:3, :3].numpy()
    # x runs along the fingers, z points to the palm side (where the fingers curl: base -z), y away from the thumb.
    assert rot[:, 0] @ np.array([1.0, 0, 0]) > 0.98
    assert rot[:, 2] @ np.array([0, 0, -1.0]) > 0.98
    assert rot[:, 1] @ np.array([0, -1.0, 0]) > 0.98


def test_retargeting_to_the_three_finger_hand_reduces_fingertip_error(hand):
    gen = torch.Generator().manual_seed(3)
    q_true = hand.lower + (hand.upper - hand.lower) * torch.rand(2, 20, 3, generator=gen, dtype=torch.float64)
    tips = hand.fingertips(q_true) + 0.001 * torch.randn(2, 20, 3, 3, generator=gen, dtype=torch.float64)
    targets = torch.full((2, 20, 21, 3), float("nan"), dtype=torch.float64)
    targets[..., list(TIPS), :] = tips  # ring and little stay NaN: this hand has no such fingers
    result = HandRetargeter(hand, HandRetargetConfig(smoothness=0.0)).retarget(targets)
    assert result.joints.shape == (2, 20, 3) and bool(result.valid.all())
    assert bool(((result.joints >= hand.lower - 1e-9) & (result.joints <= hand.upper + 1e-9)).all())
    start = (hand.fingertips(hand.joint_map.middle()) - tips).norm(dim=-1).mean()
    reached = (hand.fingertips(result.joints) - tips).norm(dim=-1).mean(-1)
    torch.testing.assert_close(reached, result.fingertip_error)
    assert float(reached.mean()) < 0.1 * float(start)
    assert float(reached.mean()) < 0.002  # about the 1 mm noise: every target is nearly reachable
    # A frame without one of this hand's fingertips is not solved.
    targets[0, 5, KEYPOINT_INDEX["index_tip"]] = float("nan")
    assert not bool(HandRetargeter(hand).retarget(targets).valid[0, 5])


def _copy_example(tmp_path: Path, **changes) -> Path:
    shutil.copy(EXAMPLE / "three_finger_right.urdf", tmp_path / "three_finger_right.urdf")
    data = yaml.safe_load(HAND_YAML.read_text())
    for key, value in changes.items():
        if key.startswith("kp_"):
            data["keypoints"][key[3:]] = value
        else:
            data[key] = value
    path = tmp_path / "my_hand.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_missing_link_in_the_hand_file_names_the_file_and_the_field(tmp_path):
    path = _copy_example(tmp_path, kp_index_tip={"body": "index_fingertip"})
    with pytest.raises(
        InputError,
        match=r"my_hand\.yaml: keypoints\.index_tip: no body \(link\) named 'index_fingertip'.*bodies: base, palm",
    ) as info:
        RobotHand.from_yaml(path)
    assert str(info.value).count("my_hand.yaml") == 1 and "three_finger_right.urdf" in str(info.value)
    with pytest.raises(
        InputError, match=r"my_hand\.yaml: keypoints\.thumb_tip: no site or body \(link\) named 'thumb_end'"
    ):
        RobotHand.from_yaml(_copy_example(tmp_path, kp_thumb_tip="thumb_end"))
    with pytest.raises(InputError, match=r"my_hand\.yaml: root: no body \(link\) named 'hand_base'"):
        RobotHand.from_yaml(_copy_example(tmp_path, root="hand_base"))
    with pytest.raises(InputError, match=r"my_hand\.yaml: actuated: no joint 'index_pip_joint'"):
        RobotHand.from_yaml(_copy_example(tmp_path, actuated=["thumb_flex", "index_pip_joint", "middle_mcp"]))


def test_hand_files_need_a_fingertip_and_urdf_errors_name_the_file(tmp_path):
    data = yaml.safe_load(HAND_YAML.read_text())
    for tip in ("thumb_tip", "index_tip", "middle_tip"):
        del data["keypoints"][tip]
    path = tmp_path / "no_tips.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError, match=r"no_tips\.yaml: keypoints: map at least one fingertip"):
        RobotHand.from_yaml(path)
    broken = tmp_path / "broken.urdf"
    broken.write_text("<robot name='r'><link name='a'>")
    with pytest.raises(InputError, match=r"broken\.urdf: not valid XML"):
        load_model(broken)
    not_urdf = tmp_path / "other.urdf"
    not_urdf.write_text("<mujoco/>")
    with pytest.raises(InputError, match=r"other\.urdf: a URDF's top element must be <robot>"):
        load_model(not_urdf)


def test_urdf_links_without_inertia_or_meshes_compile_and_keep_fixed_links(tmp_path):
    urdf = tmp_path / "bare.urdf"
    urdf.write_text(
        '<robot name="bare"><link name="base"/><link name="f1"><collision><geometry><mesh filename="package://x/f1.stl"/>'
        '</geometry></collision></link><link name="tip"/>'
        '<joint name="j1" type="revolute"><parent link="base"/><child link="f1"/><origin xyz="0.1 0 0"/><axis xyz="0 1 0"/>'
        '<limit lower="0" upper="1.5" effort="1" velocity="1"/></joint>'
        '<joint name="jt" type="fixed"><parent link="f1"/><child link="tip"/><origin xyz="0.03 0 0"/></joint></robot>'
    )
    model = load_model(urdf)
    assert [model.body(i).name for i in range(model.nbody)] == ["world", "base", "f1", "tip"]
    from dexego.retarget.chain import PointSpec
    from dexego.retarget.kinematics import ChainKinematics

    chain = load_chain(urdf, "base", [PointSpec("tip", body="tip")])
    point = ChainKinematics(chain, dtype=torch.float64)(torch.tensor([0.5], dtype=torch.float64)).points[0].numpy()
    np.testing.assert_allclose(point, [0.1 + 0.03 * np.cos(0.5), 0.0, -0.03 * np.sin(0.5)], atol=1e-12)


def test_learned_retargeter_and_robot_to_human_with_three_fingertips(hand, tmp_path):
    from dexego.retarget.learned import LearnedRetargeter, LearnedRetargeterConfig, train_learned_retargeter
    from dexego.retarget.to_human import robot_to_ego48

    torch.manual_seed(0)
    model, metrics = train_learned_retargeter(
        hand, LearnedRetargeterConfig(samples=4000, steps=150, batch_size=256, learning_rate=3e-3)
    )
    linear = [m for m in model.net if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(9, 64), (64, 128), (128, 64), (64, 3)]
    assert metrics["fingertip_error_mean_m"] < 0.01
    model.save(tmp_path / "mlp.safetensors")
    loaded = LearnedRetargeter.load(tmp_path / "mlp.safetensors")
    tips = hand.fingertips(hand.joint_map.middle()[None]).float()
    torch.testing.assert_close(loaded(tips), model(tips))
    assert len(FINGERTIPS) == 5
    with pytest.raises(InputError, match=r"three_finger_right\.yaml: keypoints: ego48 needs five fingertips"):
        robot_to_ego48((hand, hand), torch.zeros(2, 3), torch.eye(4).expand(2, 4, 4), torch.eye(4))


def test_dexego_retarget_onto_the_three_finger_hand_file(tmp_path, capsys):
    from dexego.cli import main
    from dexego.data import Dataset, DatasetWriter
    from dexego.data.synthetic import synthetic_episode

    human = tmp_path / "human"
    with DatasetWriter(human, fps=30) as writer:
        writer.add_episode(synthetic_episode(length=20, seed=2, video=False))
    out = tmp_path / "three_finger"
    assert main(["retarget", str(human), "--robot", str(HAND_YAML), "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    episode = Dataset(out).episode(0, frames=False)
    assert episode.robot_state_names == ["right.thumb_flex", "right.index_mcp", "right.middle_mcp"]
    assert episode.robot_state.shape == (20, 3) and np.isfinite(episode.robot_state).all()
    summary = episode.metadata["retarget"]["right"]
    assert summary["missing_frames"] == 0 and summary["fingertip_error_mean_m"] < 0.05
