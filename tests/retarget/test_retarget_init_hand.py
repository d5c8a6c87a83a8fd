"""`dexego retarget init-hand` / `check-hand`: a hand file proposed from the description alone, against hand-written ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from dexego.cli import main
from dexego.errors import InputError
from dexego.retarget import HandRetargeter, RobotHand, knuckle_aligned_targets, load_robot
from dexego.retarget.hand_init import propose_hand

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "hands" / "three_finger" / "three_finger_right.yaml"
HANDS = [
    "robosuite_inspire_right",
    "robosuite_inspire_left",
    "robosuite_fourier_right",
    "robosuite_fourier_left",
    str(EXAMPLE),
]


def _written(name: str) -> RobotHand:
    if name.endswith(".yaml"):
        return RobotHand.from_yaml(name, dtype=torch.float64)
    return next(iter(load_robot(name, dtype=torch.float64).hands.values()))


@pytest.fixture(scope="module")
def human_demo():
    from dexego.sim.human_demos import run_human_episode

    rollout = run_human_episode("Push-Box", 0, 1, 1, render=False)
    return torch.as_tensor(rollout["keypoints_world"], dtype=torch.float64), torch.as_tensor(rollout["hand_valid"])


@pytest.mark.parametrize("name", HANDS)
def test_init_hand_retargets_within_1mm_of_the_hand_written_file(name, human_demo, tmp_path, capsys):
    written = _written(name)
    out = tmp_path / "proposed.yaml"
    assert main(["retarget", "init-hand", written.spec.description, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "root:" in printed and "side:" in printed and "actuated:" in printed and f"wrote {out}" in printed
    proposed = RobotHand.from_yaml(out, dtype=torch.float64)
    assert proposed.side == written.side and set(proposed.joint_names) == set(written.joint_names)
    assert proposed.tip_indices == written.tip_indices
    assert abs(proposed.hand_length - written.hand_length) < 0.001
    data = yaml.safe_load(out.read_text())
    if name.startswith("robosuite"):  # read from the installed distribution, as the built-in files do
        assert data["description"]["distribution"] == "robosuite"
    # The same human keypoints through both hand files: the fingertips they reach agree within 1 mm on every frame.
    side = 0 if written.side == "left" else 1
    keypoints, valid = human_demo[0][:, side], human_demo[1][:, side]
    reached = []
    for hand in (written, proposed):
        targets, ok, _ = knuckle_aligned_targets(keypoints, hand, valid)
        result = HandRetargeter(hand).retarget(targets, ok)
        assert bool(result.valid.all())
        reached.append(hand.fingertips(result.joints))
    per_frame = (reached[0] - reached[1]).norm(dim=-1).mean(-1)
    assert float(per_frame.max()) < 0.001, f"worst frame {float(per_frame.max()) * 1000:.3f} mm"
    # A second run refuses to overwrite the file.
    assert main(["retarget", "init-hand", written.spec.description, "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_init_hand_explains_geometric_choices_and_side(tmp_path):
    """Without finger words in the names the fingers are ordered by geometry; the side follows the curl."""
    urdf = (ROOT / "examples" / "hands" / "three_finger" / "three_finger_right.urdf").read_text()
    for old, new in (("thumb_", "a_"), ("index_", "b_"), ("middle_", "c_"), ("_tip", "_end")):
        urdf = urdf.replace(old, new)
    path = tmp_path / "plain.urdf"
    path.write_text(urdf)
    proposal = propose_hand(path)
    text = "\n".join(proposal.reasons)
    assert (
        "by geometry" in text
        and "thumb: 'a_link'" in text
        and "index: 'b_distal'" in text
        and "middle: 'c_link'" in text
    )
    assert "side: right — from the way the fingers curl" in text
    assert "WARNING" in text and "has no geometry" in text  # no meshes read from a URDF, no tip names: link origins
    mirrored = propose_hand(path, side="left")
    assert any("WARNING: with side left the fingers curl away" in r for r in mirrored.reasons)


def test_init_hand_bad_input(tmp_path, capsys):
    assert main(["retarget", "init-hand", str(tmp_path / "missing.xml")]) == 2
    assert "robot description not found" in capsys.readouterr().err
    rigid = tmp_path / "rigid.xml"
    rigid.write_text('<mujoco><worldbody><body name="a"><geom size="0.1"/></body></worldbody></mujoco>')
    with pytest.raises(InputError, match="no hinge or slide joints: not a hand"):
        propose_hand(rigid)
    assert main(["retarget", "init-hand"]) == 2
    assert "needs the robot description" in capsys.readouterr().err


def test_check_hand_reports_reach_round_trip_frame_and_renders(tmp_path, capsys):
    out = tmp_path / "hand.png"
    assert main(["retarget", "check-hand", str(EXAMPLE), "--samples", "40", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "reach thumb" in printed and "reach index" in printed and "reach middle" in printed
    assert "round trip joints -> fingertips -> retarget" in printed and "wrist frame" in printed
    from PIL import Image

    image = np.asarray(Image.open(out))
    assert image.shape[0] == 320 and image.shape[1] == 3 * 320
    assert image.std() > 5  # something was drawn
    worst = float(printed.split("worst ")[1].split(" mm")[0])
    assert worst < 0.5
