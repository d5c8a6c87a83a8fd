import pickle

import msgpack
import numpy as np
import openpi_client.msgpack_numpy as openpi_msgpack_numpy  # a dev dependency (see the Makefile)
import pytest
from hypothesis import given, settings
from hypothesis.extra import numpy as hnp

from dexego.errors import InputError
from dexego.serve import codec


def _assert_same(expected, actual):
    if isinstance(expected, np.ndarray):
        assert isinstance(actual, np.ndarray)
        assert actual.dtype == expected.dtype and actual.shape == expected.shape
        assert np.array_equal(actual, expected, equal_nan=expected.dtype.kind == "f")
    elif isinstance(expected, dict):
        assert set(actual) == set(expected)
        for key in expected:
            _assert_same(expected[key], actual[key])
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected)
        for e, a in zip(expected, actual):
            _assert_same(e, a)
    else:
        assert type(actual) is type(expected) and actual == expected


@pytest.mark.parametrize(
    "value",
    [
        1, 1.5, "hello", [1, 2, 3], {"key": [1, "a"]},
        np.bool_(True), np.int64(-7), np.float32(0.25),
        np.array(1.0), np.array([1, 2, 3], dtype=np.int32), np.array(["asdf", "qwer"]), np.array([b"ab", b"c"]),
        np.array([True, False]), np.zeros((3, 4, 5), dtype=np.float32), np.array([np.nan, np.inf, -np.inf]),
        np.arange(12, dtype=">i4").reshape(3, 4), np.zeros((0, 48), dtype=np.float32),
        {"images": np.ones((6, 3, 8, 8), np.uint8), "nested": {"state": np.arange(48, dtype=np.float32)}},
    ],
)  # fmt: skip
def test_round_trip_keeps_values_dtype_and_shape(value):
    _assert_same(value, codec.unpackb(codec.packb(value)))


def test_numpy_strings_arrive_as_python_strings():
    # np.str_ is a str subclass: msgpack sends it as a plain string (as openpi does)
    decoded = codec.unpackb(codec.packb({"instruction": np.str_("asdf")}))["instruction"]
    assert type(decoded) is str and decoded == "asdf"


def test_non_contiguous_arrays_travel_in_c_order():
    base = np.arange(24, dtype=np.float64).reshape(4, 6)
    for view in (base.T, base[:, ::2], np.asfortranarray(base)):
        _assert_same(np.ascontiguousarray(view), codec.unpackb(codec.packb(view)))


def test_wire_layout_is_openpi_msgpack_numpy():
    raw = msgpack.unpackb(codec.packb({"a": np.arange(3, dtype=np.float32), "s": np.int16(5)}))
    assert raw["a"] == {
        b"__ndarray__": True,
        b"data": np.arange(3, dtype=np.float32).tobytes(),
        b"dtype": "<f4",
        b"shape": [3],
    }
    assert raw["s"] == {b"__npgeneric__": True, b"data": 5, b"dtype": "<i2"}


_OPENPI_VALUES = [
    {"actions": np.linspace(-1, 1, 30 * 48, dtype=np.float32).reshape(30, 48), "server_timing": {"infer_ms": 1.5}},
    {"images": np.arange(2 * 3 * 4 * 5, dtype=np.uint8).reshape(2, 3, 4, 5), "instruction": "open the drawer",
     "state_valid": np.array([True, False]), "step": np.int64(7), "fov": np.float32(1.2)},
    [np.zeros((0, 4), np.float64), np.array(3.5), np.array([1, -2], ">i4"), np.array(["ab", "c"]), np.array([b"x"])],
]  # fmt: skip


@pytest.mark.parametrize("value", _OPENPI_VALUES)
def test_encoding_is_byte_identical_to_openpi_client(value):
    assert codec.packb(value) == openpi_msgpack_numpy.packb(value)


@pytest.mark.parametrize("value", _OPENPI_VALUES)
def test_openpi_client_and_dexego_decode_each_other(value):
    _assert_same(value, codec.unpackb(openpi_msgpack_numpy.packb(value)))
    _assert_same(value, openpi_msgpack_numpy.unpackb(codec.packb(value)))


def test_text_key_spelling_is_accepted_on_input():
    frame = msgpack.packb({"x": {"__ndarray__": True, "data": b"\x01\x00\x02\x00", "dtype": "<u2", "shape": [2]},
                           "s": {"__npgeneric__": True, "data": 2.5, "dtype": "<f8"}})  # fmt: skip
    decoded = codec.unpackb(frame)
    _assert_same(np.array([1, 2], dtype=np.uint16), decoded["x"])
    _assert_same(np.float64(2.5), decoded["s"])


def test_a_map_mixing_the_two_spellings_is_refused():
    frame = msgpack.packb({"x": {b"__ndarray__": True, "data": b"\x01\x00", "dtype": "<u2", "shape": [1]}})
    with pytest.raises(InputError, match="dtype must be"):
        codec.unpackb(frame)


