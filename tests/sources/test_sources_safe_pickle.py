"""The restricted unpickler rebuilds torch tensors without reading outside their storage.

A pickled tensor names its storage, offset, size and stride; a crafted file can name any. The
reference below reads a view element by element; the fuzz tests check that the loader returns
exactly that, or refuses with a named error, for random storages, offsets, sizes and strides.
"""

import collections
import itertools
import os
import pickle
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dexego.errors import InputError
from dexego.sources.safe_pickle import OUTPUT_FLOOR_BYTES, safe_load_pickle

FUZZ_EXAMPLES = 400


class _CraftedTensor:
    """Pickles as torch's own tensor reduction, with any offset, size and stride."""

    def __init__(self, storage: np.ndarray, offset, size, stride):
        self.storage = torch.from_numpy(np.ascontiguousarray(storage))._typed_storage()
        self.args = (offset, tuple(size), tuple(stride))

    def __reduce__(self):
        return torch._utils._rebuild_tensor_v2, (self.storage, *self.args, False, collections.OrderedDict())


def crafted_pickle(storage: np.ndarray, offset, size, stride) -> bytes:
    return pickle.dumps({"x": _CraftedTensor(storage, offset, size, stride)}, protocol=2)


def reference_view(storage: np.ndarray, offset: int, size: tuple, stride: tuple) -> np.ndarray | None:
    """The view read element by element; None where the view is not a valid tensor of the storage."""
    if offset < 0 or any(s < 0 for s in size) or any(s < 0 for s in stride):
        return None
    out = np.zeros(size, dtype=storage.dtype)
    for index in itertools.product(*(range(s) for s in size)):
        element = offset + sum(i * s for i, s in zip(index, stride))
        if not 0 <= element < storage.size:
            return None
        out[index] = storage[element]
    return out


# Named after what they did before the loader checked views (the reports of the security pass).
CRAFTED = {
    "large_negative_stride": (3, (4,), (-(10**12),), "negative"),  # read far outside the storage: SIGSEGV
    "small_negative_stride": (0, (64,), (-1,), "negative"),  # copied process heap into the tensor
    "stride0_size_bomb": (0, (1 << 20, 1 << 20), (0, 0), "exceeds"),  # asked for 4 TiB
    "past_the_end": (2, (4,), (2,), "addresses element"),
    "offset_past_storage": (9, (1,), (1,), "offset 9"),
    "negative_offset": (-1, (1,), (1,), "negative"),
}


def write_crafted(directory, name: str):
    offset, size, stride, _ = CRAFTED[name]
    path = directory / f"{name}.pkl"
    path.write_bytes(crafted_pickle(np.arange(8, dtype=np.float32), offset, size, stride))
    return path


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_crafted_tensor_views_are_refused_with_a_named_error(tmp_path, name):
    path = write_crafted(tmp_path, name)
    with pytest.raises(InputError, match=CRAFTED[name][3]) as info:
        safe_load_pickle(path.read_bytes(), path)
    assert str(path) in str(info.value)


def test_a_stride0_tensor_within_the_budget_is_read():
    data = crafted_pickle(np.arange(3, dtype=np.int64), 1, (1000, 2), (0, 1))
    got = safe_load_pickle(data)["x"]
    assert got.shape == (1000, 2) and (got == [1, 2]).all()
    too_big = OUTPUT_FLOOR_BYTES // 8 + 1  # int64 elements just over the floor of a small file
    with pytest.raises(InputError, match="exceeds"):
        safe_load_pickle(crafted_pickle(np.arange(3, dtype=np.int64), 0, (too_big,), (0,)))


def test_many_references_to_one_storage_share_the_budget():
    storage = torch.zeros(1, dtype=torch.float32)._typed_storage()
    size = OUTPUT_FLOOR_BYTES // 4 // 8  # each view is an eighth of the budget; sixteen of them exceed it
    views = [_CraftedTensor(np.zeros(1, np.float32), 0, (size,), (0,)) for _ in range(16)]
    for v in views:
        v.storage = storage  # one storage, pickled once and referenced through the memo
    data = pickle.dumps(views, protocol=2)
    assert len(data) < 4096
    with pytest.raises(InputError, match="exceeds"):
        safe_load_pickle(data)


@pytest.mark.parametrize(
    "bad",
    [
        (1.5, (2,), (1,)),
        (0, (2.0,), (1,)),
        (0, (2,), (True,)),
        (0, (2, 2), (1,)),
        (0, "ab", (1,)),
        (0, (2,) * 40, (0,) * 40),
    ],
)
def test_malformed_view_arguments_are_refused(bad):
    with pytest.raises(InputError, match="tensor"):
        safe_load_pickle(crafted_pickle(np.arange(8, dtype=np.float32), *bad))


