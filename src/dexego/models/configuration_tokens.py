"""Configuration of the ``tokens`` head (METIS: autoregressive motion tokens)."""

from __future__ import annotations

from dataclasses import dataclass

from dexego.models.config_registry import register_head_config


@register_head_config("tokens")
@dataclass(frozen=True)
class TokenHeadConfig:
    """A causal transformer that predicts the codes of a fitted action tokenizer (residual VQ or FAST)."""

    tokenizer_dir: str = ""  # a directory written by `dexego tokenizer fit` (or a tokenizer passed to Policy)
    # METIS's visual-dynamics tokens: a `dexego tokenizer fit --kind dynamics` directory. The head then generates
    # [dynamics codes][hand codes]; training samples carry the frame at the chunk's end (data.sample.future_frame).
    dynamics_dir: str = ""
    # How generated codes become the chunk: "tokenizer" (the hand tokenizer's decoder) or "head" (a small MLP on the
    # transformer's states over the generated codes, trained beside the token loss; METIS's decoder head).
    decoder: str = "tokenizer"
    decoder_weight: float = 1.0  # weight of the decoder head's L1 loss
    # Reasoning before acting (METIS): generate a short text plan ("what to do next") before the motion codes,
    # trained on the samples' plan texts (data.sample.plan: the simulator's active subtask, else the instruction).
    reasoning: bool = False
    plan_bytes: int = 24  # the plan slot: at most this many UTF-8 bytes
    width: int = 192
    depth: int = 2
    heads: int = 4
    mlp_ratio: float = 4.0
    temperature: float = 0.75  # 0 = greedy
    top_p: float = 0.9

    def __post_init__(self):
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError("temperature must be >= 0 and top_p in (0, 1]")
        if self.decoder not in ("tokenizer", "head"):
            raise ValueError(f"decoder must be 'tokenizer' or 'head', got {self.decoder!r}")
        if self.decoder_weight < 0:
            raise ValueError("decoder_weight must be >= 0")
        if not 1 <= self.plan_bytes <= 256:
            raise ValueError("plan_bytes must be in 1..256")