def test_decoded_arrays_are_writable_copies():
    decoded = codec.unpackb(codec.packb(np.zeros(4, np.float32)))
    decoded[0] = 1.0
    assert decoded.flags.writeable and decoded[0] == 1.0


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        dtype=hnp.scalar_dtypes().filter(lambda d: d.kind in "biuf"),
        shape=hnp.array_shapes(min_dims=0, max_dims=4, max_side=5),
    )
)
def test_round_trip_any_plain_array(array):
    _assert_same(array, codec.unpackb(codec.packb({"x": array}))["x"])
    assert codec.packb({"x": array}) == openpi_msgpack_numpy.packb({"x": array})
    _assert_same(array, codec.unpackb(openpi_msgpack_numpy.packb({"x": array}))["x"])


@pytest.mark.parametrize("value", [np.array([1 + 2j]), np.array([object()], dtype=object), np.zeros(2, dtype="V8"),
                                   np.zeros(2, dtype=[("a", "<f4")]), np.complex64(1j)])  # fmt: skip
def test_encoding_refuses_object_void_complex(value):
    with pytest.raises(InputError, match="not allowed"):
        codec.packb({"x": value})


def test_encoding_refuses_unknown_python_objects():
    with pytest.raises(InputError, match="cannot encode"):
        codec.packb({"x": object()})


def _frame(array_map) -> bytes:
    return msgpack.packb({"x": array_map}, use_bin_type=True)


def _bytes_keys(array_map: dict) -> dict:
    return {key.encode(): value for key, value in array_map.items()}


@pytest.mark.parametrize(
    "array_map, problem",
    [
        ({"__ndarray__": True, "data": b"\x00" * 8, "dtype": "|O", "shape": [1]}, "not allowed"),
        ({"__ndarray__": True, "data": b"\x00" * 8, "dtype": "|V8", "shape": [1]}, "not allowed"),
        ({"__ndarray__": True, "data": b"\x00" * 16, "dtype": "<c16", "shape": [1]}, "not allowed"),
        ({"__ndarray__": True, "data": b"\x00" * 8, "dtype": "<M8[s]", "shape": [1]}, "not allowed"),
        ({"__ndarray__": True, "data": b"\x00" * 8, "dtype": "[('a','<f8')]", "shape": [1]}, "dtype"),
        ({"__ndarray__": True, "data": b"\x00" * 8, "dtype": "(2,)<f4", "shape": [1]}, "not allowed"),
        ({"__ndarray__": True, "data": b"\x00" * 8, "dtype": "nonsense", "shape": [1]}, "unknown dtype"),
        ({"__ndarray__": True, "data": b"\x00" * 8, "dtype": 5, "shape": [1]}, "dtype must be"),
        ({"__ndarray__": True, "data": b"\x00" * 4, "dtype": "<f4", "shape": [10**12]}, "do not match"),
        ({"__ndarray__": True, "data": b"\x00" * 4, "dtype": "<f4", "shape": [-1]}, "shape"),
        ({"__ndarray__": True, "data": b"\x00" * 4, "dtype": "<f4", "shape": "4"}, "shape"),
        ({"__ndarray__": True, "data": b"\x00" * 4, "dtype": "<f4", "shape": [1] * 40}, "shape"),
        ({"__ndarray__": True, "data": "text", "dtype": "<f4", "shape": [1]}, "data must be bytes"),
        ({"__ndarray__": True, "dtype": "<f4", "shape": [1]}, "data must be bytes"),
        ({"__npgeneric__": True, "data": 1, "dtype": "|O"}, "not allowed"),
        ({"__npgeneric__": True, "data": [1, 2], "dtype": "<f4"}, "plain value"),
        ({"__npgeneric__": True, "data": "x", "dtype": "<i4"}, "not a valid"),
    ],
)
@pytest.mark.parametrize("spelling", [_bytes_keys, dict], ids=["openpi bytes keys", "text keys"])
def test_decoding_refuses_bad_arrays_with_a_clear_error(array_map, problem, spelling):
    with pytest.raises(InputError, match=problem):
        codec.unpackb(_frame(spelling(array_map)))


@pytest.mark.parametrize(
    "data, problem",
    [
        (codec.packb({"images": np.zeros((6, 3, 8, 8), np.uint8)})[:-7], "not valid msgpack"),  # truncated
        (b"\xc1 definitely not msgpack", "not valid msgpack"),
        (b"", "not valid msgpack"),
        (b"\x91" * 100_000 + b"\x01", "not valid msgpack"),  # nesting bomb
        (msgpack.packb({1: 2}), "not valid msgpack"),  # non-string map key
        (msgpack.packb(msgpack.ExtType(5, b"xx")), "extension type"),
        (msgpack.packb(1) + b"\x01", "trailing bytes"),
        ("a text string", "binary"),
    ],
)
def test_decoding_refuses_malformed_frames(data, problem):
    with pytest.raises(InputError, match=problem):
        codec.unpackb(data)


class _WritesAFile:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def test_a_pickle_inside_an_object_array_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_WritesAFile(marker))
    pickle.loads(payload).close()  # the payload really does write the file when unpickled ...
    assert marker.exists()
    marker.unlink()
    for dtype in ("|O", "O", "<O8"):  # ... but the codec refuses it without unpickling, in either key spelling
        array_map = {"__ndarray__": True, "data": payload, "dtype": dtype, "shape": [1]}
        for spelling in (array_map, _bytes_keys(array_map)):
            with pytest.raises(InputError, match="not allowed"):
                codec.unpackb(_frame(spelling))
    with pytest.raises(InputError):
        codec.unpackb(msgpack.packb(msgpack.ExtType(1, payload)))
    assert not marker.exists()
