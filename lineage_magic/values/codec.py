"""Turning Python values into bytes and back, safe formats first.

A value is stored in the first format that brings it back *exactly* (same
type, same contents):

========== ==============================================================
format     for
========== ==============================================================
json       None, bool, int, float (NaN and ±Infinity included, as Python's
           json module writes them), str, and lists and str-keyed dicts of
           these, with no object shared or repeated within the value
npy        numpy ndarrays whose dtype holds no Python objects
npy_scalar numpy scalars (``np.float64(0.5)``), as a 0-d array
parquet    pandas DataFrames, when pandas and pyarrow are installed and the
           frame survives the round trip unchanged
bytes      bytes
bytearray  bytearray
pickle     anything else picklable, only when pickling is allowed
========== ==============================================================

Loading a pickle can run arbitrary code, so ``decode`` refuses it unless the
caller opts in. numpy and pandas are imported only for values whose type
comes from them.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import pickle
import sys
from dataclasses import dataclass
from typing import Any

from ..exceptions import (
    PickleRefusedError,
    UnserializableValueError,
    ValueStoreError,
    ValueTooLargeError,
)

__all__ = ["Encoded", "FORMATS", "SAFE_FORMATS", "encode", "decode", "type_name"]

SAFE_FORMATS: tuple[str, ...] = ("json", "npy", "npy_scalar", "parquet", "bytes", "bytearray")
FORMATS: tuple[str, ...] = (*SAFE_FORMATS, "pickle")

PICKLE_PROTOCOL = 5
_JSON_SCALARS = (type(None), bool, int, float, str)


@dataclass(frozen=True)
class Encoded:
    """A serialized value: its format, bytes, their sha256 and the value's type."""

    format: str
    data: bytes
    sha256: str
    size: int
    value_type: str


def type_name(obj: object) -> str:
    """The ``module.QualName`` of a value's type, as recorded with it."""
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


class _OverCap(Exception):
    """Raised by ``_CappedBuffer`` to stop a serializer as soon as it passes the cap."""


class _CappedBuffer(io.RawIOBase):
    """A write-only buffer that gives up once more than ``cap`` bytes arrive."""

    def __init__(self, cap: int) -> None:
        super().__init__()
        self._cap = cap
        self._chunks: list[bytes] = []
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, chunk: Any) -> int:  # noqa: ANN401 - any buffer
        n = memoryview(chunk).nbytes
        self.size += n
        if self.size > self._cap:
            raise _OverCap
        self._chunks.append(bytes(chunk))
        return n

    def getvalue(self) -> bytes:
        return b"".join(self._chunks)


def encode(obj: object, *, max_bytes: int, allow_pickle: bool = True) -> Encoded:
    """Serialize ``obj`` in the safest format that round-trips it, within ``max_bytes``."""
    value_type = type_name(obj)
    fmt, data = _encode_safe(obj, value_type, max_bytes)
    if fmt is None:
        if not allow_pickle:
            raise UnserializableValueError(
                f"cannot store a value of type {value_type}: no safe format "
                f"({', '.join(SAFE_FORMATS)}) represents it exactly, and pickling is "
                "off (allow_pickle=False)"
            )
        fmt, data = "pickle", _pickle(obj, value_type, max_bytes)
    _check_size(len(data), max_bytes, value_type, fmt)
    return Encoded(
        format=fmt,
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        value_type=value_type,
    )


def decode(format: str, data: bytes, *, allow_pickle: bool = False) -> object:  # noqa: A002
    """Rebuild a value from ``encode``'s bytes; pickles only with ``allow_pickle``."""
    if format == "pickle":
        if not allow_pickle:
            raise PickleRefusedError(
                "this value was stored with pickle, and loading a pickle can run "
                "arbitrary code; load it only if you trust whoever saved it, with "
                "allow_pickle=True (or %config LineageMagic.allow_pickle = True)"
            )
        return _unpickle(data)
    try:
        if format == "json":
            return json.loads(data)
        if format == "bytes":
            return bytes(data)
        if format == "bytearray":
            return bytearray(data)
        if format in ("npy", "npy_scalar"):
            np = _import_optional("numpy", format)
            array = np.load(io.BytesIO(data), allow_pickle=False)
            return array[()] if format == "npy_scalar" else array
        if format == "parquet":
            pd = _import_optional("pandas", format)
            _import_optional("pyarrow", format)
            return pd.read_parquet(io.BytesIO(data), engine="pyarrow")
    except (ValueError, OSError, EOFError, TypeError, UnicodeDecodeError) as err:
        raise ValueStoreError(
            f"stored {format} value is unreadable: {type(err).__name__}: {err}"
        ) from err
    raise ValueStoreError(
        f"unknown value format {format!r}: this version reads {', '.join(FORMATS)}"
    )


def _encode_safe(obj: object, value_type: str, max_bytes: int) -> tuple[str | None, bytes]:
    """The first safe format that fits ``obj``, or ``(None, b"")``."""
    cls = type(obj)
    if cls is bytes:
        return "bytes", obj  # type: ignore[return-value]
    if cls is bytearray:
        return "bytearray", bytes(obj)  # type: ignore[arg-type]
    root_module = cls.__module__.partition(".")[0]
    if root_module == "numpy":
        return _encode_numpy(obj, value_type, max_bytes)
    if root_module == "pandas":
        return _encode_pandas(obj)
    if _is_exact_json(obj):
        try:
            text = json.dumps(obj, ensure_ascii=False, allow_nan=True, separators=(",", ":"))
        except (ValueError, RecursionError):
            # Ints past sys.get_int_max_str_digits, or nesting deeper than the C stack.
            return None, b""
        try:
            return "json", text.encode("utf-8")
        except UnicodeEncodeError:
            # Lone surrogates have no UTF-8 form; \u escapes keep them.
            return "json", json.dumps(obj, ensure_ascii=True, separators=(",", ":")).encode()
    return None, b""


