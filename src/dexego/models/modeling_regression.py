"""The ``regression`` head (EgoVLA): action queries attend to backbone and proprioception tokens.

Inputs to one transformer: the backbone tokens (projected to the head
width), one token per hand state plus one for the field of view, and H
learned action query tokens. The query outputs go through separate linear
layers per hand. Trained with EgoVLA's loss (see ``losses.action_loss``).
The last block computes only the query rows (the others are never read),
unless ``inputs.optimized`` is False.
"""

from __future__ import annotations

import torch
from torch import nn

from dexego.models.conditioning import ConditionTokens
from dexego.models.configuration_regression import RegressionHeadConfig
from dexego.models.head_inputs import HeadContext, HeadInputs
from dexego.models.layers import Transformer, compact_key_mask, key_mask
from dexego.models.losses import action_loss


class RegressionHead(nn.Module):
    reads_backbone_tokens = True

    def __init__(self, config: RegressionHeadConfig, context: HeadContext, tokenizer=None):
        super().__init__()
        self.config = config
        self.context = context
        space = context.space
        self.input_proj = nn.Linear(context.backbone_width, config.width)
        self.conditions = ConditionTokens(space.hand_dim, config.width)
        self.queries = nn.Parameter(torch.randn(context.horizon, config.width) * 0.02)
        self.transformer = Transformer(config.width, config.depth, config.heads, config.mlp_ratio)
        self.norm = nn.LayerNorm(config.width)
        self.hand_out = nn.ModuleList(nn.Linear(config.width, space.hand_dim) for _ in range(2))

    def predict(self, inputs: HeadInputs) -> torch.Tensor:
        """Normalised action chunk (B, H, D)."""
        backbone = inputs.backbone
        b = backbone.tokens.shape[0]
        conditions = self.conditions(inputs.state, inputs.state_valid, inputs.fov)
        queries = self.queries.expand(b, -1, -1)
        tokens = torch.cat([self.input_proj(backbone.tokens), conditions, queries], dim=1)
        extra = torch.ones(b, conditions.shape[1] + queries.shape[1], dtype=torch.bool, device=tokens.device)
        valid = torch.cat([backbone.mask, extra], dim=1)
        horizon = self.context.horizon
        if inputs.optimized:  # only the query rows of the last block are read
            out = self.norm(self.transformer(tokens, compact_key_mask(valid), keep=slice(-horizon, None)))
        else:
            out = self.norm(self.transformer(tokens, key_mask(valid, tokens.shape[1])))[:, -horizon:]
        return torch.cat([layer(out) for layer in self.hand_out], dim=-1)

    def compute_loss(self, inputs: HeadInputs, target: torch.Tensor, valid: torch.Tensor):
        pred = self.predict(inputs)
        return action_loss(pred, target, valid, self.context.space, self.context.normalizer(), self.context.loss_weights,
                           inputs.dim_mask)  # fmt: skip

    def sample(self, inputs: HeadInputs, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.predict(inputs)
