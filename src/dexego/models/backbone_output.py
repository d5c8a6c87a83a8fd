"""What every backbone returns to the action heads."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class BackboneOutput:
    tokens: torch.Tensor  # (B, N, W) contextual tokens over frames and instruction
    mask: torch.Tensor  # (B, N) bool, True = a real token (False = padding)
    pooled: torch.Tensor  # (B, W) one summary feature (VITRA's "cognition" feature)


def images_to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, T, 3, H, W) -> float32 in [0, 1]."""
    return images.float() / 255.0 if images.dtype == torch.uint8 else images.float()


def fill_padded_frames(images: torch.Tensor, image_mask: torch.Tensor) -> torch.Tensor:
    """Replace padded history frames by the oldest real frame (so no network sees blank frames).

    ``images`` (B, T, ...) with ``image_mask`` (B, T); the current (last) frame must be real.
    """
    first_real = image_mask.float().argmax(dim=1)  # oldest real frame per sample
    oldest = images[torch.arange(images.shape[0], device=images.device), first_real]
    keep = image_mask.view(image_mask.shape + (1,) * (images.dim() - 2))
    return torch.where(keep, images, oldest[:, None])
