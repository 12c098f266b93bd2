"""Stored values: serialization, content-addressed blobs and named artifacts.

``save_value``/``load_value`` are the store-level operations behind
``%lineage save`` and ``%lineage load``; ``encode``/``decode`` choose the
safest format that brings a value back exactly, and refuse to load a pickle
without an explicit opt-in.
"""

from __future__ import annotations

from .artifacts import load_value, parse_artifact_ref, save_value, validate_artifact_name
from .blobs import get_blob_bytes, put_blob
from .codec import FORMATS, SAFE_FORMATS, Encoded, decode, encode

__all__ = [
    "Encoded",
    "FORMATS",
    "SAFE_FORMATS",
    "encode",
    "decode",
    "put_blob",
    "get_blob_bytes",
    "save_value",
    "load_value",
    "parse_artifact_ref",
    "validate_artifact_name",
]
