"""FAST action tokenizer: DCT along time, scaled and rounded coefficients, byte-level BPE.

Encode: orthonormal DCT-II of the normalised chunk over time -> round(coeff
x scale) -> flatten (frequency, dim) row-major so the low frequencies of all
dims come first -> one character per integer (offset by the smallest value
seen when fitting) -> byte-level BPE ids. Decode reverses each step.

Both directions are batched: the character <-> integer steps go through
UTF-32 buffers (no per-value Python), the BPE through its batch calls, and
the (inverse) DCT runs over the whole batch at once.

Decoding contract: every id must be an integer in [0, vocab_size) (else an
InputError naming the sequence); a sequence that decodes to fewer than H x D
values is padded with zero coefficients, a longer one is cut; characters that
are not coefficient values (invalid UTF-8 from generated ids decodes to
U+FFFD, or values outside the fitted range) count as zero coefficients.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.fft import dct, idct
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from dexego.config import load_config, to_dict
from dexego.errors import ConfigError, InputError
from dexego.tokenizers.base import TOKENIZER_FILE, check_chunks
from dexego.utils.files import atomic_directory, read_json, write_json

BPE_FILE = "bpe.json"
MAX_CODES = 0xD800  # characters U+0000..U+D7FF


@dataclass(frozen=True)
class FASTConfig:
    """FAST tokenizer settings: DCT coefficient scale before rounding, BPE vocabulary size, merge frequency."""

    scale: float = 10.0
    vocab_size: int = 1024
    min_frequency: int = 2


class FASTTokenizer:
    """FAST action tokens: DCT of each normalised chunk, rounded, then byte-pair encoded (``encode``/``decode``)."""

    kind = "fast"

    def __init__(
        self,
        config: FASTConfig,
        bpe: Tokenizer,
        horizon: int,
        dim: int,
        min_value: int,
        max_value: int,
        max_tokens: int,
    ):
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
        """One string per chunk: character code = coefficient - min_value (clipped to the fitted range)."""
        flat = coefficients.reshape(len(coefficients), int(np.prod(coefficients.shape[1:])))
        codes = (np.clip(flat, self.min_value, self.max_value) - self.min_value).astype("<u4")
        joined = codes.tobytes().decode("utf-32-le")
        size = flat.shape[1]
        return [joined[i * size : (i + 1) * size] for i in range(len(flat))]

    def encode(self, chunks: np.ndarray) -> list[list[int]]:
        chunks = check_chunks(chunks, self.horizon, self.dim)
        texts = self._to_text(self._coefficients(chunks, self.config.scale))
        return [e.ids for e in self.bpe.encode_batch_fast(texts)]

    def _checked_ids(self, tokens: Sequence[Sequence[int]]) -> list[list[int]]:
        vocab = self.vocab_size
        if isinstance(tokens, (str, bytes)) or not hasattr(tokens, "__iter__"):
            raise InputError(None, "tokens", f"expected a batch of token id sequences, got {type(tokens).__name__}")
        checked = []
        for i, ids in enumerate(tokens):
            try:
                ids = np.asarray(ids)
            except (TypeError, ValueError) as exc:  # ragged or non-numeric nesting
                raise InputError(None, f"tokens[{i}]", f"expected a sequence of integer token ids ({exc})") from None
            if ids.ndim != 1:
                raise InputError(None, f"tokens[{i}]", f"expected a sequence of token ids, got shape {ids.shape}")
            if ids.size == 0:
                checked.append([])
                continue
            if ids.dtype.kind == "f" and np.isfinite(ids).all() and (ids == np.round(ids)).all():
                ids = ids.astype(np.int64)
            if ids.dtype.kind not in "iu":
                problem = "NaN or inf" if ids.dtype.kind == "f" and not np.isfinite(ids).all() else f"dtype {ids.dtype}"
                raise InputError(None, f"tokens[{i}]", f"expected integer token ids, got {problem}")
            outside = (ids < 0) | (ids >= vocab)
            if outside.any():
                raise InputError(
                    None, f"tokens[{i}]", f"token id {ids[outside][0]} outside the vocabulary [0, {vocab})"
                )
            checked.append(ids.tolist())
        return checked

    def decode(self, tokens: Sequence[Sequence[int]]) -> np.ndarray:
        """Token id sequences (a batch: list of sequences or an (N, L) array) -> chunks (N, H, D) float32."""
        size = self.horizon * self.dim
        texts = [text[:size] for text in self.bpe.decode_batch(self._checked_ids(tokens))]
        n = len(texts)
        lengths = np.fromiter(map(len, texts), dtype=np.intp, count=n)
        values = np.frombuffer("".join(texts).encode("utf-32-le"), dtype="<u4").astype(np.int64) + self.min_value
        # Generated sequences may hold invalid UTF-8 (decoded as U+FFFD) or stray values: treat them as 0.
        values[(values < self.min_value) | (values > self.max_value)] = 0
        starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
        coefficients = np.zeros((n, size), dtype=np.float64)
        coefficients[np.repeat(np.arange(n), lengths), np.arange(len(values)) - starts] = values
        coefficients = coefficients.reshape(n, self.horizon, self.dim) / self.config.scale
        return idct(coefficients, type=2, norm="ortho", axis=1).astype(np.float32)

    @classmethod
    def fit(cls, chunks: np.ndarray, config: FASTConfig = FASTConfig()) -> FASTTokenizer:
        chunks = check_chunks(chunks)
        coefficients = cls._coefficients(chunks, config.scale)
        min_value, max_value = int(coefficients.min()), int(coefficients.max())
        if max_value - min_value >= MAX_CODES:  # one character per value, below the UTF-16 surrogates
            raise ConfigError(f"fast: the scaled DCT coefficients span {max_value - min_value + 1} integer values, "
                              f"more than the {MAX_CODES} characters available; lower scale (now {config.scale})")  # fmt: skip
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

    def save(self, directory: str | os.PathLike) -> None:
        with atomic_directory(directory) as tmp:
            write_json(tmp / TOKENIZER_FILE, {
                "kind": self.kind, "horizon": self.horizon, "dim": self.dim, "config": to_dict(self.config),
                "min_value": self.min_value, "max_value": self.max_value, "max_tokens": self._max_tokens,
            })  # fmt: skip
            self.bpe.save(str(tmp / BPE_FILE))

    @classmethod
    def load(cls, directory: str | os.PathLike) -> FASTTokenizer:
        directory = Path(directory)
        meta = read_json(directory / TOKENIZER_FILE, "action tokenizer description", expect=dict)
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
        return cls(
            load_config(FASTConfig, meta.get("config", {}), origin=str(directory / TOKENIZER_FILE), prefix="config"),
            bpe,
            *fields,
        )
