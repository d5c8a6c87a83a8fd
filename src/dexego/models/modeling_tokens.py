"""The ``tokens`` head (METIS): autoregressive prediction of action-tokenizer codes.

Sequence: [backbone tokens, left/right state, fov | <BOA>, code_1 .. code_L]
with targets [code_1 .. code_L, <EOS>]. The prefix attends within itself
(with padding masked); code positions attend to the prefix and causally to
earlier codes. Decoding samples with temperature and nucleus (top-p)
filtering, using a key/value cache, and restricts each position to the ids
the tokenizer allows there (residual-VQ levels).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dexego.models.conditioning import ConditionTokens
from dexego.models.configuration_tokens import TokenHeadConfig
from dexego.models.head_inputs import HeadContext, HeadInputs
from dexego.models.layers import Transformer


class TokenHead(nn.Module):
    reads_backbone_tokens = True
    def __init__(self, config: TokenHeadConfig, context: HeadContext, tokenizer):
        super().__init__()
        if tokenizer is None:
            raise ValueError("the tokens head needs a fitted action tokenizer (tokens.tokenizer_dir or tokenizer=...)")
        if (tokenizer.horizon, tokenizer.dim) != (context.horizon, context.space.dim):
            raise ValueError(f"tokenizer was fitted on chunks ({tokenizer.horizon}, {tokenizer.dim}), "
                             f"the policy predicts ({context.horizon}, {context.space.dim})")  # fmt: skip
        self.config, self.context = config, context
        object.__setattr__(self, "tokenizer", tokenizer)  # not a sub-module: it is fitted before, and frozen
        self.codes = tokenizer.vocab_size
        self.boa, self.eos, self.pad = self.codes, self.codes + 1, self.codes + 2
        self.max_tokens = tokenizer.max_tokens
        width = config.width
        self.input_proj = nn.Linear(context.backbone_width, width)
        self.conditions = ConditionTokens(context.space.hand_dim, width)
        self.token_embed = nn.Embedding(self.codes + 3, width)
        self.position = nn.Parameter(torch.randn(self.max_tokens + 1, width) * 0.02)
        self.transformer = Transformer(width, config.depth, config.heads, config.mlp_ratio)
        self.norm = nn.LayerNorm(width)
        self.logits = nn.Linear(width, self.codes + 1)  # codes + EOS
        allowed = torch.ones(self.max_tokens + 1, self.codes + 1, dtype=torch.bool)
        for position in range(self.max_tokens):
            span = tokenizer.token_range(position)
            if span is not None:
                allowed[position] = False
                allowed[position, span[0]: span[1]] = True
        if tokenizer.token_range(0) is not None:  # fixed-length codes: EOS only at the end
            allowed[: self.max_tokens, self.codes] = False
        allowed[self.max_tokens] = False
        allowed[self.max_tokens, self.codes] = True  # the logit after the last code is EOS
        self.register_buffer("allowed", allowed, persistent=False)

    def _prefix(self, inputs: HeadInputs) -> tuple[torch.Tensor, torch.Tensor]:
        b = inputs.backbone.tokens
        conditions = self.conditions(inputs.state, inputs.state_valid, inputs.fov)
        prefix = torch.cat([self.input_proj(b), conditions], dim=1)
        valid = torch.cat([inputs.backbone.mask, torch.ones(b.shape[0], conditions.shape[1], dtype=torch.bool, device=b.device)], 1)
        return prefix, valid

    def _targets(self, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Normalised chunks -> (B, L + 1) code ids + EOS, padded with PAD (ignored by the loss)."""
        sequences = self.tokenizer.encode(target.detach().cpu().float().numpy())
        out = torch.full((len(sequences), self.max_tokens + 1), self.pad, dtype=torch.long)
        for i, seq in enumerate(sequences):
            seq = seq[: self.max_tokens]
            out[i, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
            out[i, len(seq)] = self.eos
        out[~valid.any(dim=(1, 2)).cpu()] = self.pad  # chunks without one valid hand-step teach nothing
        return out.to(target.device)

    def compute_loss(self, inputs: HeadInputs, target: torch.Tensor, valid: torch.Tensor):
        codes = self._targets(target, valid)
        prefix, prefix_valid = self._prefix(inputs)
        b, p, n = prefix.shape[0], prefix.shape[1], codes.shape[1]
        inputs_ids = torch.cat([torch.full((b, 1), self.boa, device=codes.device), codes[:, :-1]], dim=1)
        inputs_ids = inputs_ids.masked_fill(inputs_ids == self.pad, self.eos)  # PAD only ever follows EOS
        sequence = self.token_embed(inputs_ids) + self.position[:n]
        tokens = torch.cat([prefix, sequence], dim=1)
        mask = torch.ones(b, p + n, p + n, dtype=torch.bool, device=tokens.device)
        mask[:, :, :p] = prefix_valid[:, None, :]
        mask[:, :p, p:] = False
        mask[:, p:, p:] = torch.ones(n, n, dtype=torch.bool, device=tokens.device).tril()
        hidden = self.norm(self.transformer(tokens, mask))[:, p:]
        logits = self.logits(hidden).masked_fill(~self.allowed[:n], float("-inf"))
        flat_targets = codes.masked_fill(codes == self.eos, self.codes).view(-1)  # EOS is the last logit
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), flat_targets.masked_fill(codes.view(-1) == self.pad, -100),
                               ignore_index=-100)  # fmt: skip
        predicted = logits.argmax(-1)
        counted = codes != self.pad
        accuracy = ((predicted == flat_targets.view_as(codes)) & counted).sum() / counted.sum().clamp_min(1)
        return loss, {"token_accuracy": float(accuracy)}

    @torch.no_grad()
    def generate(self, inputs: HeadInputs, generator: torch.Generator | None = None) -> list[list[int]]:
        prefix, prefix_valid = self._prefix(inputs)
        b, p = prefix.shape[:2]
        caches = [dict() for _ in self.transformer.blocks]
        # Prefix pass (the cached keys of padded positions stay masked out by the key mask below).
        self.transformer(prefix, prefix_valid[:, None, :].expand(-1, p, -1), caches=caches)
        key_valid = prefix_valid
        token = torch.full((b,), self.boa, dtype=torch.long, device=prefix.device)
        finished = torch.zeros(b, dtype=torch.bool, device=prefix.device)
        sequences: list[list[int]] = [[] for _ in range(b)]
        for position in range(self.max_tokens + 1):
            key_valid = torch.cat([key_valid, torch.ones(b, 1, dtype=torch.bool, device=prefix.device)], dim=1)
            x = self.token_embed(token)[:, None] + self.position[position]
            hidden = self.norm(self.transformer(x, key_valid[:, None, :], caches=caches))[:, -1]
            logits = self.logits(hidden).masked_fill(~self.allowed[position], float("-inf"))
            token = self._sample(logits, generator)
            for i in range(b):
                if not finished[i] and int(token[i]) != self.codes:
                    sequences[i].append(int(token[i]))
            finished |= token == self.codes
            if bool(finished.all()):
                break
            token = token.masked_fill(token == self.codes, self.eos)
        return sequences

    def _sample(self, logits: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        if self.config.temperature == 0:
            return logits.argmax(-1)
        probs = torch.softmax(logits / self.config.temperature, dim=-1)
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        # Keep the smallest set of most likely ids whose mass reaches top_p (always at least one).
        outside = sorted_probs.cumsum(-1) - sorted_probs >= self.config.top_p
        sorted_probs = sorted_probs.masked_fill(outside, 0.0)
        choice = torch.multinomial(sorted_probs, 1, generator=generator)
        return order.gather(-1, choice)[:, 0]

    def sample(self, inputs: HeadInputs, generator: torch.Generator | None = None) -> torch.Tensor:
        chunks = self.tokenizer.decode(self.generate(inputs, generator))
        return torch.as_tensor(np.asarray(chunks), dtype=inputs.state.dtype, device=inputs.state.device)