def _is_exact_json(obj: object) -> bool:
    """True if JSON brings ``obj`` back equal, of the same types, and equally shaped."""
    seen: set[int] = set()
    stack = [obj]
    while stack:
        item = stack.pop()
        cls = type(item)
        if cls in _JSON_SCALARS:
            continue
        if cls is list or cls is dict:
            # A list or dict met twice (shared or cyclic) would come back as copies.
            if id(item) in seen:
                return False
            seen.add(id(item))
            if cls is dict:
                if any(type(key) is not str for key in item):  # type: ignore[attr-defined]
                    return False
                stack.extend(item.values())  # type: ignore[attr-defined]
            else:
                stack.extend(item)  # type: ignore[arg-type]
            continue
        return False
    return True


def _encode_numpy(obj: Any, value_type: str, max_bytes: int) -> tuple[str | None, bytes]:
    np = sys.modules.get("numpy")
    if np is None:
        return None, b""
    if type(obj) is np.ndarray:
        fmt, array = "npy", obj
    elif isinstance(obj, np.generic):
        fmt, array = "npy_scalar", np.asarray(obj)
    else:
        # Subclasses (masked arrays, matrices) would come back as plain ndarrays.
        return None, b""
    if array.dtype.hasobject:
        return None, b""
    # Fail before copying gigabytes when the raw data alone is over the cap.
    _check_size(int(array.nbytes), max_bytes, value_type, fmt, lower_bound=True)
    buffer = _CappedBuffer(max_bytes)
    try:
        np.save(buffer, array, allow_pickle=False)
    except _OverCap:
        _check_size(buffer.size, max_bytes, value_type, fmt, lower_bound=True)
    except ValueError:
        return None, b""
    return fmt, buffer.getvalue()


def _encode_pandas(obj: Any) -> tuple[str | None, bytes]:
    pd = sys.modules.get("pandas")
    if pd is None or type(obj) is not pd.DataFrame:
        return None, b""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return None, b""
    buffer = io.BytesIO()
    try:
        obj.to_parquet(buffer, engine="pyarrow")
        data = buffer.getvalue()
        back = pd.read_parquet(io.BytesIO(data), engine="pyarrow")
    except (ValueError, TypeError, NotImplementedError, OverflowError):
        # pyarrow's errors derive from these: mixed-type columns, non-str column names ...
        return None, b""
    if not _frames_identical(pd, obj, back):
        return None, b""
    return "parquet", data


def _frames_identical(pd: Any, left: Any, right: Any) -> bool:
    """Whether a DataFrame came back from Parquet with the same values, dtypes and labels."""
    try:
        pd.testing.assert_frame_equal(
            left, right, check_exact=True, check_index_type=True, check_column_type=True,
            check_frame_type=True, check_names=True, check_flags=True, check_freq=True,
            check_categorical=True,
        )
    except (AssertionError, TypeError, ValueError):
        return False
    return left.attrs == right.attrs


def _pickle(obj: object, value_type: str, max_bytes: int) -> bytes:
    buffer = _CappedBuffer(max_bytes)
    try:
        pickle.dump(obj, buffer, protocol=PICKLE_PROTOCOL)
    except _OverCap:
        _check_size(buffer.size, max_bytes, value_type, "pickle", lower_bound=True)
    except Exception as err:  # noqa: BLE001
        # __reduce__ and __getstate__ are user code and may raise anything.
        raise UnserializableValueError(
            f"cannot store a value of type {value_type}: no safe format fits it and "
            f"pickle failed ({type(err).__name__}: {err}); store a picklable form "
            "of it instead (for example a list, a dict or a numpy array)"
        ) from err
    return buffer.getvalue()


def _unpickle(data: bytes) -> object:
    try:
        return pickle.loads(data)  # noqa: S301 - the caller opted in
    except (AttributeError, ImportError) as err:
        raise ValueStoreError(
            f"cannot load the pickled value: {type(err).__name__}: {err} (import or "
            "define the class it needs before loading it)"
        ) from err
    except Exception as err:  # noqa: BLE001
        # Unpickling runs the value's own reconstruction code, which may raise anything.
        raise ValueStoreError(
            f"cannot load the pickled value: {type(err).__name__}: {err}"
        ) from err


def _check_size(size: int, max_bytes: int, value_type: str, fmt: str, *,
                lower_bound: bool = False) -> None:
    if size <= max_bytes:
        return
    # A serializer stopped at the cap leaves only a lower bound on the size.
    amount = f"at least {size:,}" if lower_bound else f"{size:,}"
    suggestion = 2 ** math.ceil(math.log2(size * (2 if lower_bound else 1)))
    raise ValueTooLargeError(
        f"a value of type {value_type} serializes ({fmt}) to {amount} bytes, over the "
        f"cap of {max_bytes:,} bytes (LineageMagic.max_value_bytes); store a smaller "
        f"value, or raise the cap, e.g. %config LineageMagic.max_value_bytes = {suggestion}"
    )


def _import_optional(module: str, fmt: str) -> Any:
    try:
        return __import__(module)
    except ImportError as err:
        raise ValueStoreError(
            f"reading a value stored as {fmt} needs {module}: pip install {module}"
        ) from err
