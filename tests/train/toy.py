"""A toy policy and dataset for checking the trainer without the real models or datasets.

``ToyDataset`` yields samples in the training-sample layout (small images,
state, action chunk and masks) generated deterministically from the index;
``ToyPolicy`` maps the state and a pooled image feature to the chunk with an
MLP (with dropout, so training consumes random numbers like the real heads do)
and returns ``(loss, metrics)`` like ``dexego.models.Policy``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset


class ToyDataset(Dataset):
    def __init__(
        self,
        size: int = 64,
        horizon: int = 4,
        dim: int = 8,
        image_size: int = 8,
        seed: int = 0,
        embodiment: str = "human",
        delay_s: float = 0.0,
    ):
        self.size, self.horizon, self.dim, self.image_size = size, horizon, dim, image_size
        self.seed, self.embodiment, self.delay_s = seed, embodiment, delay_s  # delay_s: simulated loading time
        self.mixing = np.random.default_rng(12345).normal(size=(dim, horizon * dim)).astype(np.float32) / np.sqrt(dim)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.size:
            raise IndexError(index)
        if self.delay_s:
            time.sleep(self.delay_s)
        rng = np.random.default_rng([self.seed, index])
        state = rng.normal(size=self.dim).astype(np.float32)
        actions = np.tanh(state @ self.mixing).reshape(self.horizon, self.dim).astype(np.float32)
        return {
            "images": torch.from_numpy(
                rng.integers(0, 256, size=(2, 3, self.image_size, self.image_size), dtype=np.uint8)
            ),
            "image_mask": torch.ones(2, dtype=torch.bool),
            "instruction": "pick up the cube",
            "state": torch.from_numpy(state),
            "state_valid": torch.ones(2, dtype=torch.bool),
            "actions": torch.from_numpy(actions),
            "action_valid": torch.ones(self.horizon, 2, dtype=torch.bool),
            "embodiment": self.embodiment,
            "episode_index": torch.tensor(index // 8),
            "frame_index": torch.tensor(index % 8),
        }


class ToyPolicy(nn.Module):
    def __init__(self, horizon: int = 4, dim: int = 8, hidden: int = 64, dropout: float = 0.1):
        super().__init__()
        self.horizon, self.dim = horizon, dim
        self.encoder = nn.Sequential(nn.Linear(dim + 3, hidden), nn.GELU(), nn.Dropout(dropout))
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, horizon * dim))

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        images = batch["images"].float().mean(dim=(1, 3, 4)) / 255.0  # (B, 3)
        features = self.encoder(torch.cat([batch["state"], images], dim=-1))
        prediction = self.head(features).view(-1, self.horizon, self.dim)
        mask = batch["action_valid"].any(-1, keepdim=True).float()
        error = ((prediction - batch["actions"]) ** 2 * mask).sum() / (mask.sum() * self.dim).clamp(min=1)
        return error, {
            "mse": error.detach(),
            "abs_error": ((prediction - batch["actions"]).abs() * mask).mean().detach(),
        }

    def save(self, directory: str | Path) -> None:
        from safetensors.torch import save_file

        Path(directory).mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(Path(directory) / "model.safetensors"))
