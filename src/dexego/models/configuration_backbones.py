"""Configurations of the vision-language backbones (registry names: ``tiny``, ``hf``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dexego.models.config_registry import register_backbone_config


@register_backbone_config("tiny")
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
    # Speed option (changes the model, off by default): average-pool each history frame's patch grid in
    # f x f blocks, so a history frame gives (grid / f)^2 tokens instead of grid^2; the current frame keeps all.
    # At the defaults f = 2 takes the frame tokens from 216 to 81 (regression ~30% less CPU per chunk, training
    # steps ~2x faster). Its effect on accuracy is not established: it discards fine detail of the history
    # frames (motion below a pooled cell), so compare on your data before relying on it.
    history_pool: int = 1

    def __post_init__(self):
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size {self.image_size} must be a multiple of patch_size {self.patch_size}")
        grid = self.image_size // self.patch_size
        if self.history_pool < 1 or grid % self.history_pool:
            raise ValueError(f"history_pool {self.history_pool} must be >= 1 and divide the patch grid {grid}")


@register_backbone_config("hf")
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
