"""Configuration of the ``tokens`` head (METIS: autoregressive motion tokens)."""

from __future__ import annotations

from dataclasses import dataclass

from dexego.models.config_registry import register_head_config


@register_head_config("tokens")
@dataclass(frozen=True)
class TokenHeadConfig:
    """A causal transformer that predicts the codes of a fitted action tokenizer (residual VQ or FAST)."""

    tokenizer_dir: str = ""  # a directory written by `dexego tokenizer fit` (or a tokenizer passed to Policy)
    width: int = 192
    depth: int = 2
    heads: int = 4
    mlp_ratio: float = 4.0
    temperature: float = 0.75  # 0 = greedy
    top_p: float = 0.9

    def __post_init__(self):
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError("temperature must be >= 0 and top_p in (0, 1]")
