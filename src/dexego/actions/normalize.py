"""Normalisation from dataset statistics, kept out of the networks.

Modes (as LeRobot's processors and openpi): ``mean_std`` -> (x - mean) / std;
``quantile`` maps [q01, q99] to [-1, 1]; ``min_max`` maps [min, max] to
[-1, 1]; ``identity`` leaves values alone. Dimensions in ``skip`` (e.g. the
rot6d parts, already bounded) pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
import torch

NormMode = Literal["mean_std", "quantile", "min_max", "identity"]
# Scales are floored: a feature that barely varies in one dataset (a robot hand that never moves, an
# always-invalid hand stored as zeros) must not blow up values from another dataset by 1e8.
DEFAULT_MIN_SCALE = 1e-2
_REQUIRED = {"mean_std": ("mean", "std"), "quantile": ("q01", "q99"), "min_max": ("min", "max"), "identity": ()}


class Normalizer:
    """Affine per-dimension normalisation: y = (x - shift) / scale."""

    def __init__(
        self,
        stats: Mapping[str, np.ndarray],
        mode: NormMode = "mean_std",
        skip: np.ndarray | None = None,
        min_scale: float = DEFAULT_MIN_SCALE,
    ):
        if mode not in _REQUIRED:
            raise ValueError(f"unknown normalisation mode {mode!r}; known: {', '.join(_REQUIRED)}")
        missing = [k for k in _REQUIRED[mode] if k not in stats]
        if missing:
            raise ValueError(f"normalisation mode {mode!r} needs statistics {', '.join(missing)}")
        self.mode = mode
        if mode == "identity":
            dim = len(next(iter(stats.values()))) if stats else (0 if skip is None else len(skip))
            shift, scale = np.zeros(dim), np.ones(dim)
        else:
            lo, hi = (np.asarray(stats[k], dtype=np.float64) for k in _REQUIRED[mode])
            if mode == "mean_std":
                shift, scale = lo, hi
            else:
                shift, scale = (lo + hi) / 2, (hi - lo) / 2
        scale = np.maximum(np.abs(scale), min_scale)
        if not (np.all(np.isfinite(shift)) and np.all(np.isfinite(scale))):
            raise ValueError("normalisation statistics contain NaN or inf")
        if skip is not None:
            skip = np.asarray(skip, dtype=bool)
            if skip.shape != shift.shape:
                raise ValueError(f"skip mask shape {skip.shape} does not match statistics shape {shift.shape}")
            shift, scale = np.where(skip, 0.0, shift), np.where(skip, 1.0, scale)
        self.shift, self.scale = shift, scale

    @property
    def dim(self) -> int:
        return int(self.shift.shape[0])

    def _params(self, x):
        if isinstance(x, torch.Tensor):
            return (torch.as_tensor(self.shift, dtype=x.dtype, device=x.device),
                    torch.as_tensor(self.scale, dtype=x.dtype, device=x.device))  # fmt: skip
        return self.shift.astype(x.dtype, copy=False), self.scale.astype(x.dtype, copy=False)

    def _check(self, x) -> None:
        if x.shape[-1] != self.dim:
            raise ValueError(f"expected {self.dim} values in the last axis, got shape {tuple(x.shape)}")

    def normalize(self, x):
        self._check(x)
        shift, scale = self._params(x)
        return (x - shift) / scale

    def unnormalize(self, y):
        self._check(y)
        shift, scale = self._params(y)
        return y * scale + shift

    def state_dict(self) -> dict[str, np.ndarray]:
        """Arrays to store beside a model (safetensors); ``from_state_dict`` restores them exactly."""
        return {"shift": self.shift.copy(), "scale": self.scale.copy()}

    @classmethod
    def from_state_dict(cls, state: Mapping[str, np.ndarray], mode: NormMode = "mean_std") -> Normalizer:
        obj = cls.__new__(cls)
        obj.mode = mode
        obj.shift = np.asarray(state["shift"], dtype=np.float64)
        obj.scale = np.asarray(state["scale"], dtype=np.float64)
        return obj
