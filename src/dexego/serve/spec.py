"""What an observation sent to the server must look like, checked before inference.

A policy gets only observations that passed these checks, so a client that
sends a wrong shape, a missing key or NaN gets one clear error naming the
field instead of a traceback from deep inside the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from dexego.errors import InputError

_KIND_NAMES = {"b": "bool", "u": "unsigned int", "i": "int", "f": "float", "U": "str", "S": "bytes"}


@dataclass(frozen=True)
class FieldSpec:
    """One observation entry. ``shape`` uses None for a free size; a leading batch dim of 1 may be added."""

    name: str
    kind: Literal["array", "text"] = "array"
    dtype_kinds: str = "f"  # numpy dtype kinds accepted for arrays
    shape: tuple[int | None, ...] = ()
    required: bool = True
    finite: bool = True  # refuse NaN/inf in float arrays

    def check(self, value: Any) -> None:
        if self.kind == "text":
            if not isinstance(value, str):
                raise InputError("observation", self.name, f"expected a string, got {type(value).__name__}")
            return
        if not isinstance(value, np.ndarray):
            raise InputError("observation", self.name, f"expected a numpy array, got {type(value).__name__}")
        if value.dtype.kind not in self.dtype_kinds:
            wanted = " or ".join(_KIND_NAMES.get(k, k) for k in self.dtype_kinds)
            raise InputError("observation", self.name, f"expected dtype {wanted}, got {value.dtype}")
        shape = value.shape[1:] if value.ndim == len(self.shape) + 1 and value.shape[0] == 1 else value.shape
        if len(shape) != len(self.shape) or any(w is not None and w != n for w, n in zip(self.shape, shape)):
            wanted = "(" + ", ".join("*" if w is None else str(w) for w in self.shape) + ")"
            raise InputError("observation", self.name, f"expected shape {wanted}, got {value.shape}")
        if self.finite and value.dtype.kind == "f" and not np.isfinite(value).all():
            raise InputError("observation", self.name, "contains NaN or infinite values")


@dataclass(frozen=True)
class ObservationSpec:
    fields: tuple[FieldSpec, ...]
    allow_extra_keys: bool = True  # openpi clients often send extra entries; the policy ignores them

    def validate(self, observation: Any) -> dict:
        """Return ``observation`` if it matches, else raise InputError naming the field."""
        if not isinstance(observation, dict):
            raise InputError("observation", None, f"expected a map of named entries, got {type(observation).__name__}")
        for field in self.fields:
            if field.name not in observation:
                if field.required:
                    raise InputError("observation", field.name, f"missing (required keys: {', '.join(self.required_keys)})")
                continue
            field.check(observation[field.name])
        if not self.allow_extra_keys:
            extra = sorted(set(observation) - {f.name for f in self.fields})
            if extra:
                raise InputError("observation", extra[0], f"unexpected key (known: {', '.join(f.name for f in self.fields)})")
        return observation

    @property
    def required_keys(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)

    def describe(self) -> dict[str, Any]:
        """A msgpack-able summary for the server metadata."""
        described: dict[str, Any] = {}
        for f in self.fields:
            entry: dict[str, Any] = {"kind": f.kind, "required": f.required}
            if f.kind == "array":
                entry.update(dtype_kinds=f.dtype_kinds, shape=[-1 if n is None else n for n in f.shape])
            described[f.name] = entry
        return described


def dexego_observation_spec(action_dim: int | None = None) -> ObservationSpec:
    """The observation of a dexego Policy (a training sample without "actions", see the team contract).

    Required are the entries ``dexego.models`` reads; the state may hold NaN for a hand marked invalid
    (the policy zeroes those), so only the policy checks its values.
    """
    return ObservationSpec(
        fields=(
            FieldSpec("images", dtype_kinds="u", shape=(None, 3, None, None)),
            FieldSpec("instruction", kind="text"),
            FieldSpec("state", dtype_kinds="f", shape=(action_dim,), finite=False),
            FieldSpec("state_valid", dtype_kinds="b", shape=(2,)),
            FieldSpec("fov", dtype_kinds="f", shape=(2,)),
            FieldSpec("image_mask", dtype_kinds="b", shape=(None,), required=False),
            FieldSpec("intrinsics", dtype_kinds="f", shape=(4,), required=False),
            FieldSpec("embodiment", kind="text", required=False),
        )
    )
