"""METIS's motion tokens: visual-dynamics codes first, then the hand-motion codes of a residual VQ.

One vocabulary holds both: ids ``0 .. V-1`` are the hand tokenizer's, ids
``V .. V+K-1`` the dynamics codebook's. A sequence is
``[dyn_1 .. dyn_n][hand_1 .. hand_L]`` (METIS: 4 + 40). The hand codes alone
decode to the action chunk; the dynamics codes are what the policy first
commits to about how the scene will move, learned from frame pairs
(:mod:`dexego.tokenizers.dynamics`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dexego.errors import ConfigError, InputError
from dexego.tokenizers.base import TOKENIZER_FILE
from dexego.tokenizers.dynamics import DynamicsTokenizer
from dexego.tokenizers.rvq import RVQTokenizer
from dexego.utils.files import atomic_directory, read_json, write_json

KIND = "motion"
DYNAMICS_DIR = "dynamics"
HAND_DIR = "hand"


class MotionTokenizer:
    kind = KIND

    def __init__(self, dynamics: DynamicsTokenizer, hand):
        if getattr(hand, "kind", None) != "rvq":
            raise ConfigError(
                f"visual-dynamics tokens go with a residual-VQ hand tokenizer (fixed length), got {getattr(hand, 'kind', hand)!r}"
            )
        self.dynamics, self.hand = dynamics, hand
        self.horizon, self.dim = hand.horizon, hand.dim
        self.offset = hand.vocab_size

    @property
    def dynamics_tokens(self) -> int:
        return self.dynamics.num_tokens

    @property
    def vocab_size(self) -> int:
        return self.hand.vocab_size + self.dynamics.codebook_size

    @property
    def max_tokens(self) -> int:
        return self.dynamics_tokens + self.hand.max_tokens

    def token_range(self, position: int) -> tuple[int, int] | None:
        if position < self.dynamics_tokens:
            return self.offset, self.offset + self.dynamics.codebook_size
        return self.hand.token_range(position - self.dynamics_tokens)

    def encode_dynamics(self, now, future) -> np.ndarray:
        """Dynamics ids (N, n) in this vocabulary for frame pairs."""
        return self.dynamics.encode(now, future) + self.offset

    def encode(self, chunks: np.ndarray, now=None, future=None) -> list[list[int]]:
        """Hand codes of ``chunks`` preceded by the dynamics codes of (now, future) frames (both needed)."""
        if now is None or future is None:
            raise InputError(None, "future_image", "motion tokens need the current and the future frame of each chunk")
        hand = self.hand.encode(chunks)
        dynamics = self.encode_dynamics(now, future)
        if len(dynamics) != len(hand):
            raise InputError(None, "future_image", f"{len(dynamics)} frame pairs for {len(hand)} chunks")
        return [list(map(int, d)) + list(h) for d, h in zip(dynamics, hand)]

    def split(self, tokens: Sequence[int]) -> tuple[list[int], list[int]]:
        """(dynamics codes in 0..K-1, hand codes) of one sequence."""
        tokens = list(tokens)
        n = self.dynamics_tokens
        return [t - self.offset for t in tokens[:n]], tokens[n:]

    def decode(self, tokens: Sequence[Sequence[int]]) -> np.ndarray:
        return self.hand.decode([self.split(t)[1] for t in tokens])

    def save(self, directory: str | os.PathLike) -> None:
        with atomic_directory(directory) as tmp:
            write_json(tmp / TOKENIZER_FILE, {"kind": KIND, "horizon": self.horizon, "dim": self.dim})
            self.dynamics.save(tmp / DYNAMICS_DIR)
            self.hand.save(tmp / HAND_DIR)

    @classmethod
    def load(cls, directory: str | os.PathLike) -> MotionTokenizer:
        directory = Path(directory)
        description = read_json(directory / TOKENIZER_FILE, "motion tokenizer description", expect=dict)
        if description.get("kind") != KIND:
            raise InputError(directory / TOKENIZER_FILE, "kind", f"expected {KIND!r}, got {description.get('kind')!r}")
        return cls(DynamicsTokenizer.load(directory / DYNAMICS_DIR), RVQTokenizer.load(directory / HAND_DIR))
