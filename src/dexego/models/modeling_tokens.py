"""The ``tokens`` head (METIS): autoregressive prediction of action-tokenizer codes.

Sequence: [backbone tokens, left/right state, fov | <BOA>, code_1 .. code_L]
with targets [code_1 .. code_L, <EOS>]. The prefix attends within itself
(with padding masked); code positions attend to the prefix and causally to
earlier codes. Decoding samples with temperature and nucleus (top-p)
filtering (greedy at temperature 0), using a key/value cache allocated once,
and restricts each position to the ids the tokenizer allows there
(residual-VQ levels); it stops as soon as every row has emitted EOS or is
complete (see ``generate``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dexego.errors import InputError
from dexego.models.conditioning import ConditionTokens
from dexego.models.configuration_tokens import TokenHeadConfig
from dexego.models.fast_completion import FASTCompletion
from dexego.models.head_inputs import HeadContext, HeadInputs
from dexego.models.layers import KVCache, Transformer, compact_key_mask


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
        self.action_codes = tokenizer.vocab_size  # ids of the tokenizer (hand codes, and dynamics codes if any)
        # Reasoning (METIS): a plan of up to plan_bytes UTF-8 bytes is generated first, in a fixed slot of ids
        # after the tokenizer's (256 bytes + an end-of-plan id that also pads the slot).
        self.plan_len = config.plan_bytes if config.reasoning else 0
        self.plan_end = self.action_codes + 256
        self.codes = self.action_codes + (257 if config.reasoning else 0)
        self.boa, self.eos, self.pad = self.codes, self.codes + 1, self.codes + 2
        self.max_tokens = self.plan_len + tokenizer.max_tokens
        self.last_plans: list[str] | None = None  # the plans of the last ``sample`` call (reasoning on)
        width = config.width
        self.input_proj = nn.Linear(context.backbone_width, width)
        self.conditions = ConditionTokens(context.space.hand_dim, width)
        self.token_embed = nn.Embedding(self.codes + 3, width)
        self.position = nn.Parameter(torch.randn(self.max_tokens + 1, width) * 0.02)
        self.transformer = Transformer(width, config.depth, config.heads, config.mlp_ratio)
        self.norm = nn.LayerNorm(width)
        self.logits = nn.Linear(width, self.codes + 1)  # codes + EOS
        allowed = torch.ones(self.max_tokens + 1, self.codes + 1, dtype=torch.bool)
        allowed[self.plan_len :, self.action_codes : self.codes] = False  # plan ids only in the plan slot
        for position in range(self.plan_len):
            allowed[position] = False
            allowed[position, self.action_codes : self.codes] = True
        for position in range(self.plan_len, self.max_tokens):
            span = tokenizer.token_range(position - self.plan_len)
            if span is not None:
                allowed[position] = False
                allowed[position, span[0] : span[1]] = True
        if tokenizer.token_range(0) is not None:  # fixed-length codes: EOS only at the end
            allowed[: self.max_tokens, self.codes] = False
        allowed[self.max_tokens] = False
        allowed[self.max_tokens, self.codes] = True  # the logit after the last code is EOS
        self.register_buffer("allowed", allowed, persistent=False)
        self.completion = FASTCompletion.for_tokenizer(tokenizer)  # None: stop at EOS or a fixed length only
        self.dynamics_tokens = int(getattr(tokenizer, "dynamics_tokens", 0))  # METIS: visual-dynamics codes come first
        if config.decoder == "head":  # METIS's decoder head: the states over the codes -> the continuous chunk
            self.decoder = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.GELU(),
                                         nn.Linear(width, context.horizon * context.space.dim))  # fmt: skip

    def _prefix(self, inputs: HeadInputs) -> tuple[torch.Tensor, torch.Tensor]:
        b = inputs.backbone.tokens
        conditions = self.conditions(inputs.state, inputs.state_valid, inputs.fov)
        prefix = torch.cat([self.input_proj(b), conditions], dim=1)
        valid = torch.cat(
            [inputs.backbone.mask, torch.ones(b.shape[0], conditions.shape[1], dtype=torch.bool, device=b.device)], 1
        )
        return prefix, valid

    def _targets(self, target: torch.Tensor, valid: torch.Tensor, inputs: HeadInputs) -> torch.Tensor:
        """Normalised chunks -> (B, L + 1) code ids + EOS, padded with PAD (ignored by the loss)."""
        chunks = target.detach().cpu().float().numpy()
        if self.dynamics_tokens:
            if inputs.frame_now is None or inputs.frame_future is None:
                raise InputError(None, "future_image", "the visual-dynamics tokens need the frame at each chunk's end in the "
                                 "batch (data.sample.future_frame = true)")  # fmt: skip
            sequences = self.tokenizer.encode(chunks, inputs.frame_now.cpu(), inputs.frame_future.cpu())
        else:
            sequences = self.tokenizer.encode(chunks)
        if self.plan_len:
            if inputs.plan is None:
                raise InputError(
                    None,
                    "plan",
                    "a reasoning policy trains on plan texts: the batch has none (data.sample.plan = true)",
                )
            sequences = [plan + list(seq) for plan, seq in zip(self.plan_ids(inputs.plan), sequences)]
        out = torch.full((len(sequences), self.max_tokens + 1), self.pad, dtype=torch.long)
        for i, seq in enumerate(sequences):
            seq = seq[: self.max_tokens]
            out[i, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
            out[i, len(seq)] = self.eos
        out[~valid.any(dim=(1, 2)).cpu()] = self.pad  # chunks without one valid hand-step teach nothing
        return out.to(target.device)

    def plan_ids(self, texts: list[str]) -> list[list[int]]:
        """Plan texts -> the plan slot's ids (UTF-8 bytes, cut to plan_bytes, then end-of-plan ids)."""
        out = []
        for text in texts:
            data = str(text).encode("utf-8")[: self.plan_len]
            out.append([self.action_codes + b for b in data] + [self.plan_end] * (self.plan_len - len(data)))
        return out

    def plan_text(self, ids: list[int]) -> str:
        """The plan slot's ids -> text (up to the first end-of-plan id; broken UTF-8 replaced)."""
        data = bytearray()
        for i in ids[: self.plan_len]:
            if i == self.plan_end or not self.action_codes <= i < self.plan_end:
                break
            data.append(i - self.action_codes)
        return data.decode("utf-8", errors="replace")

    def _sequence_hidden(
        self, prefix: torch.Tensor, prefix_valid: torch.Tensor, inputs_ids: torch.Tensor
    ) -> torch.Tensor:
        """Teacher-forced states (B, n, W) of the positions holding ``inputs_ids`` (BOA first) after the prefix."""
        b, p, n = prefix.shape[0], prefix.shape[1], inputs_ids.shape[1]
        sequence = self.token_embed(inputs_ids) + self.position[:n]
        tokens = torch.cat([prefix, sequence], dim=1)
        mask = torch.ones(b, p + n, p + n, dtype=torch.bool, device=tokens.device)
        mask[:, :, :p] = prefix_valid[:, None, :]
        mask[:, :p, p:] = False
        mask[:, p:, p:] = torch.ones(n, n, dtype=torch.bool, device=tokens.device).tril()
        return self.norm(self.transformer(tokens, mask))[:, p:]

    def _decode_states(self, hidden: torch.Tensor, inputs_ids: torch.Tensor) -> torch.Tensor:
        """The decoder head's chunk (B, H, D) from the mean state over the positions holding codes."""
        holds_code = inputs_ids < self.action_codes
        pooled = (hidden * holds_code[..., None]).sum(1) / holds_code.sum(1, keepdim=True).clamp_min(1)
        return self.decoder(pooled).view(hidden.shape[0], self.context.horizon, self.context.space.dim)

    def compute_loss(self, inputs: HeadInputs, target: torch.Tensor, valid: torch.Tensor):
        codes = self._targets(target, valid, inputs)
        prefix, prefix_valid = self._prefix(inputs)
        b, n = prefix.shape[0], codes.shape[1]
        inputs_ids = torch.cat([torch.full((b, 1), self.boa, device=codes.device), codes[:, :-1]], dim=1)
        inputs_ids = inputs_ids.masked_fill(inputs_ids == self.pad, self.eos)  # PAD only ever follows EOS
        hidden = self._sequence_hidden(prefix, prefix_valid, inputs_ids)
        logits = self.logits(hidden).masked_fill(~self.allowed[:n], float("-inf"))
        flat_targets = codes.masked_fill(codes == self.eos, self.codes).view(-1)  # EOS is the last logit
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), flat_targets.masked_fill(codes.view(-1) == self.pad, -100),
                               ignore_index=-100)  # fmt: skip
        predicted = logits.argmax(-1)
        counted = codes != self.pad
        accuracy = ((predicted == flat_targets.view_as(codes)) & counted).sum() / counted.sum().clamp_min(1)
        metrics = {"token_accuracy": float(accuracy)}
        if self.dynamics_tokens:
            k = self.dynamics_tokens
            hit = (predicted[:, :k] == flat_targets.view_as(codes)[:, :k]) & counted[:, :k]
            metrics["dynamics_accuracy"] = float(hit.sum() / counted[:, :k].sum().clamp_min(1))
        if self.config.decoder == "head":
            per_dim = valid.repeat_interleave(self.context.space.hand_dim, dim=-1).to(target.dtype)
            error = (self._decode_states(hidden, inputs_ids) - target).abs() * per_dim
            decoder_loss = error.sum() / per_dim.sum().clamp_min(1)
            loss = loss + self.config.decoder_weight * decoder_loss
            metrics["decoder_l1"] = float(decoder_loss.detach())
        return loss, metrics

    @torch.inference_mode()
    def generate(self, inputs: HeadInputs, generator: torch.Generator | None = None) -> list[list[int]]:
        """One code sequence per row (EOS left out).

        A row stops at its EOS or once it is complete: after a fixed number of codes (a position where only
        EOS is allowed needs no step) or, for FAST, once its codes decode to a full chunk that later codes
        cannot change (the codes are then a prefix of what a longer run would emit, decoding to the same
        chunk). Rows that stopped still run with the others until all have, so the random draws of the rows
        still going are the same as without stopping early (the call as a whole draws fewer).
        """
        prefix, prefix_valid = self._prefix(inputs)
        b, p = prefix.shape[:2]
        steps = self.max_tokens + 1
        caches = [KVCache(p + steps) for _ in self.transformer.blocks]
        # The prefix pass only fills the caches (padded keys stay masked below): its last block computes one row.
        self.transformer(prefix, compact_key_mask(prefix_valid), caches=caches, keep=slice(p - 1, None))
        keys_valid = None
        if not bool(prefix_valid.all()):
            keys_valid = torch.cat([prefix_valid, prefix_valid.new_ones(b, steps)], dim=1)[:, None, :]
        blocked = ~self.allowed
        restricted = blocked.any(dim=1).tolist()  # positions where some ids are not allowed
        only_eos = (~self.allowed[:, : self.codes].any(dim=1)).tolist()
        progress = None if self.completion is None else self.completion.start(b)
        token = torch.full((b,), self.boa, dtype=torch.long, device=prefix.device)
        finished = [False] * b
        sequences: list[list[int]] = [[] for _ in range(b)]
        for position in range(steps):
            if only_eos[position]:  # every row's next output is EOS
                break
            mask = None if keys_valid is None else keys_valid[..., : p + position + 1]
            x = self.token_embed(token)[:, None] + self.position[position]
            hidden = self.norm(self.transformer(x, mask, caches=caches))[:, -1]
            logits = self.logits(hidden)
            if restricted[position]:
                logits = logits.masked_fill(blocked[position], float("-inf"))
            token = self._sample(logits, generator)
            for i, code in enumerate(token.tolist()):
                if finished[i]:
                    continue
                if code == self.codes:
                    finished[i] = True
                else:
                    sequences[i].append(code)
                    finished[i] = progress is not None and position >= self.plan_len and progress.add(i, code)
            if all(finished):
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
        sequences = self.generate(inputs, generator)
        self.last_plans = [self.plan_text(seq) for seq in sequences] if self.plan_len else None
        if self.config.decoder == "head":
            return self._decode_generated(inputs, sequences).to(inputs.state.dtype)
        chunks = self.tokenizer.decode([seq[self.plan_len :] for seq in sequences])
        return torch.as_tensor(np.asarray(chunks), dtype=inputs.state.dtype, device=inputs.state.device)

    def _decode_generated(self, inputs: HeadInputs, sequences: list[list[int]]) -> torch.Tensor:
        """The decoder head's chunks for generated code sequences (one teacher-forced pass over them)."""
        prefix, prefix_valid = self._prefix(inputs)
        n = 1 + max(len(seq) for seq in sequences)
        ids = torch.full((len(sequences), n), self.eos, dtype=torch.long, device=prefix.device)
        ids[:, 0] = self.boa
        for i, seq in enumerate(sequences):
            ids[i, 1 : 1 + len(seq)] = torch.as_tensor(seq, dtype=torch.long)
        return self._decode_states(self._sequence_hidden(prefix, prefix_valid, ids), ids)
