"""Real robot hands from PyPI: robosuite 1.5.2's Inspire and Fourier hands, read from the installed distribution.

``make install`` installs robosuite's files (``pip install --no-deps robosuite==1.5.2``); dexego never imports it.
"""

from __future__ import annotations

import importlib.metadata

import mujoco
import numpy as np
import pytest
import torch
import yaml

from dexego.errors import InputError
from dexego.hands.layout import FINGERTIPS
from dexego.retarget import (
    HandRetargetConfig,
    HandRetargeter,
    RobotHand,
    human_to_targets,
    knuckle_aligned_targets,
    load_robot,
)
from dexego.retarget.chain import load_model
from dexego.retarget.packaged import distribution_file
from dexego.retarget.robots import resolve

HANDS = ["robosuite_inspire_right", "robosuite_inspire_left", "robosuite_fourier_right", "robosuite_fourier_left"]
JOINTS = {"inspire": 12, "fourier": 11}


def _hand(name: str) -> RobotHand:
    return next(iter(load_robot(name, dtype=torch.float64).hands.values()))


def test_descriptions_come_from_the_installed_distribution_not_the_repository():
    dist = importlib.metadata.distribution("robosuite")
    assert dist.version == "1.5.2"
    hand = _hand("robosuite_inspire_right")
    assert hand.spec.description == str(
        distribution_file("robosuite", "robosuite/models/assets/grippers/inspire_right_hand.xml")
    )
    assert "site-packages" in hand.spec.description or "dist-packages" in hand.spec.description


@pytest.mark.parametrize("name", HANDS)
def test_kinematics_match_mujoco_on_the_full_model(name):
    """Our FK (meshes dropped for speed) against MuJoCo's own on the description as shipped (meshes and all)."""
    hand = _hand(name)
    assert hand.num_joints == JOINTS[name.split("_")[1]] and not hand.chain.couplings
    assert hand.side == name.rsplit("_", 1)[1]
    model = load_model(hand.spec.description, geometry=True)
    assert model.nmesh > 0
    data = mujoco.MjData(model)
    gen = torch.Generator().manual_seed(3)
    q = hand.lower + (hand.upper - hand.lower) * torch.rand(5, hand.num_joints, generator=gen, dtype=torch.float64)
    root = model.body(hand.chain.root).id
    for qi in q:
        for name_j, value in zip(hand.joint_names, qi.tolist()):
            data.joint(name_j).qpos = value
        mujoco.mj_kinematics(model, data)
        ours = hand.kinematics(hand.full_joints(qi)).points.numpy()  # root frame
        rot, pos = data.xmat[root].reshape(3, 3), data.xpos[root]
        for point, row in zip(hand.chain.points, ours):
            body = model.body(hand.chain.bodies[point.body].name).id
            world = data.xpos[body] + data.xmat[body].reshape(3, 3) @ point.pos
            np.testing.assert_allclose(row, rot.T @ (world - pos), atol=1e-9)


@pytest.mark.parametrize("name", HANDS)
def test_round_trip_joints_to_fingertips_and_back(name):
    """joints -> FK fingertips -> retarget -> fingertips within 0.5 mm (each frame its own sequence: no smoothness)."""
    hand = _hand(name)
    gen = torch.Generator().manual_seed(0)
    q = hand.lower + (hand.upper - hand.lower) * torch.rand(60, hand.num_joints, generator=gen, dtype=torch.float64)
    targets = torch.full((60, 1, 21, 3), float("nan"), dtype=torch.float64)
    targets[:, 0, list(FINGERTIPS)] = hand.fingertips(q)
    # A fine grid start: from the default one, a cold solve of the 3- and 4-joint thumbs can stop in a local minimum
    # at a joint limit (0.4-0.7 mm off in 1 frame of 60); see docs/retarget.md.
    result = HandRetargeter(hand, HandRetargetConfig(iterations=60, grid_candidates=32768)).retarget(targets)
    reached = hand.fingertips(result.joints[:, 0])
    error = (reached - targets[:, 0, list(FINGERTIPS)]).norm(dim=-1)
    assert float(error.max()) < 0.0005, f"worst fingertip {float(error.max()) * 1000:.3f} mm"
    assert bool(result.reachable.all())


@pytest.fixture(scope="module")
def human_demo():
    """A normal demonstration: the simulator's human-hand expert on Push-Box (world keypoints (T, 2, 21, 3), validity)."""
    from dexego.sim.human_demos import run_human_episode

    rollout = run_human_episode("Push-Box", 0, 1, 1, render=False)
    assert rollout["success"]
    return torch.as_tensor(rollout["keypoints_world"], dtype=torch.float64), torch.as_tensor(rollout["hand_valid"])


@pytest.mark.parametrize("name", HANDS)
def test_human_keypoints_give_joints_within_limits_that_follow_the_fingers(name, human_demo):
    hand = _hand(name)
    side = 0 if hand.side == "left" else 1
    keypoints, valid = human_demo[0][:, side], human_demo[1][:, side]
    targets, valid, _ = knuckle_aligned_targets(keypoints, hand, valid)
    result = HandRetargeter(hand).retarget(targets, valid)
    joints = result.joints[result.valid]
    assert len(joints) > 50 and torch.isfinite(joints).all()
    assert bool(((joints >= hand.lower) & (joints <= hand.upper)).all())
    assert float(result.fingertip_error[result.valid].mean()) < 0.1 * hand.hand_length
    # Pulling the human fingertips towards the wrist curls the robot's fingers: every finger's flexion grows.
    curled = keypoints.clone()
    curled[:, list(FINGERTIPS[1:])] = keypoints[:, :1] + 0.6 * (keypoints[:, list(FINGERTIPS[1:])] - keypoints[:, :1])
    scale = _scale(keypoints, hand)
    open_q = (
        HandRetargeter(hand).retarget(human_to_targets(keypoints, hand, valid, scale=scale)[0], valid).joints[valid]
    )
    curled_q = HandRetargeter(hand).retarget(human_to_targets(curled, hand, valid, scale=scale)[0], valid).joints[valid]
    for finger in ("index", "middle", "ring", "pinky"):
        columns = [i for i, n in enumerate(hand.joint_names) if finger in n.lower() and "thumb" not in n.lower()]
        assert len(columns) == 2
        assert float((curled_q[:, columns] - open_q[:, columns]).sum(-1).min()) > 0.1, finger


def _scale(keypoints: torch.Tensor, hand: RobotHand) -> float:
    bones = (keypoints[..., [9, 10, 11, 12], :] - keypoints[..., [0, 9, 10, 11], :]).norm(dim=-1).sum(-1)
    return hand.hand_length / float(bones.median())


def test_a_missing_distribution_is_one_clear_error(tmp_path):
    data = yaml.safe_load(resolve("robosuite_inspire_right").read_text())
    data["description"] = {"distribution": "no-such-distribution-dexego", "file": "x/hand.xml"}
    path = tmp_path / "hand.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(
        InputError,
        match=r"hand.yaml: description: the Python distribution 'no-such-distribution-dexego' is not installed",
    ):
        load_robot(path)
    data["description"] = {"distribution": "robosuite", "file": "robosuite/models/assets/grippers/no_hand.xml"}
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(
        InputError, match=r"description: robosuite 1.5.2 has no file 'robosuite/models/assets/grippers/no_hand.xml'"
    ):
        load_robot(path)
    data["description"] = {"distribution": "robosuite"}
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError, match=r"description: expected a path, or \{distribution"):
        load_robot(path)
