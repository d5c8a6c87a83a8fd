"""The ``flow`` head (VITRA's action expert), trained by flow matching.

A DiT over [left-hand state, right-hand state, field of view, noisy action
steps 1..H]. Action step i attends to the three condition tokens and to
steps <= i (causal, as VITRA: a step never depends on later, possibly
zero-padded steps). Every block is adaLN-modulated by the backbone's pooled
("cognition") feature plus the flow time. Flow matching: x_t = t * noise +
(1 - t) * actions, the network predicts the velocity noise - actions;
inference integrates from t = 1 to 0 in ``num_steps`` Euler steps with
classifier-free guidance (the condition is dropped with ``cond_dropout``
during training and replaced by a learned null feature).

With ``prediction = "sample"`` (default) the network outputs the clean
chunk x0 and the velocity is (x_t - x0) / t; it is trained with the same
EgoVLA loss as the regression head (translation, rotation matrices, hand).
With ``prediction = "velocity"`` it outputs the velocity, trained by the
masked velocity error weighted per part with the policy's loss weights.

Sampling computes the flow-time embeddings and every block's adaLN
modulation for all steps in one product each (they do not depend on the
chunk), and the last block computes only the action rows; with
``inputs.optimized`` False it runs the plain per-step computation instead
(the reference for tests and benchmarks; results agree up to rounding).
"""

from __future__ import annotations

import torch
from torch import nn

from dexego.models.conditioning import ConditionTokens
from dexego.models.configuration_flow import FlowHeadConfig
from dexego.models.head_inputs import HeadContext, HeadInputs
from dexego.models.layers import Transformer, mlp, sinusoidal_embedding
from dexego.models.losses import action_loss, part_weights, step_hand_mask


