"""msgpack with numpy arrays, byte for byte as openpi's ``openpi_client.msgpack_numpy`` writes it.

An array travels as the map ``{b"__ndarray__": True, b"data": <raw bytes, C
order>, b"dtype": dtype.str, b"shape": [...]}`` and a numpy scalar as
``{b"__npgeneric__": True, b"data": <python value>, b"dtype": dtype.str}``:
the keys are msgpack *bin* strings, as openpi writes them. On input the same
maps with text keys (``"__ndarray__"``, ...) are accepted too, as some
msgpack-numpy writers use them; output always uses openpi's bytes keys, which
is what openpi's decoder looks for. Object, void (structured) and complex
dtypes are refused both ways.

Decoding never executes code: it only reinterprets bytes with a dtype that
is checked against a short list of plain numeric/text kinds, after checking
that the byte count matches the shape (so a forged shape cannot make it
allocate or read out of bounds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np

from dexego.errors import InputError

# b bool, i/u integers, f floats, U unicode, S bytes. Everything else (O object, V void/structured,
# c complex, M/m datetimes) is refused.
ALLOWED_DTYPE_KINDS = frozenset("biufUS")
_MAX_NDIM = 32
_MAX_DTYPE_STR = 16
_SCALAR_TYPES = (bool, int, float, str, bytes)


@dataclass(frozen=True)
class _Keys:
    ndarray: str | bytes
    npgeneric: str | bytes
    data: str | bytes
    dtype: str | bytes
    shape: str | bytes


_BYTES_KEYS = _Keys(b"__ndarray__", b"__npgeneric__", b"data", b"dtype", b"shape")  # openpi's, written
_TEXT_KEYS = _Keys("__ndarray__", "__npgeneric__", "data", "dtype", "shape")  # accepted on input


def _check_dtype(dtype: np.dtype, where: str) -> None:
    if dtype.kind not in ALLOWED_DTYPE_KINDS or dtype.fields is not None or dtype.shape != () or dtype.hasobject:
        raise InputError(None, where, f"dtype {dtype.str!r} is not allowed (only bool, integer, float, str and bytes)")


def _encode_default(obj: Any) -> Any:
    if hasattr(obj, "detach") and hasattr(obj, "numpy"):  # a torch tensor: send its values
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.ndarray):
        _check_dtype(obj.dtype, "array")
        return {b"__ndarray__": True, b"data": obj.tobytes(), b"dtype": obj.dtype.str, b"shape": list(obj.shape)}
    if isinstance(obj, np.generic):
        _check_dtype(obj.dtype, "scalar")
        return {b"__npgeneric__": True, b"data": obj.item(), b"dtype": obj.dtype.str}
    raise TypeError(f"cannot encode {type(obj).__name__} as msgpack")


def packb(obj: Any) -> bytes:
    """Encode ``obj`` (dicts, lists, str, numbers, numpy arrays and scalars) as msgpack bytes."""
    try:
        return msgpack.packb(obj, default=_encode_default, use_bin_type=True)
    except InputError:
        raise
    except (TypeError, ValueError, OverflowError) as exc:
        raise InputError(None, "message", f"cannot encode: {exc}") from exc


def _parse_dtype(value: Any, where: str) -> np.dtype:
    if not isinstance(value, str) or not 0 < len(value) <= _MAX_DTYPE_STR:
        raise InputError(None, where, f"dtype must be a short string such as '<f4', got {value!r:.40}")
    try:
        dtype = np.dtype(value)
    except (TypeError, ValueError, SyntaxError) as exc:
        raise InputError(None, where, f"unknown dtype {value!r}") from exc
    _check_dtype(dtype, where)
    return dtype


def _decode_ndarray(obj: dict, keys: _Keys) -> np.ndarray:
    dtype = _parse_dtype(obj.get(keys.dtype), "__ndarray__.dtype")
    shape = obj.get(keys.shape)
    if (
        not isinstance(shape, list)
        or len(shape) > _MAX_NDIM
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
    ):
        raise InputError(None, "__ndarray__.shape", f"shape must be a list of at most {_MAX_NDIM} non-negative ints")
    data = obj.get(keys.data)
    if not isinstance(data, bytes):
        raise InputError(None, "__ndarray__.data", f"data must be bytes, got {type(data).__name__}")
    expected = math.prod(shape) * dtype.itemsize
    if len(data) != expected:
        raise InputError(
            None,
            "__ndarray__.data",
            f"{len(data)} bytes do not match shape {tuple(shape)} of {dtype.str} ({expected} bytes)",
        )
    # A writable copy: callers (torch.from_numpy) expect to own the memory.
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def _decode_npgeneric(obj: dict, keys: _Keys) -> np.generic:
    dtype = _parse_dtype(obj.get(keys.dtype), "__npgeneric__.dtype")
    data = obj.get(keys.data)
    if not isinstance(data, _SCALAR_TYPES):
        raise InputError(None, "__npgeneric__.data", f"scalar data must be a plain value, got {type(data).__name__}")
    try:
        return dtype.type(data)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InputError(None, "__npgeneric__.data", f"{data!r:.40} is not a valid {dtype.str}") from exc


def _decode_hook(obj: dict) -> Any:
    for keys in (_BYTES_KEYS, _TEXT_KEYS):  # openpi's spelling first; a map uses one spelling throughout
        if obj.get(keys.ndarray) is True:
            return _decode_ndarray(obj, keys)
        if obj.get(keys.npgeneric) is True:
            return _decode_npgeneric(obj, keys)
    return obj


def _refuse_ext(code: int, data: bytes) -> Any:
    raise InputError(None, "message", f"msgpack extension type {code} is not accepted")


def unpackb(data: bytes) -> Any:
    """Decode msgpack bytes made by :func:`packb`, openpi's ``msgpack_numpy`` or a text-key writer. Bad bytes raise InputError."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InputError(None, "message", f"expected a binary msgpack frame, got {type(data).__name__}")
    try:
        return msgpack.unpackb(data, object_hook=_decode_hook, ext_hook=_refuse_ext, raw=False, strict_map_key=True)
    except InputError:
        raise
    except msgpack.ExtraData as exc:
        raise InputError(None, "message", "trailing bytes after the msgpack object") from exc
    except (ValueError, TypeError, msgpack.UnpackException) as exc:  # truncated, not msgpack, too deep, bad keys
        raise InputError(None, "message", f"not valid msgpack: {type(exc).__name__}: {exc}") from exc
