"""Loading the shipped MJCF models (the hands on their own, the robot) and regenerating them."""

from __future__ import annotations

from pathlib import Path

import mujoco

from dexego.sim.hand_mjcf import SIDES, hand_model_xml
from dexego.sim.robot_mjcf import (
    ROBOT_NAME,
    robot_actuators_xml,
    robot_body_xml,
    robot_defaults_xml,
    robot_equalities_xml,
)
from dexego.utils.files import write_text_atomic

ASSETS_DIR = Path(__file__).parent / "assets"


def hand_asset_path(side: str) -> Path:
    """The shipped standalone hand model: ``assets/inspire_hand_<side>.xml`` (wrist fixed at the origin)."""
    if side not in SIDES:
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    return ASSETS_DIR / f"inspire_hand_{side}.xml"


def load_hand_model(side: str) -> mujoco.MjModel:
    """One Inspire-like hand on its own (actuators ``<side>_thumb_yaw`` ... ``<side>_little_proximal``)."""
    return mujoco.MjModel.from_xml_path(str(hand_asset_path(side)))


def robot_model_xml(timestep: float = 1 / 240) -> str:
    """The robot alone (no scene): fixed torso, two arms, two hands, the ego camera."""
    return f"""<mujoco model="{ROBOT_NAME}">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{timestep:.8f}" integrator="implicitfast" cone="elliptic" impratio="10"/>
  <default>
{robot_defaults_xml()}  </default>
  <worldbody>
    <light pos="0 0 3" dir="0 0 -1" castshadow="false"/>
{robot_body_xml()}  </worldbody>
  <equality>
{robot_equalities_xml()}  </equality>
  <actuator>
{robot_actuators_xml()}  </actuator>
</mujoco>
"""


def generated_assets() -> dict[str, str]:
    """File name -> MJCF text of every shipped asset, as the generators write them."""
    files = {hand_asset_path(side).name: hand_model_xml(side) for side in SIDES}
    files[f"{ROBOT_NAME}.xml"] = robot_model_xml()
    return files


def write_assets(directory: Path = ASSETS_DIR) -> list[Path]:
    """Regenerate the shipped asset files (run after changing the generators)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in generated_assets().items():
        written.append(write_text_atomic(directory / name, text))
    return written


if __name__ == "__main__":
    for p in write_assets():
        print(p)
