"""The few operations where numpy and torch spell things differently, dispatched on the array type.

The retargeting kinematics and solver are written once against these (and
the operations both libraries share: ``@``, indexing, ``einsum``, ``where``,
``stack``, ``sin`` ...). Large batches run in torch; a frame or a chunk per
call runs the same code in numpy float64, where a call on a tiny array costs
about a microsecond instead of several (the online path is dominated by that
per-call overhead, not by arithmetic).
"""

from __future__ import annotations

import numpy as np
import torch


def namespace(x):
    """``numpy`` for numpy arrays, ``torch`` for tensors."""
    return np if isinstance(x, np.ndarray) else torch


def cast(x, like):
    """``x`` (same library as ``like``) converted to ``like``'s dtype."""
    return x.astype(like.dtype, copy=False) if isinstance(like, np.ndarray) else x.to(like.dtype)


def expand(x, shape: tuple[int, ...]):
    """``x`` broadcast to ``shape`` (torch: a view; numpy: a new array, cheaper than ``broadcast_to`` on tiny arrays)."""
    if isinstance(x, np.ndarray):
        out = np.empty(shape, dtype=x.dtype)
        out[...] = x
        return out
    return x.expand(shape)


def eye(n: int, like):
    if isinstance(like, np.ndarray):
        return np.eye(n, dtype=like.dtype)
    return torch.eye(n, dtype=like.dtype, device=like.device)


def cross(a, b):
    """Cross product over the last axis."""
    if isinstance(a, np.ndarray):  # np.cross costs tens of microseconds of argument handling on tiny arrays
        return a[..., _NEXT] * b[..., _LAST] - a[..., _LAST] * b[..., _NEXT]
    return torch.linalg.cross(a, b, dim=-1)


_NEXT, _LAST = [1, 2, 0], [2, 0, 1]


def concat(xs, axis: int):
    return np.concatenate(xs, axis) if isinstance(xs[0], np.ndarray) else torch.cat(xs, axis)


def numpy_buffers(module: torch.nn.Module) -> dict[str, np.ndarray]:
    """The module's own buffers as float64 (bool stays bool) numpy arrays, converted once and cached."""
    cache = module.__dict__.get("_numpy_buffers")
    if cache is None:
        cache = {
            name: (b.detach().cpu().numpy() if b.dtype == torch.bool else b.detach().cpu().double().numpy())
            for name, b in module.named_buffers(recurse=False)
        }
        module.__dict__["_numpy_buffers"] = cache
    return cache


def repeat_each(x, repeats: int, axis: int):
    """Each element ``repeats`` times along ``axis`` (numpy ``repeat``, torch ``repeat_interleave``)."""
    return np.repeat(x, repeats, axis) if isinstance(x, np.ndarray) else torch.repeat_interleave(x, repeats, axis)
