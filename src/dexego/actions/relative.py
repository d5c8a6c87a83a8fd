"""Action chunks relative to the current observation, and back: what a policy predicts vs what is executed.

``action_frame = "absolute"``: the head predicts the chunk as stored (hands in
the current camera frame). ``"relative"``: it predicts the motion from the
current state (EgoScale's relative wrist motion): for every part of every
hand, the chunk step minus the current value; for rotation parts (names ending
in ``rot6d``) the rotation relative to the current one, ``R_now^T R_step``,
written as rot6d. :func:`to_relative` and :func:`to_absolute` are exact
inverses (up to float rounding) for any action space whose parts follow this
naming, robot action spaces included.

A hand whose current state is invalid has no reference: its chunk passes
through unchanged (reference = zero position, identity rotation); training
masks such steps out (see ``dexego.models.policy``).
"""

from __future__ import annotations

from typing import Literal

import torch

from dexego.actions.spaces import ActionSpace, get_space
from dexego.errors import ConfigError
from dexego.geometry.dispatch import array_function
from dexego.geometry.rotations import matrix_to_rot6d, rot6d_to_matrix

ActionFrame = Literal["absolute", "relative"]
ACTION_FRAMES: tuple[str, ...] = ("absolute", "relative")
_IDENTITY_ROT6D = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def check_action_frame(frame: str) -> str:
    if frame not in ACTION_FRAMES:
        raise ConfigError(f"unknown action_frame {frame!r}; valid: {', '.join(ACTION_FRAMES)}")
    return frame


def is_rotation_part(name: str) -> bool:
    return name.endswith("rot6d")


def _reference(state: torch.Tensor, state_valid: torch.Tensor | None, space: ActionSpace) -> torch.Tensor:
    """The current state with invalid hands replaced by the neutral reference (zeros, identity rotation)."""
    neutral = torch.zeros(space.dim, dtype=state.dtype, device=state.device)
    for side in (0, 1):
        for part, size in space.parts:
            if is_rotation_part(part):
                if size != 6:
                    raise ValueError(f"rotation part {part!r} of {space.name!r} must have 6 values (rot6d), has {size}")
                neutral[space.part_slice(part, side)] = torch.tensor(_IDENTITY_ROT6D, dtype=state.dtype)
    if state_valid is None:
        return state
    per_dim = (state_valid > 0.5 if state_valid.dtype != torch.bool else state_valid).repeat_interleave(
        space.hand_dim, dim=-1
    )
    return torch.where(per_dim, state, neutral)


def _check(chunk: torch.Tensor, state: torch.Tensor, space: ActionSpace) -> None:
    if chunk.shape[-1] != space.dim or state.shape[-1] != space.dim or chunk.shape[:-2] != state.shape[:-1]:
        raise ValueError(f"expected a chunk (..., H, {space.dim}) and a state (..., {space.dim}) of {space.name!r}, "
                         f"got {tuple(chunk.shape)} and {tuple(state.shape)}")  # fmt: skip


@array_function
def to_relative(chunk: torch.Tensor, state: torch.Tensor, space: str | ActionSpace = "ego48",
                state_valid: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
    """Absolute chunk (..., H, D) and current state (..., D) -> the chunk relative to the state."""
    space = get_space(space)
    _check(chunk, state, space)
    ref = _reference(state, state_valid, space)[..., None, :]
    out = chunk - ref
    for side in (0, 1):
        for part, _ in space.parts:
            if is_rotation_part(part):
                sl = space.part_slice(part, side)
                now = rot6d_to_matrix(ref[..., sl])
                out[..., sl] = matrix_to_rot6d(now.transpose(-1, -2) @ rot6d_to_matrix(chunk[..., sl]))
    return out


@array_function
def to_absolute(relative: torch.Tensor, state: torch.Tensor, space: str | ActionSpace = "ego48",
                state_valid: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
    """Inverse of :func:`to_relative`: a relative chunk (..., H, D) and the state it was taken from -> absolute."""
    space = get_space(space)
    _check(relative, state, space)
    ref = _reference(state, state_valid, space)[..., None, :]
    out = relative + ref
    for side in (0, 1):
        for part, _ in space.parts:
            if is_rotation_part(part):
                sl = space.part_slice(part, side)
                out[..., sl] = matrix_to_rot6d(rot6d_to_matrix(ref[..., sl]) @ rot6d_to_matrix(relative[..., sl]))
    return out
