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

A tensor is a strided view of its storage: before any view is taken, its storage
type and dtype, offset, size and stride are checked (integers, non-negative
strides, every addressed element inside the storage) and what the file's tensors
decode to is bounded relative to the file's size (a stride-0 tensor can repeat
one element without end), see :func:`check_tensor_view`.
"""

from __future__ import annotations

import collections
import io
import math
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
_TENSOR_DTYPES = frozenset(np.dtype(d).newbyteorder("<") for d in _STORAGE_DTYPES.values() if d is not None)
MAX_TENSOR_DIMS = 32
# A tensor may repeat storage elements (stride 0, overlapping views), so what the tensors of one file
# decode to is bounded relative to the file: at most this many times its size, or this floor.
OUTPUT_RATIO = 64
OUTPUT_FLOOR_BYTES = 64 << 20


class _StorageType:
    def __init__(self, name: str):
        if _STORAGE_DTYPES.get(name) is None:
            raise pickle.UnpicklingError(f"unsupported torch storage type {name}")
        self.dtype = np.dtype(_STORAGE_DTYPES[name]).newbyteorder("<")


def _index(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise pickle.UnpicklingError(f"tensor {what} is not an integer: {type(value).__name__}")
    return int(value)


def _index_tuple(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, tuple | list):
        raise pickle.UnpicklingError(f"tensor {what} is not a tuple: {type(value).__name__}")
    if len(value) > MAX_TENSOR_DIMS:
        raise pickle.UnpicklingError(f"tensor {what} has {len(value)} dimensions (at most {MAX_TENSOR_DIMS})")
    out = tuple(_index(v, what) for v in value)
    if any(v < 0 for v in out):
        raise pickle.UnpicklingError(f"tensor {what} {out} has a negative entry")
    return out


def check_tensor_view(storage: Any, offset: Any, size: Any, stride: Any, budget_bytes: int) -> tuple[int, tuple, tuple]:
    """Validate a strided view of a 1-D storage array; (offset, size, stride) as Python ints, or UnpicklingError.

    Every element the view addresses, ``offset + sum(i_k * stride_k)`` for ``0 <= i_k < size_k``, must lie in
    ``[0, storage.size)`` (an empty view addresses none, as torch has it); offset and strides are non-negative (torch writes none other); the view's bytes must fit
    ``budget_bytes``. Strides of dimensions of size 1 address nothing and are returned as 0.
    """
    if not isinstance(storage, np.ndarray) or storage.ndim != 1 or not storage.flags.c_contiguous:
        raise pickle.UnpicklingError("tensor storage is not a 1-D array")
    if storage.dtype not in _TENSOR_DTYPES:
        raise pickle.UnpicklingError(f"tensor storage has unsupported dtype {storage.dtype}")
    offset = _index(offset, "storage offset")
    size, stride = _index_tuple(size, "size"), _index_tuple(stride, "stride")
    if len(size) != len(stride):
        raise pickle.UnpicklingError(f"tensor size {size} and stride {stride} differ in length")
    if offset < 0:
        raise pickle.UnpicklingError(f"tensor storage offset {offset} is negative")
    numel = math.prod(size)
    if numel * storage.dtype.itemsize > budget_bytes:
        raise pickle.UnpicklingError(
            f"tensor of size {size} ({numel * storage.dtype.itemsize} bytes) exceeds the {budget_bytes} bytes "
            "this file may decode to"
        )
    stride = tuple(st if s > 1 else 0 for s, st in zip(size, stride))
    if numel:
        last = offset + sum((s - 1) * st for s, st in zip(size, stride))
        if last >= storage.size:
            raise pickle.UnpicklingError(
                f"tensor view (offset {offset}, size {size}, stride {stride}) addresses element {last} "
                f"of a storage of {storage.size}"
            )
    return offset, size, stride


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, budget: list[int]) -> np.ndarray:
    """The tensor as a numpy array (a copy); ``budget`` holds the bytes this file may still decode to."""
    offset, size, stride = check_tensor_view(storage, offset, size, stride, budget[0])
    budget[0] -= math.prod(size) * storage.dtype.itemsize
    if not math.prod(size):
        return np.zeros(size, dtype=storage.dtype)
    # every addressed element was checked to lie inside the storage, so this view reads nothing else
    itemsize = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=size, strides=tuple(st * itemsize for st in stride))
    return np.array(view)


def output_budget(file_bytes: int) -> int:
    """The bytes the tensors of a file of ``file_bytes`` may decode to."""
    return max(OUTPUT_FLOOR_BYTES, OUTPUT_RATIO * file_bytes)


def _rebuild_parameter(data: np.ndarray, *_: Any) -> np.ndarray:
    return data


class _TorchUnpickler(_mano._RestrictedUnpickler):
    """The MANO unpickler plus torch tensor reconstruction (and OrderedDict, used for tensor hooks).

    ``budget`` is a one-element list shared by every unpickler reading the same file: the bytes its
    tensors may still decode to.
    """

    _EXTRA = {
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("collections", "OrderedDict"): collections.OrderedDict,
    }
    _REBUILD = (("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor"))

    def __init__(self, stream: io.BytesIO, budget: list[int]):
        super().__init__(stream, encoding="latin1")
        self.budget = budget

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("torch.storage", "_load_from_bytes"):
            return lambda data: _legacy_storage(data, self.budget)
        if (module, name) in self._REBUILD:
            return lambda storage, offset, size, stride, *_: _rebuild_tensor(storage, offset, size, stride, self.budget)
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

    def __init__(self, stream: io.BytesIO, storages: dict, budget: list[int]):
        super().__init__(stream, budget)
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


def _legacy_storage(data: bytes, budget: list[int]) -> np.ndarray:
    """The array inside ``torch.storage._load_from_bytes``'s bytes (legacy torch.save of one storage)."""
    if not isinstance(data, bytes):
        raise pickle.UnpicklingError("storage data is not bytes")
    if data[:2] == b"PK":
        return _zip_storage(data, budget)
    stream = io.BytesIO(data)
    storages: dict[str, np.dtype] = {}
    for _ in range(3):  # magic number, protocol version, sys info
        _TorchUnpickler(stream, budget).load()
    result = _StorageHeaderUnpickler(stream, storages, budget).load()
    keys = _TorchUnpickler(stream, budget).load()
    arrays = {}
    for key in keys:
        count = int(np.frombuffer(_read(stream, 8), dtype="<i8")[0])
        dtype = storages[str(key)]
        arrays[str(key)] = np.frombuffer(_read(stream, count * dtype.itemsize), dtype=dtype).copy()
    if not isinstance(result, _PendingStorage):
        raise pickle.UnpicklingError("storage bytes do not hold a storage")
    return arrays[result.key]


