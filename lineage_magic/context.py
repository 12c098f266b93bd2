"""Which lineage store the Python API uses in this process.

``connect`` chooses it; the extension calls ``connect`` when loaded. Recorders
register a flush callback so that every query sees what they have queued.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable

from sqlalchemy.engine import URL

from .store.engine import Store
from .store.urls import parse_url, resolve_url

log = logging.getLogger(__name__)

FlushCallback = Callable[[], None]


class _Context:
    """The process-wide choice of store plus the flush callbacks of live recorders."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.store: Store | None = None
        self.stores: dict[str, Store] = {}
        self.flushers: weakref.WeakSet[object] = weakref.WeakSet()


_context = _Context()


def open_store(url: str | URL | None = None) -> Store:
    """The (cached) store for a URL, resolved by the documented precedence."""
    parsed = parse_url(url if isinstance(url, URL) else resolve_url(url))
    key = parsed.render_as_string(hide_password=False)
    with _context.lock:
        store = _context.stores.get(key)
        if store is None:
            store = Store(parsed)
            _context.stores[key] = store
        return store


def connect(url: str | URL | None = None) -> Store:
    """Choose the lineage store the Python API uses in this process."""
    store = open_store(url)
    with _context.lock:
        _context.store = store
    return store


def get_store() -> Store:
    """The chosen store, connecting to the default URL on first use."""
    with _context.lock:
        if _context.store is None:
            _context.store = open_store(None)
        return _context.store


def register_flusher(obj: object) -> None:
    """Let ``flush_pending`` call ``obj.flush()`` while ``obj`` is alive."""
    _context.flushers.add(obj)


def unregister_flusher(obj: object) -> None:
    """Stop flushing ``obj`` before queries."""
    _context.flushers.discard(obj)


def flush_pending(timeout: float = 10.0) -> None:
    """Wait until every live recorder has written what it queued."""
    for obj in list(_context.flushers):
        obj.flush(timeout=timeout)  # type: ignore[attr-defined]


def forget_store(store: Store) -> None:
    """Drop a store from the cache and dispose its engine."""
    with _context.lock:
        for key, value in list(_context.stores.items()):
            if value is store:
                del _context.stores[key]
        if _context.store is store:
            _context.store = None
    store.dispose()
