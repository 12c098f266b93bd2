"""Cheap facts taken at the cell boundary: value summaries, outputs, errors.

Everything here is bounded: a summary of a huge object costs what a summary
of a small one costs. Reprs are only computed for builtin types, whose repr
is cheap and side-effect free; other objects are described by type, and by
shape and dtype when they have them (numpy, pandas, torch ...).
"""

from __future__ import annotations

import reprlib
import types
from typing import Any, NamedTuple

MAX_REPR = 200
MAX_OUTPUT_TEXT = 2000
MAX_OUTPUTS = 20
MAX_ERROR = 1000

_repr = reprlib.Repr()
_repr.maxstring = 120
_repr.maxother = 80
_repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxfrozenset = _repr.maxdeque = 8
_repr.maxdict = 6
_repr.maxlevel = 3
_repr.maxlong = 60

_CHEAP_REPR = (int, float, complex, bool, str, bytes, type(None), list, tuple, dict, set, frozenset, range)
_SIZED = (str, bytes, bytearray, list, tuple, dict, set, frozenset, range)


class ValueSummary(NamedTuple):
    """Type, short repr and size of a value, as stored on a node."""

    type: str
    repr: str | None
    len: int | None
    shape: str | None


def qualified_type(value: Any) -> str:
    """``module.QualName`` of a value's type (``int`` for builtins)."""
    cls = type(value)
    module = getattr(cls, "__module__", "") or ""
    name = getattr(cls, "__qualname__", cls.__name__)
    return name if module == "builtins" else f"{module}.{name}"


def summarize(value: Any) -> ValueSummary:
    """A bounded summary of a value."""
    type_name = qualified_type(value)[:255]
    text: str | None = None
    length: int | None = None
    shape: str | None = None
    if isinstance(value, _CHEAP_REPR) and type(value) in _CHEAP_REPR:
        text = _repr.repr(value)
        if isinstance(value, _SIZED):
            length = len(value)
    elif isinstance(value, (types.FunctionType, types.BuiltinFunctionType, type, types.ModuleType)):
        text = f"<{type(value).__name__} {getattr(value, '__qualname__', getattr(value, '__name__', '?'))}>"
    else:
        raw_shape = _attribute(value, "shape")
        if isinstance(raw_shape, tuple) and all(isinstance(d, int) for d in raw_shape):
            shape = "x".join(str(d) for d in raw_shape) if raw_shape else "()"
            length = raw_shape[0] if raw_shape else None
            dtype = _attribute(value, "dtype")
            if dtype is not None and type(dtype).__module__.startswith("numpy"):
                text = f"<{type(value).__name__} shape={raw_shape} dtype={dtype}>"
        elif isinstance(value, (bytearray,)):
            length = len(value)
    if text is not None and len(text) > MAX_REPR:
        text = text[: MAX_REPR - 3] + "..."
    return ValueSummary(type_name, text, length, shape[:64] if shape else None)


def _attribute(value: Any, name: str) -> Any:
    """Read a plain data attribute without triggering properties of unknown classes."""
    try:
        cls_attr = getattr(type(value), name, None)
    except Exception:  # noqa: BLE001 - a hostile metaclass must not break the cell
        return None
    if cls_attr is None or isinstance(cls_attr, (property, types.GetSetDescriptorType, types.MemberDescriptorType)) or not callable(cls_attr):
        try:
            return getattr(value, name, None)
        except Exception:  # noqa: BLE001 - user properties may raise anything
            return None
    return None


def error_facts(error: BaseException | None) -> tuple[str | None, str | None]:
    """The error's type name and a capped message."""
    if error is None:
        return None, None
    try:
        message = str(error)
    except Exception:  # noqa: BLE001 - a broken __str__ must not break recording
        message = "<unprintable error>"
    return type(error).__name__[:255], message[:MAX_ERROR]


def failed_line(error: BaseException | None, user_ns: dict[str, Any]) -> int | None:
    """The line of the cell where ``error`` escaped, from the cell's own frame."""
    if error is None:
        return None
    tb = error.__traceback__
    line = None
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_name == "<module>" and frame.f_globals is user_ns:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def summarize_outputs(history_outputs: list[Any] | None,
                      displays: list[tuple[int, dict[str, Any]]] = ()) -> list[dict[str, Any]]:
    """Output records: type, mime types and truncated text, in the order they appeared.

    ``history_outputs`` are IPython's own records of the cell's streams and
    result; ``displays`` are display_data bundles with their position among them.
    """
    items: list[tuple[str, dict[str, Any]]] = []
    for item in history_outputs or []:
        items.append((getattr(item, "output_type", ""), getattr(item, "bundle", None) or {}))
    for position, bundle in sorted(displays, key=lambda d: d[0], reverse=True):
        items.insert(min(position, len(items)), ("display_data", bundle))
    summary: list[dict[str, Any]] = []
    for kind, bundle in items[:MAX_OUTPUTS]:
        if kind in ("out_stream", "err_stream"):
            text = "".join(bundle.get("stream", []))
            summary.append({
                "output_type": "stream",
                "name": "stdout" if kind == "out_stream" else "stderr",
                "text": text[:MAX_OUTPUT_TEXT],
            })
        elif kind in ("execute_result", "display_data"):
            plain = bundle.get("text/plain", "")
            if isinstance(plain, list):
                plain = "".join(plain)
            summary.append({
                "output_type": kind,
                "mime": sorted(bundle)[:10],
                "text": str(plain)[:MAX_OUTPUT_TEXT],
            })
    return summary
