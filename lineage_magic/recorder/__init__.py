"""The IPython recorder: hooks, the per-shell state, and the writer.

Names load on first use: the writer process imports this package's record
and writer modules without IPython.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "LineageMagic": ".recorder",
    "find_recorder": ".recorder",
    "load": ".extension",
    "unload": ".extension",
}

__all__ = ["LineageMagic", "find_recorder", "load", "unload"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value
