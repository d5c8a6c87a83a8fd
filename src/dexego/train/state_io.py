"""Saving nested training state without pickle: tensors to safetensors, everything else to JSON.

``pack`` splits a nested structure (dicts, lists, tuples, tensors, numpy
arrays, numbers, strings) into a flat ``{key: tensor}`` map and a JSON
skeleton that refers to the tensors by key; ``unpack`` rebuilds it. Used for
optimiser and scheduler state and the RNG states of python, numpy and torch.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from dexego.errors import InputError
from dexego.utils.files import read_json

_TENSOR = "__tensor__"
_ITEMS = "__items__"  # a dict whose keys are not all strings
_TUPLE = "__tuple__"


def pack(value: Any, tensors: dict[str, torch.Tensor], prefix: str = "t") -> Any:
    if isinstance(value, torch.Tensor):
        key = f"{prefix}.{len(tensors)}"
        tensors[key] = value.detach().cpu().contiguous().clone()
        return {_TENSOR: key}
    if isinstance(value, np.ndarray):
        key = f"{prefix}.{len(tensors)}"
        wide = value.astype(np.int64) if value.dtype == np.uint32 else value
        tensors[key] = torch.from_numpy(np.ascontiguousarray(wide)).clone()
        return {_TENSOR: key, "numpy": value.dtype.str}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {k: pack(v, tensors, prefix) for k, v in value.items()}
        return {_ITEMS: [[k, pack(v, tensors, prefix)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {_TUPLE: [pack(v, tensors, prefix) for v in value]}
    if isinstance(value, list):
        return [pack(v, tensors, prefix) for v in value]
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot save a value of type {type(value).__name__}")


def unpack(skeleton: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(skeleton, list):
        return [unpack(v, tensors) for v in skeleton]
    if not isinstance(skeleton, dict):
        return skeleton
    if _TENSOR in skeleton:
        tensor = tensors[skeleton[_TENSOR]]
        if "numpy" in skeleton:
            return tensor.numpy().astype(np.dtype(skeleton["numpy"]))
        return tensor
    if _ITEMS in skeleton:
        return {k: unpack(v, tensors) for k, v in skeleton[_ITEMS]}
    if _TUPLE in skeleton:
        return tuple(unpack(v, tensors) for v in skeleton[_TUPLE])
    return {k: unpack(v, tensors) for k, v in skeleton.items()}


def save_state(directory: Path, name: str, value: Any) -> None:
    """Write ``value`` as ``name.json`` (+ ``name.safetensors`` when it holds tensors)."""
    tensors: dict[str, torch.Tensor] = {}
    skeleton = pack(value, tensors)
    if tensors:
        save_file(tensors, str(directory / f"{name}.safetensors"))
    write_json(directory / f"{name}.json", skeleton)


def load_state(directory: Path, name: str) -> Any:
    skeleton = read_json(directory / f"{name}.json")
    tensor_path = directory / f"{name}.safetensors"
    tensors = load_tensors(tensor_path) if tensor_path.exists() else {}
    try:
        return unpack(skeleton, tensors)
    except KeyError as exc:
        raise InputError(tensor_path, str(exc), "tensor referenced by the JSON is missing") from None


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise InputError(path, None, "file not found") from None
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise InputError(path, None, f"cannot read safetensors: {exc}") from None


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1, allow_nan=True) + "\n")


def rng_state() -> dict[str, Any]:
    """The RNG states of python, numpy and torch (CPU and every CUDA device)."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np.random.set_state(tuple(state["numpy"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
