"""Configurations of the vision-language backbones (registry names: ``tiny``, ``hf``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class TinyBackboneConfig:
    """The built-in vision+language transformer: patch embedding over the frames, byte-level text."""

    image_size: int = 96  # frames are resized to image_size x image_size
    patch_size: int = 16
    width: int = 192
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 4.0
    max_text_bytes: int = 64  # longer instructions are truncated (UTF-8 bytes)

    def __post_init__(self):
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size {self.image_size} must be a multiple of patch_size {self.patch_size}")


@dataclass(frozen=True)
class HFBackboneConfig:
    """A Hugging Face vision-language model loaded from a local directory (no downloads)."""

    path: str = ""  # a directory holding config.json + weights (save_pretrained layout)
    image_size: int = 0  # 0: the vision tower's own image size
    freeze_vision: bool = False
    freeze_language: bool = False
    # "auto": the tokenizer saved in ``path`` if there is one, else bytes; "bytes": UTF-8 bytes mapped into the vocabulary.
    text_tokens: Literal["auto", "bytes"] = "auto"
    max_text_tokens: int = 64
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
