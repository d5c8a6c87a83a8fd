"""What an observation sent to the server must look like, checked before inference.

A policy gets only observations that passed these checks, so a client that
sends a wrong shape, a missing key or NaN gets one clear error naming the
field instead of a traceback from deep inside the model.
"""

from __future__ import annotations

import math
from collections.abc import Callable
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
    """The observation schema a server checks (keys, dtypes, shapes); ``validate`` names the first bad field."""

    fields: tuple[FieldSpec, ...]
    allow_extra_keys: bool = True  # openpi clients often send extra entries; the policy ignores them
    checks: tuple[Callable[[dict], None], ...] = ()  # value checks across fields, run after the field checks

    def validate(self, observation: Any) -> dict:
        """Return ``observation`` if it matches, else raise InputError naming the field."""
        if not isinstance(observation, dict):
            raise InputError("observation", None, f"expected a map of named entries, got {type(observation).__name__}")
        for field in self.fields:
            if field.name not in observation:
                if field.required:
                    raise InputError(
                        "observation", field.name, f"missing (required keys: {', '.join(self.required_keys)})"
                    )
                continue
            field.check(observation[field.name])
        if not self.allow_extra_keys:
            extra = sorted(set(observation) - {f.name for f in self.fields})
            if extra:
                raise InputError(
                    "observation", extra[0], f"unexpected key (known: {', '.join(f.name for f in self.fields)})"
                )
        for check in self.checks:
            check(observation)
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


MAX_STATE_ABS = 1000.0  # metres and radians: a valid hand's state beyond this is not a hand in front of a camera


def _unbatched(value: np.ndarray, ndim: int) -> np.ndarray:
    return value[0] if value.ndim == ndim + 1 else value


def check_dexego_values(observation: dict) -> None:
    """The value ranges a dexego Policy depends on; shapes and dtypes were checked by the field specs.

    Non-empty frames, uint8 images or float images in [0, 1], fields of view in (0, pi), positive focal lengths,
    an image mask whose last (current) frame is real, and a finite state of sane size for every hand marked valid
    (an invalid hand's entries may hold anything, NaN included: the policy zeroes them)."""
    images = _unbatched(observation["images"], 4)
    frames, _, height, width = images.shape
    if frames == 0 or height == 0 or width == 0:
        raise InputError(
            "observation", "images", f"empty: shape {images.shape} (at least one frame of at least 1 x 1 pixels)"
        )
    if images.dtype != np.uint8:
        if images.dtype.kind != "f":
            raise InputError("observation", "images", f"expected uint8 (0..255) or float in [0, 1], got {images.dtype}")
        low, high = float(images.min()), float(images.max())
        if not (0.0 <= low and high <= 1.0):  # NaN fails too
            raise InputError(
                "observation", "images", f"float images must hold values in [0, 1], got {low:g} to {high:g}"
            )
    fov = _unbatched(observation["fov"], 1)
    if not ((fov > 0) & (fov < math.pi)).all():
        raise InputError(
            "observation", "fov", f"each field of view must be in (0, pi) radians, got {np.round(fov, 4).tolist()}"
        )
    if "intrinsics" in observation:
        fx, fy, _, _ = _unbatched(observation["intrinsics"], 1).tolist()
        if not (fx > 0 and fy > 0):
            raise InputError(
                "observation", "intrinsics", f"focal lengths fx, fy must be positive pixels, got {fx:g}, {fy:g}"
            )
    if "image_mask" in observation:
        mask = _unbatched(observation["image_mask"], 1)
        if mask.shape != (frames,):
            raise InputError(
                "observation", "image_mask", f"expected one entry per frame ({frames}), got shape {mask.shape}"
            )
        if not mask[-1]:
            raise InputError("observation", "image_mask", "the current (last) frame must be a real frame")
    state = _unbatched(observation["state"], 1)
    valid = _unbatched(observation["state_valid"], 1)
    if state.shape[0] % 2:
        raise InputError(
            "observation", "state", f"expected left then right hand (an even size), got {state.shape[0]} values"
        )
    for hand, (name, values) in enumerate(zip(("left", "right"), np.split(state, 2))):
        if not valid[hand]:
            continue
        if not np.isfinite(values).all():
            raise InputError("observation", "state", f"NaN or inf in the {name} hand, which state_valid marks valid")
        if np.abs(values).max(initial=0.0) > MAX_STATE_ABS:
            raise InputError(
                "observation",
                "state",
                f"the {name} hand holds {np.abs(values).max():g}, beyond the sane range "
                f"of +-{MAX_STATE_ABS:g} (metres, radians)",
            )


def dexego_observation_spec(action_dim: int | None = None) -> ObservationSpec:
    """The observation of a dexego Policy (a training sample without "actions", see the team contract).

    Required are the entries ``dexego.models`` reads; :func:`check_dexego_values` checks the value ranges.
    """
    return ObservationSpec(
        fields=(
            FieldSpec("images", dtype_kinds="uf", shape=(None, 3, None, None), finite=False),
            FieldSpec("instruction", kind="text"),
            FieldSpec("state", dtype_kinds="f", shape=(action_dim,), finite=False),
            FieldSpec("state_valid", dtype_kinds="b", shape=(2,)),
            FieldSpec("fov", dtype_kinds="f", shape=(2,)),
            FieldSpec("image_mask", dtype_kinds="b", shape=(None,), required=False),
            FieldSpec("intrinsics", dtype_kinds="f", shape=(4,), required=False),
            FieldSpec("embodiment", kind="text", required=False),
        ),
        checks=(check_dexego_values,),
    )
