"""Learning-rate schedules: linear warm-up, then cosine / constant / step decay (a torch LambdaLR)."""

from __future__ import annotations

import math

import torch

from dexego.train.config import ScheduleConfig


def lr_factor(config: ScheduleConfig, step: int, total_steps: int, steps_per_epoch: int) -> float:
    """Multiplier of the base learning rate for optimiser step ``step`` (0-based) of ``total_steps``."""
    if config.warmup_steps and step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    if config.kind == "constant":
        return 1.0
    if config.kind == "step":
        scale = steps_per_epoch if config.milestone_unit == "epoch" else 1
        passed = sum(1 for m in config.milestones if step >= m * scale)
        return config.gamma**passed
    decay_steps = max(1, total_steps - config.warmup_steps - 1)
    progress = min(1.0, (step - config.warmup_steps) / decay_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return config.min_lr_ratio + (1.0 - config.min_lr_ratio) * cosine


def build_scheduler(optimizer: torch.optim.Optimizer, config: ScheduleConfig, total_steps: int, steps_per_epoch: int):
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(config, step, total_steps, steps_per_epoch)
    )
