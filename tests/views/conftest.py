"""Fixtures of the views' tests: stores holding the hand-built lineage."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lineage_builder import Lineage, build_lineage

from lineage_magic import context
from lineage_magic.store.engine import Store


@pytest.fixture
def store(sqlite_url: str) -> Store:
    """A fresh SQLite store."""
    return context.open_store(sqlite_url)


@pytest.fixture
def lineage(store: Store) -> Lineage:
    """The hand-built lineage in a fresh SQLite store."""
    return build_lineage(store)


@pytest.fixture
def any_lineage(db_url: str) -> Iterator[Lineage]:
    """The hand-built lineage on each backend (servers skip when unreachable)."""
    yield build_lineage(context.open_store(db_url))


@pytest.fixture
def any_store(db_url: str) -> Store:
    """A fresh store on each backend (servers skip when unreachable)."""
    return context.open_store(db_url)
