"""The policy configuration: which backbone, which head, the action space, normalisation and loss weights."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from dexego.actions import get_space
from dexego.actions.relative import check_action_frame
from dexego.actions.robot import RobotActionConfig, register_robot_spaces
from dexego.actions.spaces import split_space_name
from dexego.errors import ConfigError
from dexego.models.config_registry import BACKBONE_CONFIGS, HEAD_CONFIGS, check_choice
from dexego.models.configuration_backbones import HFBackboneConfig, TinyBackboneConfig
from dexego.models.configuration_flow import FlowHeadConfig
from dexego.models.configuration_regression import RegressionHeadConfig
from dexego.models.configuration_tokens import TokenHeadConfig


@dataclass(frozen=True)
class LossWeights:
    """EgoVLA's loss weights: wrist translation 20, wrist rotation 5 (on rotation matrices), hand 5."""

    wrist_pos: float = 20.0
    wrist_rot: float = 5.0
    hand: float = 5.0


@dataclass(frozen=True)
class PolicyConfig:
    """Backbone + action head. Only the sub-config named by ``backbone`` / ``head`` is used.

    ``backbone`` and ``head`` name registered configurations (``dexego.models.config_registry``); each registered
    name has its table here (``tiny``, ``hf``; ``regression``, ``flow``, ``tokens``)."""

    backbone: str = "tiny"
    head: str = "regression"
    action_space: str = "ego48"
    # What the head predicts: the chunk as stored ("absolute", hands in the current camera frame) or the motion
    # from the current state ("relative", dexego.actions.relative); chunks are always returned absolute. Every
    # shipped stage config and demo profile sets "relative" (experiments/action_frame: it beats holding still from
    # the 4th-5th step, "absolute" barely or never); the code default stays "absolute" so that configs and
    # checkpoints written before this field existed keep their meaning.
    action_frame: Literal["absolute", "relative"] = "absolute"
    horizon: int = 30  # H future steps per chunk
    n_obs_frames: int = 6  # observation history (oldest first, current last)
    normalization: Literal["mean_std", "quantile", "min_max", "identity"] = "mean_std"
    normalize_rot6d: bool = False  # rot6d is already bounded; by default it passes through unchanged
    loss: LossWeights = field(default_factory=LossWeights)
    tiny: TinyBackboneConfig = field(default_factory=TinyBackboneConfig)
    hf: HFBackboneConfig = field(default_factory=HFBackboneConfig)
    regression: RegressionHeadConfig = field(default_factory=RegressionHeadConfig)
    flow: FlowHeadConfig = field(default_factory=FlowHeadConfig)
    tokens: TokenHeadConfig = field(default_factory=TokenHeadConfig)
    # The robot of a robot action space (``robot:NAME``, ``ego48+robot:NAME``): its hand joints and limits
    # (dexego.actions.robot); ``dexego train`` fills them from ``description``.
    robot: RobotActionConfig = field(default_factory=RobotActionConfig)

    def __post_init__(self):
        robot_space = split_space_name(self.action_space)
        if robot_space is not None:
            if not self.robot.resolved:
                raise ConfigError(f"model.action_space {self.action_space!r} needs the robot's hand joints: give "
                                  "model.robot.description (a robot YAML or built-in name; dexego train reads it), or "
                                  "model.robot from dexego.retarget.robots.robot_action_config")  # fmt: skip
            if self.robot.name != robot_space[1]:
                raise ConfigError(f"model.action_space {self.action_space!r} names robot {robot_space[1]!r}; "
                                  f"model.robot.name is {self.robot.name!r}")  # fmt: skip
            register_robot_spaces(self.robot)
            if self.head == "tokens":
                raise ConfigError(
                    "the tokens head does not train robot action spaces (per-dimension masks); use regression or flow"
                )
        for kind, registry, name in (("backbone", BACKBONE_CONFIGS, self.backbone), ("head", HEAD_CONFIGS, self.head)):
            cls = check_choice(registry, kind, name)
            if not isinstance(getattr(self, name, None), cls):
                raise ValueError(
                    f"{kind} {name!r} is registered ({cls.__name__}) but PolicyConfig has no {name!r} table for it"
                )
        get_space(self.action_space)  # unknown names fail here, with the list of known ones
        check_action_frame(self.action_frame)
        if self.horizon < 1 or self.n_obs_frames < 1:
            raise ValueError("horizon and n_obs_frames must be >= 1")

    @property
    def action_dim(self) -> int:
        return get_space(self.action_space).dim

    @property
    def image_size(self) -> int | None:
        """The square frame size the backbone is configured for; None when the backbone decides (hf, image_size 0)."""
        size = getattr(self.backbone_config, "image_size", 0)
        return int(size) if size else None

    def sample_settings(self) -> dict:
        """What the training samples must match: history frames, chunk horizon, action space, frame size."""
        settings = {"history": self.n_obs_frames - 1, "horizon": self.horizon, "action_space": self.action_space}
        if self.image_size:
            settings["image_size"] = (self.image_size, self.image_size)
        if self.head == "tokens" and self.tokens.dynamics_dir:  # visual-dynamics codes: (now, chunk end) frame pairs
            settings["future_frame"] = True
        if self.head == "tokens" and self.tokens.reasoning:  # the plan texts to learn
            settings["plan"] = True
        return settings

    @property
    def backbone_config(self):
        return getattr(self, self.backbone)

    @property
    def head_config(self):
        return getattr(self, self.head)
