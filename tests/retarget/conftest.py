"""Test robots written from the benchmark spec's numbers: an Inspire-like hand and a small 7-DoF arm."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

FINGER_Y = {"index": 0.03, "middle": 0.01, "ring": -0.01, "little": -0.03}


def inspire_like_xml(side: str = "right", free_base: bool = False) -> str:
    """An Inspire-like hand: 6 actuated + 6 coupled joints, palm along +x, fingers 32 mm segments."""
    s = 1.0 if side == "right" else -1.0  # mirror y for the left hand
    fingers = ""
    for finger, y in FINGER_Y.items():
        fingers += f"""
      <body name="{finger}_proximal" pos="0.136 {s * y} 0">
        <joint name="{finger}_proximal_joint" axis="0 1 0" range="0 1.7"/>
        <geom type="capsule" fromto="0 0 0 0.032 0 0" size="0.008"/>
        <body name="{finger}_intermediate" pos="0.032 0 0">
          <joint name="{finger}_intermediate_joint" axis="0 1 0" range="0 1.7"/>
          <geom type="capsule" fromto="0 0 0 0.032 0 0" size="0.007"/>
          <site name="{finger}_tip" pos="0.036 0 0"/>
        </body>
      </body>"""
    equalities = "".join(
        f'\n    <joint joint1="{f}_intermediate_joint" joint2="{f}_proximal_joint" polycoef="0 1 0 0 0"/>'
        for f in FINGER_Y
    )
    base_joint = '<freejoint name="float"/>' if free_base else ""
    return f"""<mujoco model="inspire_like_{side}">
  <compiler angle="radian" autolimits="true"/>
  <default><joint armature="0.001" damping="0.05"/></default>
  <worldbody>
    <body name="hand_base" pos="0.1 0.2 0.3" quat="0.9 0.1 0.3 0.2">
      {base_joint}
      <geom type="box" size="0.07 0.045 0.012" pos="0.07 0 0"/>
      <site name="wrist" pos="0 0 0"/>
      <site name="index_mcp" pos="0.136 {s * 0.03} 0"/>
      <site name="middle_mcp" pos="0.136 {s * 0.01} 0"/>
      <site name="little_mcp" pos="0.13 {s * -0.03} 0"/>
      <body name="thumb_base" pos="0.03 {s * 0.035} -0.01">
        <joint name="thumb_yaw_joint" axis="1 0 0" range="-0.1 1.3"/>
        <geom type="sphere" size="0.01"/>
        <body name="thumb_proximal" quat="0.819 0 0 {s * 0.574}">
          <joint name="thumb_pitch_joint" axis="0 1 0" range="-0.1 0.6"/>
          <geom type="capsule" fromto="0 0 0 0.045 0 0" size="0.009"/>
          <body name="thumb_intermediate" pos="0.045 0 0">
            <joint name="thumb_intermediate_joint" axis="0 1 0" range="-0.16 0.96"/>
            <geom type="capsule" fromto="0 0 0 0.032 0 0" size="0.008"/>
            <body name="thumb_distal" pos="0.032 0 0">
              <joint name="thumb_distal_joint" axis="0 1 0" range="-0.24 1.44"/>
              <geom type="capsule" fromto="0 0 0 0.028 0 0" size="0.007"/>
              <site name="thumb_tip" pos="0.03 0 0"/>
            </body>
          </body>
        </body>
      </body>{fingers}
    </body>
  </worldbody>
  <equality>
    <joint joint1="thumb_intermediate_joint" joint2="thumb_pitch_joint" polycoef="0 1.6 0 0 0"/>
    <joint joint1="thumb_distal_joint" joint2="thumb_pitch_joint" polycoef="0 2.4 0 0 0"/>{equalities}
  </equality>
</mujoco>
"""


def hand_yaml_dict(side: str, description: str) -> dict:
    return {
        "name": f"inspire_like_{side}",
        "side": side,
        "description": description,
        "root": "hand_base",
        "keypoints": {
            "wrist": "wrist",
            "index_mcp": "index_mcp",
            "middle_mcp": "middle_mcp",
            "little_mcp": "little_mcp",
            "thumb_tip": "thumb_tip",
            "index_tip": "index_tip",
            "middle_tip": "middle_tip",
            "ring_tip": "ring_tip",
            "little_tip": "little_tip",
            "index_pip": {"body": "index_intermediate"},
        },
    }


def write_hand(directory: Path, side: str = "right", free_base: bool = False) -> Path:
    """Write the MJCF and its keypoint YAML; return the YAML path."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"hand_{side}.xml").write_text(inspire_like_xml(side, free_base))
    path = directory / f"hand_{side}.yaml"
    path.write_text(yaml.safe_dump(hand_yaml_dict(side, f"hand_{side}.xml")))
    return path


ARM_XML = """<mujoco model="arm7">
  <compiler angle="radian" autolimits="true"/>
  <default><geom type="sphere" size="0.02"/></default>
  <worldbody>
    <body name="torso" pos="0 0 1">
      <body name="shoulder_pitch" pos="0 -0.148 0.423">
        <geom/>
        <joint name="shoulder_pitch" axis="0 1 0" range="-3.0 1.5"/>
        <body name="shoulder_roll">
          <geom/>
        <joint name="shoulder_roll" axis="1 0 0" range="-3.0 0.4"/>
          <body name="shoulder_yaw" pos="0 0 -0.05">
            <joint name="shoulder_yaw" axis="0 0 1" range="-2.6 2.6"/>
            <geom type="capsule" fromto="0 0 0 0 0 -0.28" size="0.03"/>
            <body name="elbow" pos="0 0 -0.28">
              <joint name="elbow" axis="0 1 0" range="-1.0 2.5"/>
              <geom type="capsule" fromto="0 0 0 0.2 0 0" size="0.025"/>
              <body name="wrist_roll" pos="0.2 0 0">
                <geom/>
        <joint name="wrist_roll" axis="1 0 0" range="-2.9 2.9"/>
                <body name="wrist_pitch" pos="0.03 0 0">
                  <geom/>
        <joint name="wrist_pitch" axis="0 1 0" range="-1.6 1.6"/>
                  <body name="wrist_yaw" pos="0.02 0 0">
                    <joint name="wrist_yaw" axis="0 0 1" range="-1.6 1.6"/>
                    <geom type="box" size="0.03 0.02 0.01" pos="0.03 0 0"/>
                    <site name="ee" pos="0.03 0 0" quat="0.7071 0 0.7071 0"/>
                  </body>
                </body>
              </body>
            </body>
          </body>
        </body>
      </body>
    </body>
  </worldbody>
</mujoco>
"""


@pytest.fixture
def hand_yaml(tmp_path: Path) -> Path:
    return write_hand(tmp_path / "hand", "right")


@pytest.fixture
def arm_xml(tmp_path: Path) -> Path:
    path = tmp_path / "arm7.xml"
    path.write_text(ARM_XML)
    return path


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Small batched ops run faster on one thread, and far faster when the machine is shared."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
