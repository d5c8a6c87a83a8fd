"""Turning observations and training batches (numpy or torch, batched or not) into checked tensors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from dexego.errors import InputError


def _tensor(value: Any, field: str, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(np.ascontiguousarray(value))
    elif not isinstance(value, torch.Tensor):
        try:
            value = torch.as_tensor(np.asarray(value))
        except (TypeError, ValueError) as exc:
            raise InputError(None, field, f"cannot be read as an array: {exc}") from exc
    return value.to(device=device, dtype=dtype)


def prepare(data: Mapping[str, Any], action_dim: int, max_frames: int, device: torch.device,
            with_actions: bool) -> tuple[dict[str, Any], bool]:  # fmt: skip
    """Returns (tensors with a batch dimension, whether the input had one)."""
    for key in ("images", "state", "state_valid", "fov", "instruction") + (
        ("actions", "action_valid") if with_actions else ()
    ):
        if key not in data:
            raise InputError(None, key, "missing from the observation")
    images = data["images"]
    batched = np.ndim(images) == 5
    if np.ndim(images) not in (4, 5):
        raise InputError(
            None, "images", f"expected (T, 3, H, W) or (B, T, 3, H, W), got shape {tuple(np.shape(images))}"
        )

    def get(key: str, dtype: torch.dtype, tail: tuple) -> torch.Tensor:
        x = _tensor(data[key], key, dtype, device)
        if not batched:
            x = x[None]
        if tuple(x.shape[1:]) != tail:
            raise InputError(
                None,
                key,
                f"expected shape {('B',) + tail if batched else tail}, got {tuple(x.shape if batched else x.shape[1:])}",
            )
        return x

    images_t = _tensor(images, "images", torch.uint8 if _is_uint8(images) else torch.float32, device)
    images_t = images_t if batched else images_t[None]
    b, t = images_t.shape[:2]
    if images_t.shape[2] != 3 or t > max_frames:
        raise InputError(
            None,
            "images",
            f"expected up to {max_frames} RGB frames (T, 3, H, W), got shape {tuple(images_t.shape[1:])}",
        )
    out: dict[str, Any] = {"images": images_t}
    out["image_mask"] = (
        get("image_mask", torch.bool, (t,))
        if "image_mask" in data
        else torch.ones(b, t, dtype=torch.bool, device=device)
    )
    if not bool(out["image_mask"][:, -1].all()):
        raise InputError(None, "image_mask", "the current (last) frame must be a real frame")
    out["state_valid"] = get("state_valid", torch.bool, (2,))
    out["state"] = _finite_where_valid(get("state", torch.float32, (action_dim,)), out["state_valid"], "state")
    out["fov"] = get("fov", torch.float32, (2,))
    if not bool(torch.isfinite(out["fov"]).all()):
        raise InputError(None, "fov", "contains NaN or inf")
    instruction = data["instruction"]
    out["instruction"] = [instruction] if isinstance(instruction, str) else [str(x) for x in instruction]
    if len(out["instruction"]) != b:
        raise InputError(None, "instruction", f"expected {b} instructions, got {len(out['instruction'])}")
    if with_actions and "future_image" in data:  # the frame at the chunk's end (visual-dynamics tokens)
        future = _tensor(data["future_image"], "future_image", images_t.dtype, device)
        future = future if batched else future[None]
        if tuple(future.shape) != (b,) + tuple(images_t.shape[2:]):
            raise InputError(
                None, "future_image", f"expected shape {(b,) + tuple(images_t.shape[2:])}, got {tuple(future.shape)}"
            )
        out["future_image"] = future
    if with_actions and "plan" in data:  # plan texts of a reasoning policy
        plan = data["plan"]
        out["plan"] = [plan] if isinstance(plan, str) else [str(x) for x in plan]
        if len(out["plan"]) != b:
            raise InputError(None, "plan", f"expected {b} plans, got {len(out['plan'])}")
    if with_actions:
        horizon = np.shape(data["actions"])[-2]
        out["action_valid"] = get("action_valid", torch.bool, (horizon, 2))
        out["actions"] = _finite_where_valid(
            get("actions", torch.float32, (horizon, action_dim)), out["action_valid"], "actions"
        )
    # Per-dimension mask of what each sample carries (robot action spaces: human samples lack the robot joints).
    out["action_mask"] = get("action_mask", torch.bool, (action_dim,)) if "action_mask" in data else None
    return out, batched


def _is_uint8(x: Any) -> bool:
    return getattr(x, "dtype", None) in (np.uint8, torch.uint8)


def _finite_where_valid(values: torch.Tensor, valid: torch.Tensor, field: str) -> torch.Tensor:
    """Invalid hands may hold anything (they become 0); a valid hand with NaN/inf is an error."""
    per_dim = valid.repeat_interleave(values.shape[-1] // 2, dim=-1)
    if not bool(torch.isfinite(values[per_dim]).all()):
        raise InputError(None, field, "NaN or inf in a hand marked valid")
    return torch.where(per_dim, values, torch.zeros_like(values))
