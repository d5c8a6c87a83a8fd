"""The learned retargeter (EgoVLA): an MLP 64-128-64 from fingertips in the wrist frame to actuated joints.

Trained on forward-kinematics samples of the robot hand: joints drawn
uniformly within their limits, fingertips computed by :class:`RobotHand`.
The loss is on the fingertips the predicted joints reach (through the
differentiable FK) plus a small joint term, so a hand whose thumb has
near-redundant joints is judged by what matters. Outputs pass through a
sigmoid onto the joint ranges, so predictions always respect the limits.
Saved as safetensors with a JSON header (no pickle).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from dexego.errors import InputError
from dexego.retarget.hand import RobotHand
from dexego.utils.files import atomic_file


@dataclass(frozen=True)
class LearnedRetargeterConfig:
    hidden: tuple[int, ...] = (64, 128, 64)
    samples: int = 200_000
    steps: int = 20_000  # EgoVLA: 2000 epochs at batch 2048; steps here are batches
    batch_size: int = 2048
    learning_rate: float = 1e-3
    joint_loss_weight: float = 0.01
    # Training inputs get this much Gaussian noise (m) and the loss asks for the reachable fingertips nearest
    # to them: human fingertips are never exactly on the robot's workspace.
    input_noise: float = 0.003
    min_input_std: float = 0.005  # m: floor of the per-coordinate input normalisation (some coordinates never vary)
    seed: int = 0


class LearnedRetargeter(torch.nn.Module):
    """fingertips (..., F, 3) in the robot's wrist frame -> actuated joints (..., A).

    F is the number of fingertips the hand maps (``RobotHand.tip_indices``): 5 on a five-finger hand.
    """

    def __init__(
        self,
        hidden: tuple[int, ...],
        lower: torch.Tensor,
        upper: torch.Tensor,
        joint_names: tuple[str, ...],
        hand_name: str,
        num_tips: int = 5,
    ):
        super().__init__()
        self.hidden = tuple(hidden)
        self.joint_names = tuple(joint_names)
        self.hand_name = hand_name
        self.num_tips = int(num_tips)
        inputs = 3 * self.num_tips
        sizes = (inputs,) + self.hidden + (len(joint_names),)
        layers: list[torch.nn.Module] = []
        for i in range(len(sizes) - 1):
            layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                layers.append(torch.nn.ReLU())
        self.net = torch.nn.Sequential(*layers)
        finite = torch.isfinite(lower) & torch.isfinite(upper)
        self.register_buffer("lower", torch.where(finite, lower, -torch.pi * torch.ones_like(lower)).float())
        self.register_buffer("upper", torch.where(finite, upper, torch.pi * torch.ones_like(upper)).float())
        self.register_buffer("input_mean", torch.zeros(inputs))
        self.register_buffer("input_std", torch.ones(inputs))

    def forward(self, fingertips: torch.Tensor) -> torch.Tensor:
        x = (
            fingertips.reshape(fingertips.shape[:-2] + (3 * self.num_tips,)).float() - self.input_mean
        ) / self.input_std
        return self.lower + (self.upper - self.lower) * torch.sigmoid(self.net(x))

    def save(self, path: str | os.PathLike) -> None:
        """Write safetensors (weights + JSON metadata) through a temporary file."""
        path = Path(path)
        meta = {
            "hidden": list(self.hidden),
            "joint_names": list(self.joint_names),
            "hand_name": self.hand_name,
            "num_tips": self.num_tips,
        }
        with atomic_file(path) as tmp:
            save_file(
                {k: v.contiguous() for k, v in self.state_dict().items()},
                str(tmp),
                metadata={"dexego": json.dumps(meta)},
            )

    @classmethod
    def load(cls, path: str | os.PathLike) -> LearnedRetargeter:
        path = Path(path)
        if not path.is_file():
            raise InputError(path, None, "learned retargeter file not found")
        try:
            tensors = load_file(str(path))
            with safe_open(str(path), "pt") as f:
                meta = json.loads((f.metadata() or {})["dexego"])
        except Exception as exc:  # safetensors raises its own error types for corrupt files
            raise InputError(path, None, f"not a dexego learned retargeter: {exc}") from None
        if not isinstance(meta, dict):
            raise InputError(path, "metadata.dexego", "expected a JSON object")
        for key in ("hidden", "joint_names", "hand_name"):
            if key not in meta:
                raise InputError(path, f"metadata.dexego.{key}", "missing")
        for key in ("lower", "upper"):
            if key not in tensors:
                raise InputError(path, key, "missing tensor")
        model = cls(
            tuple(meta["hidden"]),
            tensors["lower"],
            tensors["upper"],
            tuple(meta["joint_names"]),
            meta["hand_name"],
            meta.get("num_tips", 5),
        )
        try:
            model.load_state_dict(tensors)
        except RuntimeError as exc:
            raise InputError(path, "weights", f"do not match the stored layout: {exc}") from None
        return model


def sample_hand(hand: RobotHand, count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Joints uniform within the limits and the fingertips they reach: (count, A), (count, F, 3)."""
    lower, upper = hand.lower.float(), hand.upper.float()
    finite = torch.isfinite(lower) & torch.isfinite(upper)
    lower = torch.where(finite, lower, -torch.pi * torch.ones_like(lower))
    upper = torch.where(finite, upper, torch.pi * torch.ones_like(upper))
    q = lower + (upper - lower) * torch.rand(count, hand.num_joints, generator=generator)
    with torch.no_grad():
        tips = hand.fingertips(q.to(hand.dtype)).float()
    return q, tips


