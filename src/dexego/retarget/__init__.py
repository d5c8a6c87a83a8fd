"""Retargeting: human hands <-> robot hands (optimisation and a learned MLP), arm IK, robot -> human action space.

Any robot is a description file away: a hand YAML (keypoint correspondence, see
:mod:`dexego.retarget.hand`) next to its MJCF/URDF, or a robot YAML with hands,
arms and a head camera (see :mod:`dexego.retarget.robots`). Built in:
``h1_inspire`` (the benchmark robot), ``inspire_hand_left`` / ``inspire_hand_right``.
Heavier pieces live in their modules: ``learned`` (the 64-128-64 MLP), ``to_human``
(robot -> ego48 / MANO), ``commands`` (policy output -> robot commands), ``dataset``
(``dexego retarget``), ``replay`` (retargeted human demos on the simulated robot),
``urdf`` (URDF export).
"""

from dexego.retarget.arm import ArmIKConfig, ArmIKResult, RobotArm
from dexego.retarget.chain import KinematicChain, PointSpec, load_chain
from dexego.retarget.hand import HandSpec, RobotHand, load_hand_spec
from dexego.retarget.hand_retarget import (
    HandRetargetConfig,
    HandRetargeter,
    HandRetargetResult,
    ego48_to_targets,
    human_to_targets,
    knuckle_aligned_targets,
)
from dexego.retarget.kinematics import ChainKinematics
from dexego.retarget.robots import Robot, builtin_names, load_robot

__all__ = [
    "ArmIKConfig",
    "ArmIKResult",
    "ChainKinematics",
    "HandRetargetConfig",
    "HandRetargetResult",
    "HandRetargeter",
    "HandSpec",
    "KinematicChain",
    "PointSpec",
    "Robot",
    "RobotArm",
    "RobotHand",
    "builtin_names",
    "ego48_to_targets",
    "human_to_targets",
    "knuckle_aligned_targets",
    "load_chain",
    "load_hand_spec",
    "load_robot",
]
