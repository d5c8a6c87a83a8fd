"""What the policy hands to an action head."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from dexego.actions import ActionSpace, Normalizer
from dexego.models.backbone_output import BackboneOutput
from dexego.models.configuration_policy import LossWeights


@dataclass
class HeadInputs:
    backbone: BackboneOutput
    state: torch.Tensor  # (B, D) normalised current hands
    state_valid: torch.Tensor  # (B, 2) bool
    fov: torch.Tensor  # (B, 2) radians
    optimized: bool = True  # False: the plain computation (reference for tests and benchmarks)
    frame_now: torch.Tensor | None = None  # (B, 3, H, W) the current frame (uint8 or [0, 1]); visual-dynamics tokens
    frame_future: torch.Tensor | None = None  # (B, 3, H, W) the frame at the chunk's end (training only)
    plan: list[str] | None = None  # the plan texts to learn (reasoning; training only)
    # (B, D) float: the dimensions each sample carries (robot action spaces); None = all. Losses ignore the rest.
    dim_mask: torch.Tensor | None = None


@dataclass
class HeadContext:
    """Fixed facts a head needs beside its own config."""

    space: ActionSpace
    horizon: int
    backbone_width: int
    loss_weights: LossWeights
    normalizer: Callable[[], Normalizer]  # reads the policy's current statistics
