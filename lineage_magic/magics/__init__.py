"""``%lineage`` and ``%%lineage``: thin magics over the Python API."""

from .core import LineageMagics
from . import replay_commands  # noqa: F401

__all__ = ["LineageMagics"]
