"""Residual-VQ motion tokenizer (METIS): an MLP autoencoder over the action chunk with residual quantisation.

A chunk (H, D) is encoded into H / steps_per_token latent vectors; each is
quantised by ``num_quantizers`` codebooks in turn, each codebook quantising
what the previous ones left (residual VQ). Codes are chosen by cosine
similarity (or Euclidean distance), codebooks start from k-means on the
first batch, follow their assigned residuals by exponential moving averages
(k-means steps), and unused codes restart from random residuals. Tokens are
ordered latent by latent, level by level; level k uses ids
[k * codebook_size, (k + 1) * codebook_size).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from dexego.config import load_config, to_dict
from dexego.errors import InputError
from dexego.tokenizers.base import TOKENIZER_FILE, check_chunks
from dexego.utils.files import atomic_directory, read_json, write_json

WEIGHTS_FILE = "rvq.safetensors"


@dataclass(frozen=True)
class RVQConfig:
    """Residual-VQ tokenizer settings (METIS): steps per token, latent size, network width, quantisers, codebook."""

    steps_per_token: int = 3  # the horizon must be a multiple; METIS: 40 tokens over 32 steps with 2 quantisers
    latent_dim: int = 64
    hidden: int = 512
    num_quantizers: int = 2
    codebook_size: int = 512
    similarity: Literal["cosine", "euclidean"] = "cosine"
    commitment: float = 0.25
    ema_decay: float = 0.95
    kmeans_iters: int = 10
    train_steps: int = 1500
    batch_size: int = 256
    lr: float = 1e-3
    seed: int = 0


class ResidualVQ(nn.Module):
    def __init__(self, levels: int, size: int, dim: int, similarity: str, decay: float):
        super().__init__()
        self.similarity, self.decay = similarity, decay
        self.register_buffer("codebooks", torch.zeros(levels, size, dim))
        self.register_buffer("cluster_size", torch.ones(levels, size))
        self.register_buffer("embed_sum", torch.zeros(levels, size, dim))
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))

    def nearest(self, level: int, residual: torch.Tensor, codebook: torch.Tensor | None = None) -> torch.Tensor:
        codebook = self.codebooks[level] if codebook is None else codebook
        if self.similarity == "cosine":
            return (F.normalize(residual, dim=-1) @ F.normalize(codebook, dim=-1).T).argmax(-1)
        return torch.cdist(residual, codebook).argmin(-1)

    @torch.no_grad()
    def kmeans_init(self, latents: torch.Tensor, iters: int, generator: torch.Generator) -> None:
        residual = latents.detach()
        size = self.codebooks.shape[1]
        for level in range(self.codebooks.shape[0]):
            pick = torch.randint(len(residual), (size,), generator=generator)
            centres = residual[pick] + 1e-3 * torch.randn(size, residual.shape[1], generator=generator)
            for _ in range(iters):
                idx = self.nearest(level, residual, centres)
                counts = torch.bincount(idx, minlength=size).float()
                sums = torch.zeros_like(centres).index_add_(0, idx, residual)
                used = counts > 0
                centres[used] = sums[used] / counts[used, None]
            self.codebooks[level] = centres
            self.embed_sum[level] = centres
            self.cluster_size[level] = 1.0
            residual = residual - centres[self.nearest(level, residual, centres)]
        self.initialised.fill_(True)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(M, d) -> (quantised (M, d) with straight-through gradients, codes (M, levels))."""
        residual = z.detach()
        total = torch.zeros_like(residual)
        codes = []
        for level in range(self.codebooks.shape[0]):
            idx = self.nearest(level, residual)
            if self.training:
                self._ema_update(level, residual, idx)
            chosen = self.codebooks[level][idx]
            total = total + chosen
            residual = residual - chosen
            codes.append(idx)
        return z + (total - z).detach(), torch.stack(codes, dim=-1)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """(..., levels) -> (..., d): the sum of the chosen code vectors."""
        return sum(self.codebooks[level][codes[..., level]] for level in range(self.codebooks.shape[0]))

    @torch.no_grad()
    def _ema_update(self, level: int, residual: torch.Tensor, idx: torch.Tensor) -> None:
        size = self.codebooks.shape[1]
        counts = torch.bincount(idx, minlength=size).float()
        sums = torch.zeros_like(self.codebooks[level]).index_add_(0, idx, residual)
        self.cluster_size[level].mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_sum[level].mul_(self.decay).add_(sums, alpha=1 - self.decay)
        self.codebooks[level] = self.embed_sum[level] / self.cluster_size[level].clamp_min(1e-5)[:, None]
        dead = self.cluster_size[level] < 1e-2
        if dead.any():  # restart unused codes on residuals of this batch
            pick = torch.randint(len(residual), (int(dead.sum()),), device=residual.device)
            self.codebooks[level][dead] = residual[pick]
            self.embed_sum[level][dead] = residual[pick]
            self.cluster_size[level][dead] = 1.0


