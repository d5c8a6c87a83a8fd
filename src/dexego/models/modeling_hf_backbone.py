"""Adapter for Hugging Face vision-language models loaded from a local directory.

Supported architectures (``model_type`` in the model's config.json):
``idefics3`` (SmolVLM), ``paligemma`` (PaliGemma / PaliGemma 2) and
``qwen2_5_vl`` (Qwen2.5-VL). The adapter prepares the model inputs itself
(in torch, no processor or PIL round trip): the observation frames are
resized and normalised as the architecture's vision tower expects, each
frame becomes that architecture's run of image placeholder tokens, then the
instruction tokens follow (the directory's tokenizer, or UTF-8 bytes mapped
into the vocabulary when there is none). The language model's last hidden
states are the backbone tokens; the hidden state of the last real token is
the pooled feature.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from dexego.errors import ConfigError
from dexego.models.backbone_output import BackboneOutput, fill_padded_frames, images_to_float
from dexego.models.configuration_backbones import HFBackboneConfig

_SIGLIP_MEAN_STD = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
_CLIP_MEAN_STD = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))
_BYTE_OFFSET = 3  # byte b -> id b + 3 in the byte fallback (0 is padding)
SUPPORTED = ("idefics3", "paligemma", "qwen2_5_vl")


def load_hf_config(path: str):
    from transformers import AutoConfig

    if not path or not Path(path).is_dir():
        raise ConfigError(f"hf.path: {path!r} is not a local model directory")
    return AutoConfig.from_pretrained(path, local_files_only=True)


class HFVLMBackbone(nn.Module):
    def __init__(self, config: HFBackboneConfig, n_frames: int, architecture_dir: str | Path | None = None):
        """Weights from ``config.path``; or, with ``architecture_dir`` (a saved policy), only the architecture
        and tokenizer from there: the weights then come from the policy's own safetensors."""
        super().__init__()
        from transformers import AutoModelForImageTextToText

        self.config = config
        dtype = getattr(torch, config.dtype)
        source = str(architecture_dir or config.path)
        hf_config = load_hf_config(source)
        self._check_type(hf_config)
        if architecture_dir is None:
            model = AutoModelForImageTextToText.from_pretrained(source, local_files_only=True, dtype=dtype)
        else:
            model = AutoModelForImageTextToText.from_config(hf_config, dtype=dtype)
        self.hf_config = hf_config
        self.model_type = hf_config.model_type
        self.vlm = model.model  # the base model, without the language-model head
        self.width = hf_config.get_text_config().hidden_size
        self.tokenizer = self._load_text_tokenizer(source)
        self._setup_vision(hf_config)
        if config.freeze_vision:
            self.vision_tower().requires_grad_(False)
        if config.freeze_language:
            self.language_model().requires_grad_(False)

    def save_architecture(self, directory: Path) -> None:
        """The model config (and tokenizer) needed to rebuild this backbone without the original directory."""
        self.hf_config.save_pretrained(str(directory))
        if self.tokenizer is not None:
            self.tokenizer.save_pretrained(str(directory))

    @staticmethod
    def _check_type(hf_config) -> None:
        if hf_config.model_type not in SUPPORTED:
            raise ConfigError(
                f"hf.path: architecture {hf_config.model_type!r} is not supported; supported: {', '.join(SUPPORTED)}"
            )

    def vision_tower(self) -> nn.Module:
        return getattr(
            self.vlm, {"idefics3": "vision_model", "paligemma": "vision_tower", "qwen2_5_vl": "visual"}[self.model_type]
        )

    def language_model(self) -> nn.Module:
        return self.vlm.text_model if self.model_type == "idefics3" else self.vlm.language_model

    def _load_text_tokenizer(self, source: str):
        if self.config.text_tokens == "bytes":
            return None
        path = Path(source)
        if not any((path / name).is_file() for name in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json")):
            return None
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(path), local_files_only=True)

    def _setup_vision(self, hf_config) -> None:
        vision = hf_config.vision_config
        self.image_token_id = getattr(hf_config, "image_token_id", None)
        if self.image_token_id is None:
            self.image_token_id = hf_config.image_token_index
        if self.model_type == "qwen2_5_vl":
            self.patch = vision.patch_size
            self.merge = vision.spatial_merge_size
            self.temporal_patch = vision.temporal_patch_size
            unit = self.patch * self.merge
            size = self.config.image_size or 224
            self.image_size = max(unit, round(size / unit) * unit)
            self.tokens_per_image = (self.image_size // self.patch) ** 2 // self.merge**2
            mean, std = _CLIP_MEAN_STD
        else:
            self.image_size = self.config.image_size or vision.image_size
            grid = (self.image_size // vision.patch_size) ** 2
            scale = getattr(hf_config, "scale_factor", 1) if self.model_type == "idefics3" else 1
            self.tokens_per_image = grid // scale**2
            mean, std = _SIGLIP_MEAN_STD
        self.register_buffer("pixel_mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def _text_ids(self, instructions: list[str]) -> list[list[int]]:
        limit = self.config.max_text_tokens
        if self.tokenizer is not None:
            return [ids[:limit] for ids in self.tokenizer(instructions, add_special_tokens=False)["input_ids"]]
        vocab = self.hf_config.get_text_config().vocab_size
        if vocab < 256 + _BYTE_OFFSET:
            raise ConfigError(
                f"hf: vocabulary of {vocab} ids is too small for byte-level text; give the model a tokenizer"
            )
        return [[b + _BYTE_OFFSET for b in text.encode("utf-8")[:limit]] for text in instructions]

    def _pixels(self, images: torch.Tensor, image_mask: torch.Tensor) -> torch.Tensor:
        frames = fill_padded_frames(images_to_float(images), image_mask).flatten(0, 1)
        size = self.image_size
        if frames.shape[-2:] != (size, size):
            frames = F.interpolate(frames, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        return ((frames - self.pixel_mean) / self.pixel_std).to(self.vlm.dtype)  # (B*T, 3, S, S)

    def _qwen_patches(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Frames -> Qwen2-VL flattened patches and grid (as its image processor lays them out)."""
        n, c, size, _ = pixels.shape
        p, m, tp = self.patch, self.merge, self.temporal_patch
        grid = size // p
        x = pixels[:, None].expand(n, tp, c, size, size)  # a still image fills the temporal patch
        x = x.reshape(n, 1, tp, c, grid // m, m, p, grid // m, m, p)
        x = x.permute(0, 1, 4, 7, 5, 8, 3, 2, 6, 9).reshape(n * grid * grid, c * tp * p * p)
        grid_thw = torch.tensor([[1, grid, grid]], device=pixels.device).expand(n, 3)
        return x, grid_thw

    def forward(self, images: torch.Tensor, image_mask: torch.Tensor, instructions: list[str], *,
                pooled_only: bool = False, optimized: bool = True) -> BackboneOutput:  # fmt: skip
        """``pooled_only`` and ``optimized`` are accepted for interface parity with the tiny backbone; the
        Hugging Face model always computes every token."""
        b, t = images.shape[:2]
        device = images.device
        pixels = self._pixels(images, image_mask)
        texts = self._text_ids(instructions)
        image_block = self._image_block()
        length = t * len(image_block) + max(len(x) for x in texts)
        input_ids = torch.zeros(b, length, dtype=torch.long)
        attention = torch.zeros(b, length, dtype=torch.long)
        for i, text in enumerate(texts):
            row = image_block * t + text
            input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            attention[i, : len(row)] = 1
        input_ids, attention = input_ids.to(device), attention.to(device)
        kwargs = {}
        if self.model_type == "idefics3":
            kwargs["pixel_values"] = pixels.view(b, t, *pixels.shape[1:])
        elif self.model_type == "paligemma":
            kwargs["pixel_values"] = pixels
            kwargs["token_type_ids"] = torch.zeros_like(input_ids)  # the whole prompt is the (bidirectional) prefix
        else:
            kwargs["pixel_values"], kwargs["image_grid_thw"] = self._qwen_patches(pixels)
            kwargs["mm_token_type_ids"] = (input_ids == self.image_token_id).int()
        out = self.vlm(input_ids=input_ids, attention_mask=attention, use_cache=False, **kwargs)
        hidden = out.last_hidden_state.float()
        last = attention.sum(1) - 1
        return BackboneOutput(tokens=hidden, mask=attention.bool(), pooled=hidden[torch.arange(b, device=device), last])

    def _image_block(self) -> list[int]:
        block = [self.image_token_id] * self.tokens_per_image
        if self.model_type == "qwen2_5_vl":
            return [self.hf_config.vision_start_token_id] + block + [self.hf_config.vision_end_token_id]
        return block
