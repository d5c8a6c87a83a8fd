"""EgoVLA's action loss: wrist translation (L2), wrist rotation (L2 between rotation matrices) and hand terms.

Predictions and targets are normalised actions (B, H, D). Translation and
hand terms compare the normalised values; rotation compares the matrices of
the un-normalised rot6d. Every term is masked by per-step hand validity
(B, H, 2) and averaged over the valid (step, hand) pairs. Robot action spaces add a per-dimension mask
(B, D) of what each sample carries (a human sample has no robot joints): masked dimensions add nothing.
"""

from __future__ import annotations

import torch

from dexego.actions import ActionSpace, Normalizer
from dexego.geometry import rot6d_to_matrix
from dexego.models.configuration_policy import LossWeights

_WRIST_PARTS = ("wrist_pos", "wrist_rot6d")


def hand_parts(space: ActionSpace) -> tuple[str, ...]:
    return tuple(p for p in space.part_names if p not in _WRIST_PARTS)


def _hand_index(space: ActionSpace, side: int) -> list[int]:
    return [i for part in hand_parts(space) for i in range(*space.part_slice(part, side).indices(space.dim))]


def action_loss(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, space: ActionSpace,
                normalizer: Normalizer, weights: LossWeights,
                dim_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:  # fmt: skip
    pred_raw, target_raw = normalizer.unnormalize(pred), normalizer.unnormalize(target)
    dims = None if dim_mask is None else dim_mask.to(pred.dtype)[:, None, :]  # (B, 1, D)
    mask = valid.to(pred.dtype)
    count = mask.sum().clamp_min(1.0)
    terms = {"wrist_pos": 0.0, "wrist_rot": 0.0, "hand": 0.0}
    position_error = pred.new_zeros(())
    for side in (0, 1):
        m = mask[..., side]
        pos = space.part_slice("wrist_pos", side)
        rot = space.part_slice("wrist_rot6d", side)
        terms["wrist_pos"] = terms["wrist_pos"] + (((pred[..., pos] - target[..., pos]) ** 2).sum(-1) * m).sum()
        rot_error = (rot6d_to_matrix(pred_raw[..., rot]) - rot6d_to_matrix(target_raw[..., rot])) ** 2
        terms["wrist_rot"] = terms["wrist_rot"] + (rot_error.sum((-1, -2)) * m).sum()
        hand = _hand_index(space, side)
        hand_error = (pred[..., hand] - target[..., hand]) ** 2
        if dims is not None:
            hand_error = hand_error * dims[..., hand]
        terms["hand"] = terms["hand"] + (hand_error.sum(-1) * m).sum()
        position_error = position_error + ((pred_raw[..., pos] - target_raw[..., pos]).norm(dim=-1) * m).sum()
    terms = {k: v / count for k, v in terms.items()}
    loss = (
        weights.wrist_pos * terms["wrist_pos"] + weights.wrist_rot * terms["wrist_rot"] + weights.hand * terms["hand"]
    )
    metrics = {f"loss_{k}": float(v.detach()) for k, v in terms.items()}
    metrics["wrist_pos_error_m"] = float((position_error / count).detach())
    return loss, metrics


def part_weights(space: ActionSpace, weights: LossWeights) -> torch.Tensor:
    """Per-dimension weights (D,) from the part weights (for losses on velocities or other per-dim errors)."""
    w = torch.full((space.dim,), weights.hand)
    for side in (0, 1):
        w[space.part_slice("wrist_pos", side)] = weights.wrist_pos
        w[space.part_slice("wrist_rot6d", side)] = weights.wrist_rot
    return w


def step_hand_mask(valid: torch.Tensor, space: ActionSpace, dim_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-hand validity (B, H, 2) (and what each sample carries, (B, D)) -> per-dimension float mask (B, H, D)."""
    mask = valid.repeat_interleave(space.hand_dim, dim=-1).float()
    return mask if dim_mask is None else mask * dim_mask.float()[:, None, :]
