"""One implementation for numpy and torch.

Every geometry function is written once, in torch. Called with numpy arrays it
runs on float64 tensors that share memory with the inputs and returns numpy
arrays of the input's floating dtype; called with tensors it stays in torch
(differentiable, on the tensors' device).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import torch


def _result_dtype(args: tuple) -> np.dtype:
    dtypes = [a.dtype for a in args if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    return np.result_type(*dtypes) if dtypes else np.dtype(np.float64)


def _to_torch(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.asarray(x, dtype=np.float64))
    if isinstance(x, (list, tuple)) and x and all(isinstance(v, (int, float)) for v in x):
        return torch.tensor(x, dtype=torch.float64)
    return x


def _to_numpy(x: Any, dtype: np.dtype) -> Any:
    if isinstance(x, torch.Tensor):
        out = x.detach().cpu().numpy()
        return out.astype(dtype, copy=False) if out.dtype.kind == "f" else out
    if isinstance(x, tuple):
        return tuple(_to_numpy(v, dtype) for v in x)
    return x


def array_function(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Accept numpy arrays (returned as numpy) or torch tensors (kept in torch).

    The wrapped function takes and returns either kind, so its type for callers is ``Callable[..., Any]``
    (its own annotations describe the torch implementation)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not any(isinstance(a, np.ndarray) for a in (*args, *kwargs.values())):
            return fn(*args, **kwargs)
        dtype = _result_dtype((*args, *kwargs.values()))
        out = fn(*(_to_torch(a) for a in args), **{k: _to_torch(v) for k, v in kwargs.items()})
        return _to_numpy(out, dtype)

    return wrapper


def eps_for(x: torch.Tensor) -> float:
    return 1e-12 if x.dtype == torch.float64 else 1e-7
