"""A store with one run started: what the store tests write cells into."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

from lineage_magic.store import writes
from lineage_magic.store.engine import Store

RUN = "r" * 20
START = datetime(2025, 3, 1, 8, 30, 15, 123456, tzinfo=timezone.utc)


@contextmanager
def open_store(url: str) -> Iterator[Store]:
    """A store at ``url`` with the run ``RUN`` started."""
    opened = Store(url)
    with opened.engine.begin() as conn:
        writes.start_run(conn, writes.RunStart(
            id=RUN, handle="me", transform_name="nb.ipynb", transform_path="/nb.ipynb",
            transform_title=None, transform_type="notebook", started_at=START,
            python_version="3.11", host="test-host", pid=1,
        ))
    try:
        yield opened
    finally:
        opened.dispose()
