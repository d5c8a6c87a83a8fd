"""When a FAST code sequence being generated is complete: its decoded chunk can no longer change.

A FAST tokenizer decodes codes -> bytes (byte-level BPE: each code stands for
fixed bytes) -> UTF-8 text, invalid bytes becoming U+FFFD (lossy decoding,
which substitutes maximal invalid subparts in Python as in the tokenizers
library) -> one character per coefficient, cut at H x D characters. Once the
first H x D characters are final (an incomplete UTF-8 sequence at the end is
not), later codes only add characters past the cut, so generation can stop.
"""

from __future__ import annotations

import codecs
import json


def _byte_level_chars() -> dict[str, int]:
    """Byte-level BPE's character for each byte (printable Latin-1 bytes stand for themselves, the others are
    moved to U+0100 onwards in byte order) -> that byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    moved = [byte for byte in range(256) if byte not in printable]
    table = {chr(byte): byte for byte in printable}
    table.update({chr(256 + i): byte for i, byte in enumerate(moved)})
    return table


class FASTCompletion:
    """Tracks, code by code, how many characters of each row's decoded text are final."""

    def __init__(self, token_bytes: list[bytes], size: int):
        self.token_bytes, self.size = token_bytes, size

    @classmethod
    def for_tokenizer(cls, tokenizer) -> FASTCompletion | None:
        """The tracker for a FAST tokenizer whose BPE decodes byte-level (as ``FASTTokenizer.fit`` builds it);
        None for anything else (generation then stops at EOS only)."""
        if getattr(tokenizer, "kind", None) != "fast":
            return None
        description = json.loads(tokenizer.bpe.to_str())
        decoder = description.get("decoder") or {}
        if decoder.get("type") != "ByteLevel" or description.get("added_tokens") or description.get("normalizer"):
            return None
        chars = _byte_level_chars()
        vocab = tokenizer.bpe.get_vocab()
        token_bytes = [b""] * tokenizer.vocab_size
        for token, index in vocab.items():
            if not all(c in chars for c in token):
                return None
            token_bytes[index] = bytes(chars[c] for c in token)
        return cls(token_bytes, tokenizer.horizon * tokenizer.dim)

    def start(self, rows: int) -> CompletionState:
        return CompletionState(self, rows)


class CompletionState:
    def __init__(self, completion: FASTCompletion, rows: int):
        self.completion = completion
        self.decoders = [codecs.getincrementaldecoder("utf-8")("replace") for _ in range(rows)]
        self.final_chars = [0] * rows

    def add(self, row: int, code: int) -> bool:
        """Append ``code`` to ``row``; True once that row's first H x D decoded characters are final."""
        self.final_chars[row] += len(self.decoders[row].decode(self.completion.token_bytes[code]))
        return self.final_chars[row] >= self.completion.size
