"""The built-in vision+language backbone: small enough to train on a 2-core CPU, needs no downloaded files.

Frames are cut into patches (one linear embedding, a learned spatial and a
temporal position); the instruction enters as UTF-8 bytes (256-entry
embedding, so no tokenizer files). One transformer runs over
[summary token, frame patches, text bytes]; padded history frames and text
padding are masked out. The summary token's output is the pooled feature.
``history_pool`` (a config option, off by default) average-pools the patch
grid of history frames to cut the token count.

``optimized=True`` (the default) computes the same features (up to float
rounding) with less work: the pixel scaling and centring are folded into a
single patch-embedding product, key columns that are masked for every
sample (text padding past the longest instruction, history frames padded in
the whole batch) are left out, the attention mask is a broadcast key mask
(or none when nothing is masked), and with ``pooled_only`` the last block
computes only the summary token. ``optimized=False`` is the plain
computation, kept as the reference for tests and benchmarks/inference.py.
With a ``frame_cache`` (off by default, see ``frame_cache``) inference
reuses the patch features of frames seen in earlier queries.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dexego.models.backbone_output import BackboneOutput, images_to_float
from dexego.models.configuration_backbones import TinyBackboneConfig
from dexego.models.frame_cache import FrameFeatureCache
from dexego.models.layers import Transformer, compact_key_mask, key_mask


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
        self.frame_cache: FrameFeatureCache | None = None  # used only without autograd (inference)

    def encode_text(self, instructions: list[str], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        limit = self.config.max_text_bytes
        ids = torch.zeros(len(instructions), limit, dtype=torch.long)
        for i, text in enumerate(instructions):
            data = text.encode("utf-8")[:limit]
            ids[i, : len(data)] = torch.tensor(list(data), dtype=torch.long) + 1
        ids = ids.to(device)
        return ids, ids != 0

    def forward(self, images: torch.Tensor, image_mask: torch.Tensor, instructions: list[str], *,
                pooled_only: bool = False, optimized: bool = True) -> BackboneOutput:  # fmt: skip
        """``pooled_only``: the caller reads only ``pooled`` (``tokens`` may then hold the summary token alone)."""
        if not optimized:
            return self._reference_forward(images, image_mask, instructions)
        b, t = images.shape[:2]
        frame_pos = self.frame_pos[-t:]
        if not bool(image_mask.all()):  # history frames padded in every sample are masked keys: leave them out
            used = image_mask.any(dim=0)
            images, image_mask, frame_pos = images[:, used], image_mask[:, used], frame_pos[used]
            t = images.shape[1]
        frames = images.flatten(0, 1)
        if self.frame_cache is not None and not torch.is_grad_enabled():
            weights = (self.patch_embed.weight, self.patch_embed.bias, self.patch_pos)
            features = self.frame_cache.features(frames, self.embed_frames, weights)
        else:
            features = self.embed_frames(frames)
        patches, frame_valid = self.frame_tokens(
            features.view(b, t, -1, self.width) + frame_pos[:, None, :], image_mask
        )

        ids, text_valid = self.encode_text(instructions, images.device)
        length = max(1, int(text_valid.sum(dim=1).max()))  # bytes past the longest instruction are padding for all
        ids, text_valid = ids[:, :length], text_valid[:, :length]
        text = self.byte_embed(ids) + self.text_pos[:length]

        tokens = torch.cat([self.summary.expand(b, -1, -1), patches, text], dim=1)
        valid = torch.cat([torch.ones(b, 1, dtype=torch.bool, device=images.device), frame_valid, text_valid], dim=1)
        keep = slice(0, 1) if pooled_only else None
        tokens = self.norm(self.transformer(tokens, compact_key_mask(valid), keep=keep))
        if pooled_only:
            valid = valid[:, :1]
        return BackboneOutput(tokens=tokens, mask=valid, pooled=tokens[:, 0])

    def frame_tokens(self, patches: torch.Tensor, image_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Patch features (B, T, P, W) -> frame tokens (B, N, W) and their validity (B, N).

        With ``history_pool`` f > 1 each history frame's patch grid is average-pooled in f x f blocks (the
        current frame keeps every patch)."""
        b, t, p, w = patches.shape
        f = self.config.history_pool
        if f > 1 and t > 1:
            g = int(round(p**0.5))
            history = patches[:, :-1].reshape(b, t - 1, g // f, f, g // f, f, w).mean(dim=(3, 5))
            tokens = torch.cat([history.reshape(b, -1, w), patches[:, -1]], dim=1)
            per_frame = [(g // f) ** 2] * (t - 1) + [p]
            valid = image_mask.repeat_interleave(torch.tensor(per_frame, device=image_mask.device), dim=1)
            return tokens, valid
        return patches.reshape(b, -1, w), image_mask[:, :, None].expand(-1, -1, p).reshape(b, -1)

    def embed_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """Frames (N, 3, H, W) (uint8, or float in [0, 1]) -> patch features with spatial positions (N, P, W).

        Equals ``patch_embed(resize(frames / 255) - pixel_mean)``: resizing is linear, so the 1/255 scale and
        the centring move into the weights and bias of one matrix product over the flattened patches.
        """
        size, patch = self.config.image_size, self.config.patch_size
        scale = 1.0 / 255.0 if frames.dtype == torch.uint8 else 1.0
        pixels = frames.float()
        if pixels.shape[-2:] != (size, size):
            pixels = F.interpolate(pixels, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        n, grid = pixels.shape[0], size // patch
        flat = pixels.view(n, 3, grid, patch, grid, patch).permute(0, 2, 4, 1, 3, 5).reshape(n, grid * grid, -1)
        weight = self.patch_embed.weight.flatten(1)  # (W, 3 * patch * patch), the conv's (c, y, x) order
        bias = self.patch_embed.bias - (weight.view(self.width, 3, -1).sum(-1) * self.pixel_mean.view(1, 3)).sum(-1)
        return F.linear(flat, weight * scale, bias) + self.patch_pos

    def _reference_forward(
        self, images: torch.Tensor, image_mask: torch.Tensor, instructions: list[str]
    ) -> BackboneOutput:
        b, t = images.shape[:2]
        size = self.config.image_size
        pixels = images_to_float(images).flatten(0, 1)
        if pixels.shape[-2:] != (size, size):
            pixels = F.interpolate(pixels, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        patches = self.patch_embed(pixels - self.pixel_mean).flatten(2).transpose(1, 2)  # (B*T, P, W)
        patches = patches + self.patch_pos
        patches, frame_valid = self.frame_tokens(
            patches.view(b, t, -1, self.width) + self.frame_pos[-t:, None, :], image_mask
        )

        ids, text_valid = self.encode_text(instructions, images.device)
        text = self.byte_embed(ids) + self.text_pos

        tokens = torch.cat([self.summary.expand(b, -1, -1), patches, text], dim=1)
        valid = torch.cat([torch.ones(b, 1, dtype=torch.bool, device=images.device), frame_valid, text_valid], dim=1)
        tokens = self.norm(self.transformer(tokens, key_mask(valid, tokens.shape[1])))
        return BackboneOutput(tokens=tokens, mask=valid, pooled=tokens[:, 0])
