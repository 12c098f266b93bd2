"""Serialization: safe formats first, exact round trips, clear refusals."""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
from collections import OrderedDict
from dataclasses import dataclass

import pytest

from lineage_magic.exceptions import (
    PickleRefusedError,
    UnserializableValueError,
    ValueStoreError,
    ValueTooLargeError,
)
from lineage_magic.values import FORMATS, SAFE_FORMATS, Encoded, decode, encode

CAP = 1 << 20


@dataclass
class Point:
    """A user class, picklable because it is defined at module level."""

    x: int
    y: float


class RefusesPickle:
    """An object whose __reduce__ raises, as some wrappers of OS resources do."""

    def __reduce__(self) -> tuple:
        raise RuntimeError("handles cannot be copied")


def roundtrip(obj: object, *, allow_pickle: bool = False) -> tuple[Encoded, object]:
    encoded = encode(obj, max_bytes=CAP)
    return encoded, decode(encoded.format, encoded.data, allow_pickle=allow_pickle)


def same_json(a: object, b: object) -> bool:
    """Equality that also compares types at every level, and NaN with NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_json(a[k], b[k]) for k in a)
    return a == b


@pytest.mark.parametrize(
    "value",
    [
        None, True, False, 0, -7, 2**100, 1.5, -0.0, 1e-310, float("nan"), float("inf"),
        float("-inf"), "", "plain", "ünïcødé ✓ 中文", "lone \ud800 surrogate",
        [], {}, [1, 2.0, "3", None, True], {"b": 1, "a": [1, {"c": None}]},
        {"nested": [[[[]]]], "empty": {}},
    ],
    ids=repr,
)
def test_plain_data_is_json_and_round_trips_exactly(value: object) -> None:
    encoded, back = roundtrip(value)
    assert encoded.format == "json"
    assert same_json(value, back)


def test_encoded_carries_hash_size_and_type() -> None:
    encoded = encode({"a": [1, 2]}, max_bytes=CAP)
    assert encoded.sha256 == hashlib.sha256(encoded.data).hexdigest()
    assert encoded.size == len(encoded.data)
    assert encoded.value_type == "builtins.dict"
    assert encode(Point(1, 2.0), max_bytes=CAP).value_type == f"{__name__}.Point"


@pytest.mark.parametrize(
    "value",
    [
        (1, 2), {1, 2}, frozenset({"a"}), {1: "int key"}, {(1, 2): "tuple key"},
        [1, (2, 3)], {"a": {1, 2}}, OrderedDict(a=1), complex(1, 2), range(3),
        Point(1, 2.5), [Point(0, 0.0)],
    ],
    ids=repr,
)
def test_what_json_would_change_is_pickled_and_keeps_its_type(value: object) -> None:
    encoded, back = roundtrip(value, allow_pickle=True)
    assert encoded.format == "pickle"
    assert type(back) is type(value)
    assert back == value


def test_subclasses_of_json_types_are_not_json() -> None:
    class Flag(int):
        pass

    assert encode(True, max_bytes=CAP).format == "json"
    # A local class cannot be pickled either: nothing fits it.
    with pytest.raises(UnserializableValueError, match="Flag"):
        encode([Flag(1)], max_bytes=CAP)


def test_shared_and_cyclic_containers_keep_their_shape_through_pickle() -> None:
    inner = [1]
    shared = [inner, inner]
    encoded, back = roundtrip(shared, allow_pickle=True)
    assert encoded.format == "pickle"
    assert back[0] is back[1]

    cyclic: list = [1]
    cyclic.append(cyclic)
    encoded, back = roundtrip(cyclic, allow_pickle=True)
    assert encoded.format == "pickle"
    assert back[1] is back


def test_huge_int_beyond_json_digit_limit_falls_back_to_pickle() -> None:
    big = 10 ** (sys.get_int_max_str_digits() + 10)
    encoded, back = roundtrip(big, allow_pickle=True)
    assert encoded.format == "pickle"
    assert back == big


@pytest.mark.parametrize("value", [b"", b"\x00\xffraw", bytearray(b"mutable")], ids=repr)
def test_bytes_and_bytearray_keep_their_type(value: bytes | bytearray) -> None:
    encoded, back = roundtrip(value)
    assert encoded.format == type(value).__name__
    assert encoded.data == bytes(value)
    assert type(back) is type(value)
    assert back == value


def test_numpy_arrays_are_npy_and_round_trip_exactly() -> None:
    np = pytest.importorskip("numpy", reason="numpy is an optional dependency")
    arrays = [
        np.arange(10, dtype=np.int64),
        np.array([0.5, np.nan, -np.inf], dtype=np.float32),
        np.array([True, False, True]),
        np.arange(12, dtype=np.uint16).reshape(3, 4),
        np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        np.arange(20)[::3],
        np.array(["a", "bcd"]),
        np.array([(1, 2.0)], dtype=[("i", "i4"), ("f", "f8")]),
        np.array(["2024-01-01"], dtype="datetime64[D]"),
        np.zeros((0, 3)),
    ]
    for array in arrays:
        encoded, back = roundtrip(array)
        assert encoded.format == "npy"
        assert encoded.value_type == "numpy.ndarray"
        assert type(back) is np.ndarray
        assert back.dtype == array.dtype and back.shape == array.shape
        np.testing.assert_array_equal(back, array)
    fortran = arrays[4]
    assert decode("npy", encode(fortran, max_bytes=CAP).data).flags.f_contiguous


def test_numpy_scalars_keep_their_type() -> None:
    np = pytest.importorskip("numpy", reason="numpy is an optional dependency")
    for scalar in [np.float64(0.25), np.int8(-3), np.bool_(True), np.str_("s")]:
        encoded, back = roundtrip(scalar)
        assert encoded.format == "npy_scalar"
        assert type(back) is type(scalar)
        assert back == scalar


def test_numpy_object_arrays_and_subclasses_need_pickle() -> None:
    np = pytest.importorskip("numpy", reason="numpy is an optional dependency")
    objects = np.array([{"a": 1}, None], dtype=object)
    encoded, back = roundtrip(objects, allow_pickle=True)
    assert encoded.format == "pickle"
    assert back.tolist() == objects.tolist()

    masked = np.ma.masked_array([1, 2, 3], mask=[0, 1, 0])
    encoded, back = roundtrip(masked, allow_pickle=True)
    assert encoded.format == "pickle"
    assert type(back) is np.ma.MaskedArray
    assert back.mask.tolist() == [False, True, False]

    with pytest.raises(UnserializableValueError, match="numpy.ndarray.*allow_pickle=False"):
        encode(objects, max_bytes=CAP, allow_pickle=False)


def test_pandas_dataframes_are_parquet_and_round_trip_exactly() -> None:
    pd = pytest.importorskip("pandas", reason="pandas is an optional dependency")
    pytest.importorskip("pyarrow", reason="Parquet needs pyarrow, an optional dependency")
    frame = pd.DataFrame(
        {"i": [1, 2, 3], "f": [0.5, None, 2.0], "s": ["a", "b", None],
         "c": pd.Categorical(["x", "y", "x"]), "t": pd.date_range("2024-01-01", periods=3)},
        index=pd.Index([10, 20, 30], name="key"),
    )
    encoded, back = roundtrip(frame)
    assert encoded.format == "parquet"
    assert encoded.value_type == "pandas.DataFrame"
    pd.testing.assert_frame_equal(back, frame, check_exact=True)


def test_dataframes_parquet_would_change_are_pickled() -> None:
    pd = pytest.importorskip("pandas", reason="pandas is an optional dependency")
    pytest.importorskip("pyarrow", reason="Parquet needs pyarrow, an optional dependency")
    mixed = pd.DataFrame({"m": [1, "two", 3.0]})
    int_columns = pd.DataFrame({0: [1], 1: [2]})
    for frame in (mixed, int_columns):
        encoded, back = roundtrip(frame, allow_pickle=True)
        assert encoded.format == "pickle"
        pd.testing.assert_frame_equal(back, frame)


def test_optional_libraries_are_imported_only_for_their_own_values() -> None:
    np = pytest.importorskip("numpy", reason="numpy is an optional dependency")
    npy = encode(np.arange(3), max_bytes=CAP).data
    code = (
        "import sys\n"
        "from lineage_magic.values import encode, decode\n"
        "from lineage_magic.exceptions import ValueStoreError\n"
        "e = encode({'a': [1, 2.5, None]}, max_bytes=1000)\n"
        "decode(e.format, e.data)\n"
        "encode((1, 2), max_bytes=1000)\n"
        "print(sorted(m for m in ('numpy', 'pandas', 'pyarrow') if m in sys.modules))\n"
        "sys.modules['numpy'] = None  # as if numpy were not installed\n"
        f"try:\n    decode('npy', bytes.fromhex({npy.hex()!r}))\n"
        "except ValueStoreError as err:\n    print(err)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [
        "[]", "reading a value stored as npy needs numpy: pip install numpy",
    ]


def test_decoding_a_pickle_needs_an_explicit_opt_in() -> None:
    encoded = encode((1, 2), max_bytes=CAP)
    with pytest.raises(PickleRefusedError) as info:
        decode(encoded.format, encoded.data)
    message = str(info.value)
    assert "run arbitrary code" in message
    assert "allow_pickle=True" in message
    assert "%config LineageMagic.allow_pickle = True" in message
    assert decode(encoded.format, encoded.data, allow_pickle=True) == (1, 2)


@pytest.mark.parametrize(
    "value, kind",
    [(lambda x: x, "function"), ((i for i in range(3)), "generator"), (RefusesPickle(), "RefusesPickle")],
    ids=["lambda", "generator", "reduce-raises"],
)
def test_unpicklable_values_are_refused_with_the_type_and_reason(value: object, kind: str) -> None:
    with pytest.raises(UnserializableValueError, match=kind) as info:
        encode(value, max_bytes=CAP)
    assert "pickle failed" in str(info.value)
    assert info.value.__cause__ is not None


def test_pickle_off_refuses_what_only_pickle_can_store() -> None:
    with pytest.raises(UnserializableValueError, match=r"builtins\.tuple.*allow_pickle=False"):
        encode((1, 2), max_bytes=CAP, allow_pickle=False)
    assert encode([1, 2], max_bytes=CAP, allow_pickle=False).format == "json"


@pytest.mark.parametrize(
    "value", [list(range(1000)), b"x" * 1001, tuple(range(1000)), "é" * 600], ids=repr
)
def test_values_over_the_cap_are_refused_naming_size_cap_and_setting(value: object) -> None:
    with pytest.raises(ValueTooLargeError) as info:
        encode(value, max_bytes=1000)
    message = str(info.value)
    assert "1,000 bytes" in message
    assert "LineageMagic.max_value_bytes" in message
    assert type(value).__name__ in message


def test_a_value_exactly_at_the_cap_fits() -> None:
    assert encode(b"x" * 1000, max_bytes=1000).size == 1000


def test_large_numpy_array_is_refused_before_it_is_copied() -> None:
    np = pytest.importorskip("numpy", reason="numpy is an optional dependency")
    array = np.zeros(1_000_000)
    with pytest.raises(ValueTooLargeError, match=r"at least 8,000,000 bytes.*cap of 1,000 bytes"):
        encode(array, max_bytes=1000)


def test_pickle_over_the_cap_stops_early() -> None:
    with pytest.raises(ValueTooLargeError, match=r"\(pickle\) to at least"):
        encode(tuple(range(100_000)), max_bytes=4096)


def test_decode_rejects_unknown_formats_and_corrupt_data() -> None:
    with pytest.raises(ValueStoreError, match="unknown value format 'xml'"):
        decode("xml", b"<a/>")
    with pytest.raises(ValueStoreError, match="stored json value is unreadable"):
        decode("json", b"{not json")
    assert set(SAFE_FORMATS) < set(FORMATS)


def test_unpickling_a_missing_class_says_what_to_do() -> None:
    data = encode(Point(1, 2.0), max_bytes=CAP).data.replace(b"Point", b"Pxint")
    with pytest.raises(ValueStoreError, match="define the class"):
        decode("pickle", data, allow_pickle=True)
