"""Fixtures for replay tests."""

from __future__ import annotations

import pytest

from lineage_magic import context
from lineage_magic.store.engine import Store


@pytest.fixture
def store(sqlite_url: str) -> Store:
    """A fresh SQLite store, chosen for the Python API too."""
    return context.connect(sqlite_url)
