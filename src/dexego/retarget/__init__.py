"""Retargeting: human hands <-> robot hands (optimisation and a learned MLP), arm IK, robot -> human action space."""

from dexego.retarget.chain import KinematicChain, PointSpec, load_chain
from dexego.retarget.hand import HandSpec, RobotHand, load_hand_spec
from dexego.retarget.hand_retarget import (
    HandRetargetConfig,
    HandRetargeter,
    HandRetargetResult,
    ego48_to_targets,
    human_to_targets,
)
from dexego.retarget.kinematics import ChainKinematics

__all__ = [
    "ChainKinematics",
    "HandRetargetConfig",
    "HandRetargetResult",
    "HandRetargeter",
    "HandSpec",
    "KinematicChain",
    "PointSpec",
    "RobotHand",
    "ego48_to_targets",
    "human_to_targets",
    "load_chain",
    "load_hand_spec",
]
