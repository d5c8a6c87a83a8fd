"""Visual-dynamics tokens (METIS): the change between two frames as a few codes of a small codebook.

A latent-action model learned from frame pairs alone (no action labels):

- the inverse-dynamics encoder sees the current frame and a future frame and
  emits ``num_tokens`` latent vectors;
- each vector is replaced by its nearest entry of a ``codebook_size`` codebook
  (vector quantisation, straight-through gradients, codebook + commitment
  losses; unused entries are restarted from encoder outputs);
- the forward-dynamics decoder sees the current frame and the quantised codes
  and predicts the future frame.

Because the decoder already has the current frame, the codes only need to
carry what changes: the motion. METIS uses 4 such tokens beside 40
hand-motion tokens; the defaults follow (4 tokens, a 16-entry codebook) at a
size that trains on a CPU (64 px frames). Fitted with
``dexego tokenizer fit --kind dynamics``; used by the ``tokens`` head through
:class:`dexego.tokenizers.motion.MotionTokenizer`.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from dexego.config import load_config
from dexego.errors import ConfigError, InputError
from dexego.utils.files import atomic_directory, read_json, write_json

KIND = "dynamics"
DESCRIPTION_FILE = "tokenizer.json"
WEIGHTS_FILE = "dynamics.safetensors"


@dataclass(frozen=True)
class DynamicsConfig:
    image_size: int = 64  # frames are resized to image_size x image_size
    num_tokens: int = 4  # codes per frame pair (METIS: 4)
    codebook_size: int = 16
    code_dim: int = 32
    width: int = 32  # channels of the first convolution (doubled per downsampling)
    steps: int = 1500
    batch_size: int = 32
    lr: float = 2e-3
    commitment: float = 0.25
    restart_every: int = 100  # steps between restarts of unused codebook entries (0: never)
    seed: int = 0

    def __post_init__(self) -> None:
        checks = {
            "image_size": self.image_size >= 16 and self.image_size % 8 == 0, "num_tokens": 1 <= self.num_tokens <= 64,
            "codebook_size": 2 <= self.codebook_size <= 4096, "code_dim": self.code_dim >= 1, "width": self.width >= 4,
            "steps": self.steps >= 1, "batch_size": self.batch_size >= 1, "lr": 0 < self.lr < 1,
            "commitment": self.commitment >= 0, "restart_every": self.restart_every >= 0,
        }  # fmt: skip
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ConfigError(f"dynamics tokenizer: {bad[0]} = {getattr(self, bad[0])!r} is out of range")


def _conv_stack(channels_in: int, width: int) -> nn.Sequential:
    """Three stride-2 convolutions: (C, S, S) -> (4 width, S/8, S/8)."""
    return nn.Sequential(
        nn.Conv2d(channels_in, width, 4, 2, 1), nn.GELU(),
        nn.Conv2d(width, 2 * width, 4, 2, 1), nn.GELU(),
        nn.Conv2d(2 * width, 4 * width, 4, 2, 1), nn.GELU(),
    )  # fmt: skip


class LatentDynamics(nn.Module):
    """Inverse dynamics (now, future) -> codes; forward dynamics (now, codes) -> future."""

    def __init__(self, config: DynamicsConfig):
        super().__init__()
        self.config = config
        c, s = config.width, config.image_size // 8
        self.encoder = _conv_stack(6, c)
        self.to_latent = nn.Linear(4 * c * s * s, config.num_tokens * config.code_dim)
        self.codebook = nn.Parameter(torch.randn(config.codebook_size, config.code_dim) * 0.5)
        self.context = _conv_stack(3, c)
        self.from_codes = nn.Linear(config.num_tokens * config.code_dim, 4 * c * s * s)
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(8 * c, 2 * c, 4, 2, 1), nn.GELU(),
            nn.ConvTranspose2d(2 * c, c, 4, 2, 1), nn.GELU(),
            nn.ConvTranspose2d(c, 3, 4, 2, 1),
        )  # fmt: skip

    def latents(self, now: torch.Tensor, future: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) x2 in [0, 1] -> (B, num_tokens, code_dim) before quantisation."""
        h = self.encoder(torch.cat([now * 2 - 1, (future - now) * 4], dim=1))  # the change, amplified, beside the scene
        latents = self.to_latent(h.flatten(1)).view(-1, self.config.num_tokens, self.config.code_dim)
        return F.normalize(latents, dim=-1)  # unit vectors: nearest entry by angle, which keeps codes from collapsing

    def quantize(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Nearest codebook entries: (codes (B, N) long, quantised vectors (B, N, code_dim))."""
        codebook = F.normalize(self.codebook, dim=-1)
        codes = (latents @ codebook.T).argmax(-1)  # (B, N): the most similar unit entry
        return codes, codebook[codes]

    def predict(self, now: torch.Tensor, quantised: torch.Tensor) -> torch.Tensor:
        """The future frame (B, 3, S, S) in [0, 1] from the current frame and quantised codes."""
        c, s = self.config.width, self.config.image_size // 8
        context = self.context(now * 2 - 1)
        motion = self.from_codes(quantised.flatten(1)).view(-1, 4 * c, s, s)
        return now + self.decoder(torch.cat([context, motion], dim=1))  # the decoder predicts the change

    def loss(self, now: torch.Tensor, future: torch.Tensor) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
        latents = self.latents(now, future)
        codes, quantised = self.quantize(latents)
        codebook_loss = F.mse_loss(quantised, latents.detach())
        commitment = F.mse_loss(latents, quantised.detach())
        straight = latents + (quantised - latents).detach()
        reconstruction = F.mse_loss(self.predict(now, straight), future)
        loss = reconstruction + codebook_loss + self.config.commitment * commitment
        return (
            loss,
            {"reconstruction": float(reconstruction.detach()), "codebook": float(codebook_loss.detach())},
            codes,
        )


def prepare_frames(frames: np.ndarray | torch.Tensor, size: int, where: str = "frames") -> torch.Tensor:
    """(N, 3, H, W) or (N, H, W, 3), uint8 or float in [0, 1] -> float (N, 3, size, size) in [0, 1]."""
    x = torch.as_tensor(np.ascontiguousarray(frames)) if isinstance(frames, np.ndarray) else torch.as_tensor(frames)
    if x.ndim != 4:
        raise InputError(None, where, f"expected (N, 3, H, W) or (N, H, W, 3) frames, got shape {tuple(x.shape)}")
    if x.shape[1] != 3 and x.shape[-1] == 3:
        x = x.permute(0, 3, 1, 2)
    if x.shape[1] != 3:
        raise InputError(None, where, f"expected RGB frames, got shape {tuple(x.shape)}")
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    if not bool(torch.isfinite(x).all()):
        raise InputError(None, where, "contain NaN or inf")
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x.clamp(0.0, 1.0)


class DynamicsTokenizer:
    """A fitted :class:`LatentDynamics` model (frozen) that turns frame pairs into codes."""

    kind = KIND

    def __init__(self, config: DynamicsConfig, model: LatentDynamics | None = None):
        self.config = config
        self.model = (model or LatentDynamics(config)).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @property
    def num_tokens(self) -> int:
        return self.config.num_tokens

    @property
    def codebook_size(self) -> int:
        return self.config.codebook_size

    @torch.no_grad()
    def encode(self, now, future) -> np.ndarray:
        """Codes (N, num_tokens) of frame pairs (each (N, 3, H, W) or (N, H, W, 3), uint8 or [0, 1])."""
        device = self.model.codebook.device
        a = prepare_frames(now, self.config.image_size, "now").to(device)
        b = prepare_frames(future, self.config.image_size, "future").to(device)
        if a.shape[0] != b.shape[0]:
            raise InputError(None, "future", f"{b.shape[0]} future frames for {a.shape[0]} current frames")
        codes, _ = self.model.quantize(self.model.latents(a, b))
        return codes.cpu().numpy()

    @torch.no_grad()
    def predict(self, now, codes) -> np.ndarray:
        """Future frames (N, 3, S, S) in [0, 1] predicted from current frames and codes (N, num_tokens)."""
        codes = torch.as_tensor(np.asarray(codes), dtype=torch.long)
        if codes.ndim != 2 or codes.shape[1] != self.num_tokens or codes.min() < 0 or codes.max() >= self.codebook_size:
            raise InputError(None, "codes", f"expected (N, {self.num_tokens}) ids in 0..{self.codebook_size - 1}")
        a = prepare_frames(now, self.config.image_size, "now")
        return self.model.predict(a, F.normalize(self.model.codebook, dim=-1)[codes]).clamp(0, 1).numpy()

    @classmethod
    def fit(
        cls, now: np.ndarray, future: np.ndarray, config: DynamicsConfig = DynamicsConfig(), progress=None
    ) -> DynamicsTokenizer:
        """Fit on frame pairs (N, ...) x2 (see :meth:`encode` for the layouts)."""
        a = prepare_frames(now, config.image_size, "now")
        b = prepare_frames(future, config.image_size, "future")
        if len(a) != len(b) or len(a) < 2:
            raise InputError(None, "frames", f"need at least 2 frame pairs of equal count, got {len(a)} and {len(b)}")
        generator = torch.Generator().manual_seed(config.seed)
        torch.manual_seed(config.seed)
        model = LatentDynamics(config)
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        usage = torch.zeros(config.codebook_size)
        for step in range(1, config.steps + 1):
            pick = torch.randint(len(a), (min(config.batch_size, len(a)),), generator=generator)
            loss, metrics, codes = model.loss(a[pick], b[pick])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            usage += torch.bincount(codes.flatten(), minlength=config.codebook_size).float()
            if config.restart_every and step % config.restart_every == 0 and step < config.steps:
                _restart_unused(model, usage, a, b, generator)
                usage.zero_()
            if progress is not None:
                progress(step, float(loss))
        return cls(config, model)

    def save(self, directory: str | os.PathLike) -> None:
        with atomic_directory(directory) as tmp:
            write_json(tmp / DESCRIPTION_FILE, {"kind": KIND, "config": asdict(self.config)})
            save_file({k: v.contiguous() for k, v in self.model.state_dict().items()}, str(tmp / WEIGHTS_FILE))

    @classmethod
    def load(cls, directory: str | os.PathLike) -> DynamicsTokenizer:
        directory = Path(directory)
        description = read_json(directory / DESCRIPTION_FILE, "dynamics tokenizer description", expect=dict)
        if description.get("kind") != KIND:
            raise InputError(
                directory / DESCRIPTION_FILE, "kind", f"expected {KIND!r}, got {description.get('kind')!r}"
            )
        config = load_config(
            DynamicsConfig, description.get("config", {}), origin=str(directory / DESCRIPTION_FILE), prefix="config"
        )
        model = LatentDynamics(config)
        weights = directory / WEIGHTS_FILE
        if not weights.is_file():
            raise InputError(weights, None, "missing (dynamics tokenizer weights)")
        try:
            model.load_state_dict(load_file(str(weights)))
        except Exception as exc:  # safetensors' own error types, or a shape mismatch
            raise InputError(weights, None, f"cannot read weights: {exc}") from exc
        return cls(config, model)


def _restart_unused(
    model: LatentDynamics, usage: torch.Tensor, a: torch.Tensor, b: torch.Tensor, generator: torch.Generator
) -> None:
    """Move codebook entries nobody chose since the last restart onto random encoder outputs."""
    dead = (usage == 0).nonzero().flatten()
    if not len(dead):
        return
    with torch.no_grad():
        pick = torch.randint(len(a), (min(len(a), 4 * len(dead)),), generator=generator)
        latents = model.latents(a[pick], b[pick]).reshape(-1, model.config.code_dim)
        chosen = latents[torch.randperm(len(latents), generator=generator)[: len(dead)]]
        model.codebook.data[dead[: len(chosen)]] = chosen


def dataset_frame_pairs(path: str | os.PathLike, gap_s: float = 1.0, image_size: int = 64, max_pairs: int | None = 2000,
                        seed: int = 0) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(now, future) frame pairs (N, S, S, 3) uint8 ``gap_s`` apart from a dataset's video, at its sample anchors."""
    from dexego.data import Dataset
    from dexego.data.samples import anchor_frames

    if gap_s <= 0:
        raise ConfigError(f"the frame gap must be > 0 s, got {gap_s}")
    dataset = Dataset(path, image_size=(image_size, image_size))
    try:
        if not dataset.video_keys:
            raise InputError(path, "video", "the dataset has no video: visual-dynamics tokens need frames")
        fps = float(dataset.fps)
        items = []
        for ep in range(dataset.num_episodes):
            length = int(dataset.episode_lengths[ep])
            gap = int(round(gap_s * fps))
            for anchor in anchor_frames(length, fps, 3.0):
                if anchor + gap < length:
                    items.append((ep, int(anchor), int(anchor + gap)))
        if not items:
            raise InputError(path, "episodes", f"no episode is longer than the frame gap ({gap_s} s)")
        if max_pairs is not None and len(items) > max_pairs:
            keep = np.random.default_rng(seed).choice(len(items), max_pairs, replace=False)
            items = [items[i] for i in sorted(keep)]
        now, future = [], []
        for ep in sorted({e for e, _, _ in items}):
            mine = [(a, f) for e, a, f in items if e == ep]
            needed = np.unique(np.array([i for pair in mine for i in pair]))
            frames = dataset.frames(ep, needed)
            for a, f in mine:
                now.append(frames[np.searchsorted(needed, a)])
                future.append(frames[np.searchsorted(needed, f)])
        return np.stack(now), np.stack(future)
    finally:
        dataset.close()


def fit_dataset_dynamics(dataset: str | os.PathLike, out: str | os.PathLike, gap_s: float = 1.0, max_pairs: int | None = 2000,
                         overrides: list[str] | None = None, log=print) -> dict[str, float]:  # fmt: skip
    """Read frame pairs ``gap_s`` apart, fit, save to ``out`` (atomically) and report on the pairs.

    The report compares the forward model's prediction from the codes with copying the current
    frame (mean squared error per pixel in [0, 1]) and gives the codebook usage.
    """
    config = load_config(DynamicsConfig, {}, overrides, origin="dexego tokenizer fit --kind dynamics", prefix="")
    log(f"reading frame pairs {gap_s:g} s apart from {dataset} ...")
    now, future = dataset_frame_pairs(dataset, gap_s, config.image_size, max_pairs, config.seed)
    log(
        f"fitting visual-dynamics tokens on {len(now)} frame pairs ({config.num_tokens} tokens, codebook {config.codebook_size}) ..."
    )
    last = [0]

    def progress(step: int, loss: float) -> None:
        if step - last[0] >= 250:
            last[0] = step
            log(f"  step {step}: loss {loss:.4f}")

    tokenizer = DynamicsTokenizer.fit(now, future, config, progress=progress)
    tokenizer.save(out)
    codes = tokenizer.encode(now, future)
    predicted = tokenizer.predict(now, codes)
    truth = prepare_frames(future, config.image_size).numpy()
    present = prepare_frames(now, config.image_size).numpy()
    report = {
        "pairs": float(len(now)),
        "prediction_mse": float(np.mean((predicted - truth) ** 2)),
        "copy_mse": float(np.mean((present - truth) ** 2)),
        "codes_used": float(len(np.unique(codes))),
    }
    log(f"saved {out}: future-frame MSE {report['prediction_mse']:.5f} with the codes vs {report['copy_mse']:.5f} copying the "
        f"present; {int(report['codes_used'])}/{config.codebook_size} codes used")  # fmt: skip
    return report
