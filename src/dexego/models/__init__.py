"""VLA models: backbones (built-in tiny, Hugging Face VLMs) + action heads (regression, flow, tokens) = Policy."""

from dexego.models.configuration_backbones import HFBackboneConfig, TinyBackboneConfig
from dexego.models.configuration_flow import FlowHeadConfig
from dexego.models.configuration_policy import LossWeights, PolicyConfig
from dexego.models.configuration_regression import RegressionHeadConfig
from dexego.models.configuration_tokens import TokenHeadConfig
from dexego.models.policy import Policy

__all__ = [
    "FlowHeadConfig",
    "HFBackboneConfig",
    "LossWeights",
    "Policy",
    "PolicyConfig",
    "RegressionHeadConfig",
    "TinyBackboneConfig",
    "TokenHeadConfig",
]
