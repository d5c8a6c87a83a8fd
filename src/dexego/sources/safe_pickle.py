"""Read dataset pickles (numpy, and torch tensors pickled by TACO) without running code from them.

Extends ``dexego.hands.mano``'s restricted unpickler (numpy arrays only) with a
small reviewed allowlist for torch tensors. A plainly pickled tensor reduces to
``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`` whose
storage is ``torch.storage._load_from_bytes(<bytes>)``, the bytes being torch's
legacy serialisation: a magic-number pickle, a protocol pickle, a sys-info
pickle, a pickle whose persistent ids describe the storages
(``('storage', torch.FloatStorage, key, location, numel)``), a pickle listing the
keys, then per key an int64 element count and the raw little-endian data. Every
global is answered by a function here that only builds numpy arrays: torch is
never asked to unpickle anything. Tensors come back as numpy arrays.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import zipfile
from typing import Any

import numpy as np

from dexego.errors import InputError
from dexego.hands import mano as _mano

_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": None, "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_, "UntypedStorage": np.uint8,
}  # fmt: skip


class _StorageType:
    def __init__(self, name: str):
        if _STORAGE_DTYPES.get(name) is None:
            raise pickle.UnpicklingError(f"unsupported torch storage type {name}")
        self.dtype = np.dtype(_STORAGE_DTYPES[name]).newbyteorder("<")


def _rebuild_tensor(storage: np.ndarray, offset: int, size: tuple, stride: tuple, *_: Any) -> np.ndarray:
    if not isinstance(storage, np.ndarray):
        raise pickle.UnpicklingError("tensor storage is not an array")
    itemsize = storage.dtype.itemsize
    needed = offset + sum((s - 1) * st for s, st in zip(size, stride)) + 1 if all(size) else offset
    if needed > storage.size:
        raise pickle.UnpicklingError("tensor view exceeds its storage")
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=tuple(size), strides=tuple(s * itemsize for s in stride))
    return np.array(view)


def _rebuild_parameter(data: np.ndarray, *_: Any) -> np.ndarray:
    return data


class _TorchUnpickler(_mano._RestrictedUnpickler):
    """The MANO unpickler plus torch tensor reconstruction (and OrderedDict, used for tensor hooks)."""

    _EXTRA = {
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("collections", "OrderedDict"): collections.OrderedDict,
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("torch.storage", "_load_from_bytes"):
            return _legacy_storage
        if (module, name) in self._EXTRA:
            return self._EXTRA[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if (module, name) in (("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer")):
            return _frombuffer
        try:
            return super().find_class(module, name)
        except pickle.UnpicklingError:
            raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed in a dataset pickle") from None


def _frombuffer(buffer: bytes, dtype: np.dtype, shape: tuple, order: str) -> np.ndarray:
    return np.frombuffer(buffer, dtype=dtype).reshape(shape, order=order).copy()


class _StorageHeaderUnpickler(_TorchUnpickler):
    """Reads one pickle of the legacy format; persistent ids name storages, recorded in ``self.storages``."""

    def __init__(self, stream: io.BytesIO, storages: dict):
        super().__init__(stream, encoding="latin1")
        self.storages = storages

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r:.80}")
        key = str(pid[2])
        self.storages.setdefault(key, pid[1].dtype)
        return _PendingStorage(key)


class _PendingStorage:
    def __init__(self, key: str):
        self.key = key


def _legacy_storage(data: bytes) -> np.ndarray:
    """The array inside ``torch.storage._load_from_bytes``'s bytes (legacy torch.save of one storage)."""
    if data[:2] == b"PK":
        return _zip_storage(data)
    stream = io.BytesIO(data)
    storages: dict[str, np.dtype] = {}
    for _ in range(3):  # magic number, protocol version, sys info
        _TorchUnpickler(stream, encoding="latin1").load()
    result = _StorageHeaderUnpickler(stream, storages).load()
    keys = _TorchUnpickler(stream, encoding="latin1").load()
    arrays = {}
    for key in keys:
        count = np.frombuffer(_read(stream, 8), dtype="<i8")[0]
        dtype = storages[str(key)]
        arrays[str(key)] = np.frombuffer(_read(stream, int(count) * dtype.itemsize), dtype=dtype).copy()
    if not isinstance(result, _PendingStorage):
        raise pickle.UnpicklingError("storage bytes do not hold a storage")
    return arrays[result.key]


def _zip_storage(data: bytes) -> np.ndarray:
    result, arrays = _load_torch_zip(data)
    return arrays[result.key] if isinstance(result, _PendingStorage) else result


def _load_torch_zip(data: bytes) -> tuple[Any, dict]:
    """A torch.save zip archive: ``*/data.pkl`` plus one raw file per storage under ``*/data/``."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        pkl = next((n for n in names if n.endswith("/data.pkl") or n == "data.pkl"), None)
        if pkl is None:
            raise pickle.UnpicklingError("torch archive without data.pkl")
        prefix = pkl[: -len("data.pkl")]
        storages: dict[str, np.dtype] = {}
        result = _StorageHeaderUnpickler(io.BytesIO(archive.read(pkl)), storages).load()
        arrays = {key: np.frombuffer(archive.read(f"{prefix}data/{key}"), dtype=dtype).copy() for key, dtype in storages.items()}
    return _resolve(result, arrays), arrays


def _resolve(value: Any, arrays: dict) -> Any:
    if isinstance(value, _PendingStorage):
        return arrays[value.key]
    return value


def _read(stream: io.BytesIO, n: int) -> bytes:
    chunk = stream.read(n)
    if len(chunk) != n:
        raise EOFError("storage data is truncated")
    return chunk


def safe_load_pickle(data: bytes, path: str | os.PathLike = "<bytes>") -> Any:
    """Unpickle numpy data and torch tensors (as numpy) without executing code; InputError otherwise."""
    try:
        if data[:2] == b"PK":
            raise pickle.UnpicklingError("torch.save zip archives are read with safe_load_torch_archive")
        return _TorchUnpickler(io.BytesIO(data), encoding="latin1").load()
    except pickle.UnpicklingError as exc:
        raise InputError(path, None, f"unsafe or unreadable pickle: {exc}") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, zipfile.BadZipFile) as exc:
        raise InputError(path, None, f"corrupt or truncated pickle: {exc}") from None


def safe_load_npy_object(path: str | os.PathLike) -> Any:
    """The object stored in a pickled ``.npy`` (``np.save`` of a dict), read without ``allow_pickle``."""
    raw = open(path, "rb").read()
    stream = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(stream)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(stream)
    except ValueError as exc:
        raise InputError(path, None, f"not a .npy file: {exc}") from None
    if dtype != np.dtype(object):
        array = np.load(path, allow_pickle=False)
        return array
    value = safe_load_pickle(raw[stream.tell():], path)
    if isinstance(value, np.ndarray) and value.dtype == object and value.shape == ():
        return value.item()
    return value