class RVQTokenizer(nn.Module):
    """Residual vector-quantised motion tokens (METIS): an encoder, ``num_quantizers`` codebooks and a decoder."""

    kind = "rvq"

    def __init__(self, config: RVQConfig, horizon: int, dim: int):
        super().__init__()
        if horizon % config.steps_per_token:
            raise ValueError(f"horizon {horizon} is not a multiple of steps_per_token {config.steps_per_token}")
        self.config, self.horizon, self.dim = config, horizon, dim
        self.latents = horizon // config.steps_per_token
        flat, hidden, latent = horizon * dim, config.hidden, config.latent_dim
        self.encoder = nn.Sequential(nn.Linear(flat, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                                     nn.Linear(hidden, self.latents * latent))  # fmt: skip
        self.decoder = nn.Sequential(nn.Linear(self.latents * latent, hidden), nn.GELU(), nn.Linear(hidden, hidden),
                                     nn.GELU(), nn.Linear(hidden, flat))  # fmt: skip
        self.quantizer = ResidualVQ(
            config.num_quantizers, config.codebook_size, latent, config.similarity, config.ema_decay
        )

    @property
    def vocab_size(self) -> int:
        return self.config.num_quantizers * self.config.codebook_size

    @property
    def max_tokens(self) -> int:
        return self.latents * self.config.num_quantizers

    def token_range(self, position: int) -> tuple[int, int]:
        """The ids allowed at ``position`` of a sequence (each level has its own block)."""
        level = position % self.config.num_quantizers
        return level * self.config.codebook_size, (level + 1) * self.config.codebook_size

    def _encode_latents(self, chunks: torch.Tensor) -> torch.Tensor:
        return self.encoder(chunks.flatten(1)).view(-1, self.config.latent_dim)

    def reconstruct(self, chunks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(N, H, D) -> (reconstruction, codes (N, latents, levels), commitment loss)."""
        z = self._encode_latents(chunks)
        quantised, codes = self.quantizer(z)
        recon = self.decoder(quantised.view(len(chunks), -1)).view_as(chunks)
        return recon, codes.view(len(chunks), self.latents, -1), F.mse_loss(z, quantised.detach())

    @torch.no_grad()
    def encode(self, chunks: np.ndarray) -> list[list[int]]:
        chunks = torch.from_numpy(check_chunks(chunks, self.horizon, self.dim))
        self.eval()
        _, codes, _ = self.reconstruct(chunks)
        offsets = torch.arange(self.config.num_quantizers) * self.config.codebook_size
        return (codes + offsets).flatten(1).tolist()

    @torch.no_grad()
    def decode(self, tokens: Sequence[Sequence[int]]) -> np.ndarray:
        size, levels = self.config.codebook_size, self.config.num_quantizers
        codes = torch.zeros(len(tokens), self.max_tokens, dtype=torch.long)
        for i, seq in enumerate(tokens):  # shorter sequences are padded with code 0 of each level
            seq = list(seq)[: self.max_tokens]
            codes[i, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
        codes = (codes % size).view(len(tokens), self.latents, levels)
        latents = self.quantizer.lookup(codes)
        return self.decoder(latents.view(len(tokens), -1)).view(len(tokens), self.horizon, self.dim).numpy()

    @classmethod
    def fit(cls, chunks: np.ndarray, config: RVQConfig = RVQConfig(), progress=None) -> RVQTokenizer:
        chunks = torch.from_numpy(check_chunks(chunks))
        generator = torch.Generator().manual_seed(config.seed)
        torch_state = torch.random.get_rng_state()
        torch.manual_seed(config.seed)
        try:
            model = cls(config, chunks.shape[1], chunks.shape[2])
            with torch.no_grad():
                sample = chunks[torch.randperm(len(chunks), generator=generator)[:4096]]
                model.quantizer.kmeans_init(model._encode_latents(sample), config.kmeans_iters, generator)
            optimiser = torch.optim.Adam(
                [p for n, p in model.named_parameters() if not n.startswith("quantizer")], lr=config.lr
            )
            schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, max(config.train_steps, 1))
            model.train()
            for step in range(config.train_steps):
                batch = chunks[torch.randint(len(chunks), (config.batch_size,), generator=generator)]
                recon, _, commit = model.reconstruct(batch)
                loss = F.mse_loss(recon, batch) + config.commitment * commit
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                schedule.step()
                if progress is not None:
                    progress(step, loss.item())
            model.eval()
        finally:
            torch.random.set_rng_state(torch_state)
        return model

    def save(self, directory: str | os.PathLike) -> None:
        with atomic_directory(directory) as tmp:
            write_json(tmp / TOKENIZER_FILE, {"kind": self.kind, "horizon": self.horizon, "dim": self.dim,
                                              "config": to_dict(self.config)})  # fmt: skip
            save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(tmp / WEIGHTS_FILE))

    @classmethod
    def load(cls, directory: str | os.PathLike) -> RVQTokenizer:
        directory = Path(directory)
        meta = read_json(directory / TOKENIZER_FILE, "action tokenizer description", expect=dict)
        config = load_config(RVQConfig, meta.get("config", {}), origin=str(directory / TOKENIZER_FILE), prefix="config")
        model = cls(config, int(meta["horizon"]), int(meta["dim"]))
        try:
            model.load_state_dict(load_file(str(directory / WEIGHTS_FILE)))
        except (OSError, RuntimeError) as exc:
            raise InputError(directory / WEIGHTS_FILE, None, f"cannot load tokenizer weights: {exc}") from exc
        return model.eval()
