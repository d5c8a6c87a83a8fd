"""The token head's original decoding loop, kept as the reference its faster ``generate`` must reproduce.

A straight copy of ``TokenHead.generate`` before it was optimised: a key/value
cache grown with ``torch.cat`` every step, the key mask rebuilt every step,
one transformer step per position up to ``max_tokens + 1`` (the forced final
EOS included), and a Python loop per row. Used by the equality tests and as
the named baseline of benchmarks/inference.py.
"""

from __future__ import annotations

import torch

from dexego.models.head_inputs import HeadInputs


class GrowingCache:
    """The original cache: keys and values concatenated to the previous ones every step."""

    def __init__(self):
        self.k = self.v = None

    def update(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.k is not None:
            k, v = torch.cat([self.k, k], dim=2), torch.cat([self.v, v], dim=2)
        self.k, self.v = k, v
        return k, v


@torch.no_grad()
def reference_generate(head, inputs: HeadInputs, generator: torch.Generator | None = None) -> list[list[int]]:
    prefix, prefix_valid = head._prefix(inputs)
    b, p = prefix.shape[:2]
    caches = [GrowingCache() for _ in head.transformer.blocks]
    head.transformer(prefix, prefix_valid[:, None, :].expand(-1, p, -1), caches=caches)
    key_valid = prefix_valid
    token = torch.full((b,), head.boa, dtype=torch.long, device=prefix.device)
    finished = torch.zeros(b, dtype=torch.bool, device=prefix.device)
    sequences: list[list[int]] = [[] for _ in range(b)]
    for position in range(head.max_tokens + 1):
        key_valid = torch.cat([key_valid, torch.ones(b, 1, dtype=torch.bool, device=prefix.device)], dim=1)
        x = head.token_embed(token)[:, None] + head.position[position]
        hidden = head.norm(head.transformer(x, key_valid[:, None, :], caches=caches))[:, -1]
        logits = head.logits(hidden).masked_fill(~head.allowed[position], float("-inf"))
        token = head._sample(logits, generator)
        for i in range(b):
            if not finished[i] and int(token[i]) != head.codes:
                sequences[i].append(int(token[i]))
        finished |= token == head.codes
        if bool(finished.all()):
            break
        token = token.masked_fill(token == head.codes, head.eos)
    return sequences
