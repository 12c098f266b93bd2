"""The IPython recorder: hooks, the per-shell state, and the background writer."""

from .extension import load, unload
from .recorder import LineageMagic, find_recorder

__all__ = ["LineageMagic", "find_recorder", "load", "unload"]