def _zip_storage(data: bytes, budget: list[int]) -> np.ndarray:
    result, arrays = _load_torch_zip(data, budget)
    return arrays[result.key] if isinstance(result, _PendingStorage) else result


def _load_torch_zip(data: bytes, budget: list[int]) -> tuple[Any, dict]:
    """A torch.save zip archive: ``*/data.pkl`` plus one raw file per storage under ``*/data/``."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        pkl = next((n for n in names if n.endswith("/data.pkl") or n == "data.pkl"), None)
        if pkl is None:
            raise pickle.UnpicklingError("torch archive without data.pkl")
        prefix = pkl[: -len("data.pkl")]

        def member(name: str) -> bytes:
            # torch stores members uncompressed: none may claim more bytes than the archive may decode to
            if archive.getinfo(name).file_size > output_budget(len(data)):
                raise pickle.UnpicklingError(f"archive member {name} claims {archive.getinfo(name).file_size} bytes")
            return archive.read(name)

        storages: dict[str, np.dtype] = {}
        result = _StorageHeaderUnpickler(io.BytesIO(member(pkl)), storages, budget).load()
        arrays = {
            key: np.frombuffer(member(f"{prefix}data/{key}"), dtype=dtype).copy() for key, dtype in storages.items()
        }
    return _resolve(result, arrays), arrays


def _resolve(value: Any, arrays: dict) -> Any:
    if isinstance(value, _PendingStorage):
        return arrays[value.key]
    return value


def _read(stream: io.BytesIO, n: int) -> bytes:
    if n < 0:
        raise EOFError(f"negative storage length {n}")
    chunk = stream.read(n)
    if len(chunk) != n:
        raise EOFError("storage data is truncated")
    return chunk


def safe_load_pickle(data: bytes, path: str | os.PathLike = "<bytes>") -> Any:
    """Unpickle numpy data and torch tensors (as numpy) without executing code; InputError otherwise."""
    try:
        if data[:2] == b"PK":
            raise pickle.UnpicklingError("a torch.save zip archive, not a plain pickle")
        return _TorchUnpickler(io.BytesIO(data), [output_budget(len(data))]).load()
    except pickle.UnpicklingError as exc:
        raise InputError(path, None, f"unsafe or unreadable pickle: {exc}") from None
    except (
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        OverflowError,
        zipfile.BadZipFile,
    ) as exc:
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
    value = safe_load_pickle(raw[stream.tell() :], path)
    if isinstance(value, np.ndarray) and value.dtype == object and value.shape == ():
        return value.item()
    return value
