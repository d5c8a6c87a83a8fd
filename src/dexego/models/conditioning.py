"""Proprioception and camera tokens: one token per hand (its current state) and one for the field of view."""

from __future__ import annotations

import torch
from torch import nn

from dexego.models.layers import mlp


class ConditionTokens(nn.Module):
    """(state (B, D) normalised, state_valid (B, 2), fov (B, 2) radians) -> (B, 3, W): left, right, fov."""

    count = 3

    def __init__(self, hand_dim: int, width: int):
        super().__init__()
        self.hand_dim = hand_dim
        self.state_mlp = mlp(hand_dim, width)
        self.side_embed = nn.Parameter(torch.randn(2, width) * 0.02)
        self.missing_hand = nn.Parameter(torch.randn(width) * 0.02)
        self.fov_mlp = mlp(2, width)

    def forward(self, state: torch.Tensor, state_valid: torch.Tensor, fov: torch.Tensor) -> torch.Tensor:
        hands = self.state_mlp(state.view(state.shape[0], 2, self.hand_dim))
        hands = torch.where(state_valid[..., None], hands, self.missing_hand) + self.side_embed
        return torch.cat([hands, self.fov_mlp(fov)[:, None]], dim=1)
