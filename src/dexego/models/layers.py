"""Transformer building blocks shared by the built-in backbone and the action heads.

One block implementation serves every network here: pre-norm self-attention
+ MLP, an optional boolean attention mask (True = may attend), optional adaLN
modulation (DiT's adaLN-Zero) and an optional key/value cache for
autoregressive decoding.

Two inference helpers leave the results unchanged (up to float rounding):
``keep`` computes only some output rows in the last block (the rows a head
reads; every row still serves as a key/value), and precomputed adaLN
modulations let a sampler compute them for all its steps in one product.
``KVCache`` keeps a decoder's keys and values in buffers allocated once.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class KVCache:
    """One attention layer's keys and values for autoregressive decoding, in buffers allocated once.

    ``update`` writes the new keys/values after the stored ones and returns views of all of them (no copy of the
    earlier ones, unlike growing the cache with ``torch.cat`` every step).
    """

    def __init__(self, capacity: int):
        self.capacity, self.length = capacity, 0
        self.k = self.v = None

    def update(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """New (B, heads, n, d) keys and values -> all (B, heads, length, d) so far."""
        end = self.length + k.shape[2]
        if end > self.capacity:
            raise ValueError(f"key/value cache of {self.capacity} positions is full ({end} needed)")
        if self.k is None:
            shape = (k.shape[0], k.shape[1], self.capacity, k.shape[3])
            self.k, self.v = k.new_empty(shape), v.new_empty(shape)
        self.k[:, :, self.length : end] = k
        self.v[:, :, self.length : end] = v
        self.length = end
        return self.k[:, :, :end], self.v[:, :, :end]


class Attention(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not divisible by heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, cache: KVCache | None = None,
                keep: slice | None = None) -> torch.Tensor:  # fmt: skip
        """``mask``: (N, N), (B, N, N) or a key mask (B, 1, N) (broadcast over queries) over all keys (the cached
        ones first); ``keep``: the query rows to compute (all rows are keys and values); ``cache``: anything with
        ``update(k, v) -> (all keys, all values)``, such as ``KVCache``."""
        b, n, w = x.shape
        d = w // self.heads
        if keep is None:
            q, k, v = self.qkv(x).view(b, n, 3, self.heads, d).permute(2, 0, 3, 1, 4)
        else:
            q = F.linear(x[:, keep], self.qkv.weight[:w], self.qkv.bias[:w])
            q = q.view(b, -1, self.heads, d).transpose(1, 2)
            k, v = (
                F.linear(x, self.qkv.weight[w:], self.qkv.bias[w:]).view(b, n, 2, self.heads, d).permute(2, 0, 3, 1, 4)
            )
            if mask is not None and mask.shape[-2] > 1:
                mask = mask[..., keep, :]
        if cache is not None:
            k, v = cache.update(k, v)
        attn_mask = None if mask is None else mask[:, None] if mask.dim() == 3 else mask
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.out(y.transpose(1, 2).reshape(b, q.shape[2], w))


class Block(nn.Module):
    """Pre-norm transformer block; with ``adaln`` its norms are modulated by a conditioning vector."""

    def __init__(self, width: int, heads: int, mlp_ratio: float = 4.0, adaln: bool = False):
        super().__init__()
        self.norm1 = nn.LayerNorm(width, elementwise_affine=not adaln)
        self.attn = Attention(width, heads)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=not adaln)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, width))
        self.modulation = None
        if adaln:
            # shift/scale/gate for attention and MLP; zero-initialised so each block starts as identity.
            self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))
            nn.init.zeros_(self.modulation[1].weight)
            nn.init.zeros_(self.modulation[1].bias)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, cond: torch.Tensor | None = None,
                cache: KVCache | None = None, keep: slice | None = None,
                modulation: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        """``keep``: compute only these output rows; ``modulation``: ``self.modulation(cond)`` computed beforehand."""
        residual = x if keep is None else x[:, keep]
        if self.modulation is None:
            x = residual + self.attn(self.norm1(x), mask, cache, keep)
            return x + self.mlp(self.norm2(x))
        if modulation is None:
            modulation = self.modulation(cond)
        shift1, scale1, gate1, shift2, scale2, gate2 = modulation[:, None].chunk(6, dim=-1)
        x = residual + gate1 * self.attn(self.norm1(x) * (1 + scale1) + shift1, mask, cache, keep)
        return x + gate2 * self.mlp(self.norm2(x) * (1 + scale2) + shift2)


class Transformer(nn.Module):
    def __init__(self, width: int, depth: int, heads: int, mlp_ratio: float = 4.0, adaln: bool = False):
        super().__init__()
        self.blocks = nn.ModuleList(Block(width, heads, mlp_ratio, adaln) for _ in range(depth))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, cond: torch.Tensor | None = None,
                caches: list[KVCache] | None = None, keep: slice | None = None,
                modulations: list[torch.Tensor] | None = None) -> torch.Tensor:  # fmt: skip
        """``keep``: the output rows wanted from the last block (None: all); ``modulations``: per block, its adaLN
        modulation of ``cond`` computed beforehand (see ``modulations``)."""
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            x = block(x, mask, cond, None if caches is None else caches[i], keep if i == last else None,
                      None if modulations is None else modulations[i])  # fmt: skip
        return x

    def modulations(self, cond: torch.Tensor) -> list[torch.Tensor]:
        """Each block's adaLN modulation of ``cond`` (..., W) -> (..., 6W), e.g. for every sampling step at once."""
        return [block.modulation(cond) for block in self.blocks]


def sinusoidal_embedding(values: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """(...,) scalars -> (..., dim) sin/cos features (as DiT's timestep embedding)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=values.device) / half)
    angles = values[..., None].float() * freqs
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


def mlp(inputs: int, width: int, outputs: int | None = None) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, width), nn.GELU(approximate="tanh"), nn.Linear(width, outputs or width))


def key_mask(valid: torch.Tensor, queries: int) -> torch.Tensor:
    """Key-validity (B, N) -> attention mask (B, queries, N)."""
    return valid[:, None, :].expand(-1, queries, -1)


def compact_key_mask(valid: torch.Tensor) -> torch.Tensor | None:
    """Key-validity (B, N) -> a key mask (B, 1, N) broadcast over queries, or None when every key is valid."""
    return None if bool(valid.all()) else valid[:, None, :]
