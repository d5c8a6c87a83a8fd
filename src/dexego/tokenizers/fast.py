"""FAST action tokenizer: DCT along time, scaled and rounded coefficients, byte-level BPE.

Encode: orthonormal DCT-II of the normalised chunk over time -> round(coeff
x scale) -> flatten (frequency, dim) row-major so the low frequencies of all
dims come first -> one character per integer (offset by the smallest value
seen when fitting) -> byte-level BPE ids. Decode reverses each step.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy.fft import dct, idct
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from dexego.config import load_config, to_dict
from dexego.errors import InputError
from dexego.tokenizers._files import atomic_directory, read_json, write_json
from dexego.tokenizers.base import TOKENIZER_FILE, check_chunks

BPE_FILE = "bpe.json"


@dataclass(frozen=True)
class FASTConfig:
    scale: float = 10.0
    vocab_size: int = 1024
    min_frequency: int = 2


class FASTTokenizer:
    kind = "fast"

    def __init__(self, config: FASTConfig, bpe: Tokenizer, horizon: int, dim: int, min_value: int, max_value: int, max_tokens: int):
        self.config, self.bpe = config, bpe
        self.horizon, self.dim = horizon, dim
        self.min_value, self.max_value = min_value, max_value
        self._max_tokens = max_tokens

    @property
    def vocab_size(self) -> int:
        return self.bpe.get_vocab_size()

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def token_range(self, position: int) -> None:
        return None  # any id at any position

    @staticmethod
    def _coefficients(chunks: np.ndarray, scale: float) -> np.ndarray:
        return np.rint(dct(chunks, type=2, norm="ortho", axis=1) * scale).astype(np.int64)

    def _to_text(self, coefficients: np.ndarray) -> list[str]:
        clipped = np.clip(coefficients, self.min_value, self.max_value) - self.min_value
        return ["".join(map(chr, row)) for row in clipped.reshape(len(clipped), -1).tolist()]

    def encode(self, chunks: np.ndarray) -> list[list[int]]:
        chunks = check_chunks(chunks, self.horizon, self.dim)
        return [e.ids for e in self.bpe.encode_batch(self._to_text(self._coefficients(chunks, self.config.scale)))]

    def decode(self, tokens: Sequence[Sequence[int]]) -> np.ndarray:
        size = self.horizon * self.dim
        vocab = self.vocab_size
        coefficients = np.zeros((len(tokens), size), dtype=np.float64)
        for i, ids in enumerate(tokens):
            text = self.bpe.decode([int(t) for t in ids if 0 <= int(t) < vocab])
            values = [ord(c) + self.min_value for c in text[:size]]
            # Generated sequences may hold invalid UTF-8 (decoded as U+FFFD) or stray values: treat them as 0.
            values = [v if self.min_value <= v <= self.max_value else 0 for v in values]
            coefficients[i, : len(values)] = values
        coefficients = coefficients.reshape(len(tokens), self.horizon, self.dim) / self.config.scale
        return idct(coefficients, type=2, norm="ortho", axis=1).astype(np.float32)

    @classmethod
    def fit(cls, chunks: np.ndarray, config: FASTConfig = FASTConfig()) -> "FASTTokenizer":
        chunks = check_chunks(chunks)
        coefficients = cls._coefficients(chunks, config.scale)
        min_value, max_value = int(coefficients.min()), int(coefficients.max())
        bpe = Tokenizer(models.BPE())
        bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
        bpe.decoder = decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
        trainer = trainers.BpeTrainer(vocab_size=max(config.vocab_size, len(alphabet)), min_frequency=config.min_frequency,
                                      initial_alphabet=alphabet, show_progress=False)  # fmt: skip
        tokenizer = cls(config, bpe, chunks.shape[1], chunks.shape[2], min_value, max_value, 0)
        texts = tokenizer._to_text(coefficients)
        bpe.train_from_iterator(texts, trainer=trainer)
        longest = max(len(e.ids) for e in bpe.encode_batch(texts))
        tokenizer._max_tokens = int(np.ceil(longest * 1.25))  # head room for unseen chunks
        return tokenizer

    def save(self, directory: "str | os.PathLike") -> None:
        with atomic_directory(directory) as tmp:
            write_json(tmp / TOKENIZER_FILE, {
                "kind": self.kind, "horizon": self.horizon, "dim": self.dim, "config": to_dict(self.config),
                "min_value": self.min_value, "max_value": self.max_value, "max_tokens": self._max_tokens,
            })  # fmt: skip
            self.bpe.save(str(tmp / BPE_FILE))

    @classmethod
    def load(cls, directory: "str | os.PathLike") -> "FASTTokenizer":
        directory = Path(directory)
        meta = read_json(directory / TOKENIZER_FILE, "action tokenizer description")
        fields = []
        for key in ("horizon", "dim", "min_value", "max_value", "max_tokens"):
            try:
                fields.append(int(meta[key]))
            except KeyError:
                raise InputError(directory / TOKENIZER_FILE, key, "missing") from None
            except (TypeError, ValueError):
                raise InputError(directory / TOKENIZER_FILE, key, f"expected an integer, got {meta[key]!r}") from None
        if not (directory / BPE_FILE).is_file():
            raise InputError(directory / BPE_FILE, None, "missing (the BPE model of the tokenizer)")
        try:
            bpe = Tokenizer.from_file(str(directory / BPE_FILE))
        except Exception as exc:  # the tokenizers library raises its own exception types
            raise InputError(directory / BPE_FILE, None, f"cannot load the BPE model: {exc}") from exc
        return cls(load_config(FASTConfig, meta.get("config", {}), origin=str(directory / TOKENIZER_FILE), prefix="config"), bpe, *fields)
