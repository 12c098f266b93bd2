"""``%lineage`` and ``%%lineage``: thin magics over the Python API."""

from .core import LineageMagics

__all__ = ["LineageMagics"]
