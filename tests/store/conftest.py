"""The ``store`` fixture: a fresh store on each backend, with the run ``started.RUN``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lineage_magic.store.engine import Store
from started import open_store


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with open_store(db_url) as opened:
        yield opened
