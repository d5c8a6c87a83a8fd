"""Configuration of the ``flow`` head (VITRA's action expert, trained by flow matching)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dexego.models.config_registry import register_head_config


@register_head_config("flow")
@dataclass(frozen=True)
class FlowHeadConfig:
    """A DiT over the action chunk: causal attention over steps, adaLN on the backbone's cognition feature.

    VITRA uses DiT-B (12 layers, width 768, 12 heads); the defaults are CPU-sized.
    """

    width: int = 128
    depth: int = 3
    heads: int = 4
    mlp_ratio: float = 4.0
    num_steps: int = 10  # Euler integration steps at inference
    cfg_scale: float = 5.0  # classifier-free guidance; 1.0 disables the unconditional pass
    cond_dropout: float = 0.1  # probability of training without the backbone feature (enables guidance)
    # "sample": the network predicts the clean chunk (trained with the EgoVLA loss, rotation matrices included),
    # the velocity is derived from it; "velocity": it predicts noise - actions (plain flow-matching loss).
    prediction: Literal["sample", "velocity"] = "sample"

    def __post_init__(self):
        if self.num_steps < 1:
            raise ValueError("num_steps must be >= 1")
        if not 0.0 <= self.cond_dropout < 1.0:
            raise ValueError("cond_dropout must be in [0, 1)")