def test_storage_must_be_a_flat_numeric_array():
    class Fake:
        def __reduce__(self):
            return torch._utils._rebuild_tensor_v2, (np.zeros((2, 2), np.float32), 0, (2,), (1,), False, None)

    with pytest.raises(InputError, match="1-D"):
        safe_load_pickle(pickle.dumps(Fake(), protocol=2))


_dims = st.integers(0, 4)


@st.composite
def views(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64, np.int64, np.uint8, np.int16, np.bool_]))
    storage = (np.arange(draw(st.integers(1, 48))) * 7 % 11).astype(dtype)
    ndim = draw(_dims)
    size = tuple(draw(st.lists(st.integers(0, 5), min_size=ndim, max_size=ndim)))
    stride = tuple(
        draw(st.lists(st.one_of(st.integers(-6, 12), st.integers(-(2**40), 2**40)), min_size=ndim, max_size=ndim))
    )
    offset = draw(st.one_of(st.integers(-3, 52), st.integers(-(2**40), 2**40)))
    return storage, offset, size, stride


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(views())
def test_fuzz_rebuild_matches_element_by_element_reference(view):
    storage, offset, size, stride = view
    expected = reference_view(storage, offset, size, stride)
    data = crafted_pickle(storage, offset, size, stride)
    if expected is None:
        with pytest.raises(InputError, match="tensor"):
            safe_load_pickle(data)
    else:
        got = safe_load_pickle(data)["x"]
        assert got.dtype == storage.dtype and got.shape == size
        np.testing.assert_array_equal(got, expected)


@settings(max_examples=FUZZ_EXAMPLES // 2, deadline=None)
@given(st.integers(1, 40), st.integers(0, 45), st.lists(st.tuples(st.integers(0, 5), st.integers(0, 9)), max_size=4))
def test_fuzz_views_torch_builds_are_read_as_torch_reads_them(n, offset, dims):
    """Against torch itself: a view torch accepts pickles (storage, offset, stride kept) and reads back equal."""
    size, stride = tuple(d[0] for d in dims), tuple(d[1] for d in dims)
    base = torch.arange(n, dtype=torch.float32) * 3
    try:
        tensor = base.as_strided(size, stride, offset)
    except RuntimeError:  # torch refuses the view: so must the loader
        assert reference_view(base.numpy(), offset, size, stride) is None
        return
    got = safe_load_pickle(pickle.dumps({"x": tensor}))["x"]
    np.testing.assert_array_equal(got, tensor.numpy())
    np.testing.assert_array_equal(got, reference_view(base.numpy(), offset, size, stride))


def test_crafted_files_through_convert_taco_exit_2_with_the_files_named(tmp_path, synthetic_mano_dir):
    """The command a user runs on a crafted TACO download: no signal, exit 2, each file named with its problem."""
    from test_sources_taco import SEQ, TRIPLET, write_taco

    root = tmp_path / "in"
    write_taco(root, synthetic_mano_dir, n=2)
    names = ("large_negative_stride", "small_negative_stride", "stride0_size_bomb")
    targets = {}
    for name in names:  # one sequence per crafted file, so that one run meets all three
        for top in ("Hand_Poses", "Egocentric_Camera_Parameters", "Egocentric_RGB_Videos"):
            shutil.copytree(root / top / TRIPLET / SEQ, root / top / TRIPLET / name)
        targets[name] = root / "Hand_Poses" / TRIPLET / name / "left_hand.pkl"
        targets[name].write_bytes(write_crafted(tmp_path, name).read_bytes())
    for top in ("Hand_Poses", "Egocentric_Camera_Parameters", "Egocentric_RGB_Videos"):
        shutil.rmtree(root / top / TRIPLET / SEQ)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(p) for p in sys.path if p])}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "dexego",
            "convert",
            "taco",
            str(root),
            str(tmp_path / "out"),
            "--mano-dir",
            str(synthetic_mano_dir),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode >= 0, f"killed by {signal.Signals(-proc.returncode).name}"
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("dexego: error:")]
    assert len(errors) == 1 and "no sequence converted" in errors[0], proc.stderr[-2000:]
    for name in names:  # the report names every file and its problem
        line = next(line for line in proc.stdout.splitlines() if f"skipped {TRIPLET}/{name}:" in line)
        assert str(targets[name]) in line and CRAFTED[name][3] in line, line