def train_learned_retargeter(
    hand: RobotHand, config: LearnedRetargeterConfig | None = None, progress: bool = False
) -> tuple[LearnedRetargeter, dict[str, float]]:
    """Train on FK samples; returns the model and held-out metrics (mean fingertip error in metres)."""
    cfg = config or LearnedRetargeterConfig()
    gen = torch.Generator().manual_seed(cfg.seed)
    q_train, tips_train = sample_hand(hand, cfg.samples, gen)
    q_val, tips_val = sample_hand(hand, min(10_000, max(1000, cfg.samples // 10)), gen)
    model = LearnedRetargeter(cfg.hidden, hand.lower, hand.upper, hand.joint_names, hand.name, len(hand.tip_indices))
    flat = tips_train.reshape(-1, 3 * model.num_tips)
    model.input_mean.copy_(flat.mean(0))
    model.input_std.copy_(flat.std(0).clamp_min(cfg.min_input_std))
    optimiser = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(1, cfg.steps))
    joint_scale = (model.upper - model.lower).clamp_min(1e-6)
    iterator = range(cfg.steps)
    if progress:
        from dexego.utils.progress import progress_iter

        iterator = progress_iter(iterator, "train retargeter", "step")
    for _ in iterator:
        idx = torch.randint(0, cfg.samples, (cfg.batch_size,), generator=gen)
        inputs = tips_train[idx] + cfg.input_noise * torch.randn(tips_train[idx].shape, generator=gen)
        pred = model(inputs)
        reached = hand.fingertips(pred.to(hand.dtype)).float()
        loss = ((reached - inputs) ** 2).sum(-1).mean() / 1e-4  # in cm^2
        loss = loss + cfg.joint_loss_weight * (((pred - q_train[idx]) / joint_scale) ** 2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        scheduler.step()
    model.eval()
    return model, evaluate_learned_retargeter(model, hand, q_val, tips_val)


def evaluate_learned_retargeter(
    model: LearnedRetargeter, hand: RobotHand, q: torch.Tensor, tips: torch.Tensor
) -> dict[str, float]:
    with torch.no_grad():
        pred = model(tips)
        reached = hand.fingertips(pred.to(hand.dtype)).float()
    error = (reached - tips).norm(dim=-1)
    return {
        "fingertip_error_mean_m": float(error.mean()),
        "fingertip_error_p95_m": float(error.quantile(0.95)),
        "joint_error_mean_rad": float((pred - q).abs().mean()),
    }
