"""The built-in vision+language backbone: small enough to train on a 2-core CPU, needs no downloaded files.

Frames are cut into patches (one linear embedding, a learned spatial and a
temporal position); the instruction enters as UTF-8 bytes (256-entry
embedding, so no tokenizer files). One transformer runs over
[summary token, frame patches, text bytes]; padded history frames and text
padding are masked out. The summary token's output is the pooled feature.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dexego.models.backbone_output import BackboneOutput, images_to_float
from dexego.models.configuration_backbones import TinyBackboneConfig
from dexego.models.layers import Transformer, key_mask


class TinyVLBackbone(nn.Module):
    def __init__(self, config: TinyBackboneConfig, n_frames: int):
        super().__init__()
        self.config = config
        self.width = config.width
        grid = config.image_size // config.patch_size
        self.patch_embed = nn.Conv2d(3, config.width, kernel_size=config.patch_size, stride=config.patch_size)
        self.patch_pos = nn.Parameter(torch.randn(grid * grid, config.width) * 0.02)
        self.frame_pos = nn.Parameter(torch.randn(n_frames, config.width) * 0.02)
        self.byte_embed = nn.Embedding(257, config.width, padding_idx=0)  # 0 = padding, byte b -> b + 1
        self.text_pos = nn.Parameter(torch.randn(config.max_text_bytes, config.width) * 0.02)
        self.summary = nn.Parameter(torch.randn(1, 1, config.width) * 0.02)
        self.transformer = Transformer(config.width, config.depth, config.heads, config.mlp_ratio)
        self.norm = nn.LayerNorm(config.width)
        self.register_buffer("pixel_mean", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1), persistent=False)

    def encode_text(self, instructions: list[str], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        limit = self.config.max_text_bytes
        ids = torch.zeros(len(instructions), limit, dtype=torch.long)
        for i, text in enumerate(instructions):
            data = text.encode("utf-8")[:limit]
            ids[i, : len(data)] = torch.tensor(list(data), dtype=torch.long) + 1
        ids = ids.to(device)
        return ids, ids != 0

    def forward(self, images: torch.Tensor, image_mask: torch.Tensor, instructions: list[str]) -> BackboneOutput:
        b, t = images.shape[:2]
        size = self.config.image_size
        pixels = images_to_float(images).flatten(0, 1)
        if pixels.shape[-2:] != (size, size):
            pixels = F.interpolate(pixels, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        patches = self.patch_embed(pixels - self.pixel_mean).flatten(2).transpose(1, 2)  # (B*T, P, W)
        patches = patches + self.patch_pos
        patches = patches.view(b, t, -1, self.width) + self.frame_pos[-t:, None, :]
        frame_valid = image_mask[:, :, None].expand(-1, -1, patches.shape[2]).reshape(b, -1)

        ids, text_valid = self.encode_text(instructions, images.device)
        text = self.byte_embed(ids) + self.text_pos

        tokens = torch.cat([self.summary.expand(b, -1, -1), patches.reshape(b, -1, self.width), text], dim=1)
        valid = torch.cat([torch.ones(b, 1, dtype=torch.bool, device=images.device), frame_valid, text_valid], dim=1)
        tokens = self.norm(self.transformer(tokens, key_mask(valid, tokens.shape[1])))
        return BackboneOutput(tokens=tokens, mask=valid, pooled=tokens[:, 0])
