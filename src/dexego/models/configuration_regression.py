"""Configuration of the ``regression`` head (EgoVLA)."""

from __future__ import annotations

from dataclasses import dataclass

from dexego.models.config_registry import register_head_config


@register_head_config("regression")
@dataclass(frozen=True)
class RegressionHeadConfig:
    """A transformer over backbone tokens, proprioception tokens and action query tokens (EgoVLA: 6 layers, 1536 wide)."""

    width: int = 192
    depth: int = 2
    heads: int = 4
    mlp_ratio: float = 4.0