class FlowHead(nn.Module):
    reads_backbone_tokens = False  # only the pooled ("cognition") feature

    def __init__(self, config: FlowHeadConfig, context: HeadContext, tokenizer=None):
        super().__init__()
        self.config = config
        self.context = context
        space, width = context.space, config.width
        self.cognition_proj = nn.Linear(context.backbone_width, width)
        self.null_cognition = nn.Parameter(torch.zeros(width))
        self.time_mlp = mlp(width, width)
        self.conditions = ConditionTokens(space.hand_dim, width)
        self.action_in = nn.Linear(space.dim, width)
        self.step_pos = nn.Parameter(torch.randn(context.horizon, width) * 0.02)
        self.transformer = Transformer(width, config.depth, config.heads, config.mlp_ratio, adaln=True)
        self.final_norm = nn.LayerNorm(width, elementwise_affine=False)
        self.final_modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))
        self.action_out = nn.Linear(width, space.dim)
        nn.init.zeros_(self.final_modulation[1].weight)
        nn.init.zeros_(self.final_modulation[1].bias)
        self.register_buffer("dim_weights", part_weights(space, context.loss_weights), persistent=False)
        n = ConditionTokens.count + context.horizon
        mask = torch.ones(n, n, dtype=torch.bool).tril()
        mask[: ConditionTokens.count, : ConditionTokens.count] = True
        self.register_buffer("attn_mask", mask, persistent=False)

    def network(self, x_t: torch.Tensor, t: torch.Tensor, cognition: torch.Tensor, conditions: torch.Tensor,
                optimized: bool = True) -> torch.Tensor:  # fmt: skip
        cond = self.condition(cognition, t)
        return self.denoise(x_t, conditions, self.transformer.modulations(cond), self.final_modulation(cond), optimized)

    def condition(self, cognition: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """adaLN conditioning: cognition (..., B, W) + embedding of the flow time t (..., B) (or (S, 1) for S steps)."""
        return cognition + self.time_mlp(sinusoidal_embedding(t * 1000.0, self.config.width))

    def denoise(self, x_t: torch.Tensor, conditions: torch.Tensor, modulations: list[torch.Tensor],
                final_modulation: torch.Tensor, optimized: bool = True) -> torch.Tensor:  # fmt: skip
        """The DiT on [conditions, noisy steps] with its adaLN modulations given -> (B, H, D).

        ``optimized``: the last block computes only the action rows (the condition rows are not read)."""
        tokens = torch.cat([conditions, self.action_in(x_t) + self.step_pos], dim=1)
        count = ConditionTokens.count
        if optimized:
            out = self.transformer(tokens, self.attn_mask, keep=slice(count, None), modulations=modulations)
        else:
            out = self.transformer(tokens, self.attn_mask, modulations=modulations)[:, count:]
        shift, scale = final_modulation[:, None].chunk(2, dim=-1)
        return self.action_out(self.final_norm(out) * (1 + scale) + shift)

    def compute_loss(self, inputs: HeadInputs, target: torch.Tensor, valid: torch.Tensor):
        b = target.shape[0]
        cognition = self.cognition_proj(inputs.backbone.pooled)
        if self.training and self.config.cond_dropout > 0:
            drop = torch.rand(b, 1, device=target.device) < self.config.cond_dropout
            cognition = torch.where(drop, self.null_cognition, cognition)
        conditions = self.conditions(inputs.state, inputs.state_valid, inputs.fov)
        t = torch.rand(b, device=target.device)
        noise = torch.randn_like(target)
        x_t = t[:, None, None] * noise + (1 - t[:, None, None]) * target
        out = self.network(x_t, t, cognition, conditions, inputs.optimized)
        if self.config.prediction == "sample":
            context = self.context
            loss, metrics = action_loss(out, target, valid, context.space, context.normalizer(), context.loss_weights,
                                        inputs.dim_mask)  # fmt: skip
            return loss, metrics
        error = (out - (noise - target)) ** 2
        mask = step_hand_mask(valid, self.context.space, inputs.dim_mask)
        loss = (error * mask * self.dim_weights).sum() / (mask * self.dim_weights).sum().clamp_min(1e-8)
        return loss, {"loss_velocity_mse": float(((error * mask).sum() / mask.sum().clamp_min(1)).detach())}

    def sample(self, inputs: HeadInputs, generator: torch.Generator | None = None) -> torch.Tensor:
        b = inputs.state.shape[0]
        space = self.context.space
        device = inputs.state.device
        cognition = self.cognition_proj(inputs.backbone.pooled)
        conditions = self.conditions(inputs.state, inputs.state_valid, inputs.fov)
        guided = self.config.cfg_scale != 1.0
        if guided:  # conditional and unconditional passes in one batch
            cognition = torch.cat([cognition, self.null_cognition.expand(b, -1)])
            conditions = torch.cat([conditions, conditions])
        x = torch.randn(b, self.context.horizon, space.dim, generator=generator, device=device)
        steps = self.config.num_steps
        times = [1.0 - i / steps for i in range(steps)]
        if inputs.optimized:
            cond = self.condition(cognition, torch.tensor(times, device=device)[:, None])  # (steps, rows, W)
            modulations, final = self.transformer.modulations(cond), self.final_modulation(cond)
        for i in range(steps):
            t = torch.full((b,), times[i], device=device)
            if inputs.optimized:
                out = self.denoise(
                    torch.cat([x, x]) if guided else x, conditions, [m[i] for m in modulations], final[i]
                )
            elif guided:
                out = self.network(torch.cat([x, x]), torch.cat([t, t]), cognition, conditions, optimized=False)
            else:
                out = self.network(x, t, cognition, conditions, optimized=False)
            if guided:
                cond_out, uncond_out = out.chunk(2)
                out = uncond_out + self.config.cfg_scale * (cond_out - uncond_out)
            # t >= 1 / steps here, so the division is safe; the last step lands on the predicted sample.
            v = (x - out) / t[:, None, None] if self.config.prediction == "sample" else out
            x = x - v / steps
        return x
