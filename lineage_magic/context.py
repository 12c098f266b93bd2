"""Which lineage store the Python API uses in this process.

``connect`` chooses it; the extension chooses it when loaded (without
opening it: the writer, a child process by default, opens its own). Recorders
register a flush callback so that every query sees what they have queued.
SQLAlchemy is imported only when a store is opened.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

from .store.urls import resolve_url

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from .store.engine import Store


class _Context:
    """The process-wide choice of store plus the flush callbacks of live recorders."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.store: Store | None = None
        self.url: str | None = None  # chosen but not opened yet
        self.stores: dict[str, Store] = {}
        self.flushers: weakref.WeakSet[Any] = weakref.WeakSet()


_context = _Context()


def _key(url: str | URL | None) -> tuple[Any, str]:
    from .store.urls import parse_url

    parsed = parse_url(url if url is not None and not isinstance(url, str) else resolve_url(url))
    return parsed, parsed.render_as_string(hide_password=False)


def open_store(url: str | URL | None = None) -> Store:
    """The (cached) store for a URL, resolved by the documented precedence."""
    from .store.engine import Store

    parsed, key = _key(url)
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
        _context.url = None
    return store


def choose(url: str) -> None:
    """Make ``url`` the API's store without opening it yet."""
    with _context.lock:
        _context.store = None
        _context.url = url


def get_store() -> Store:
    """The chosen store, opening it (or the default URL) on first use."""
    with _context.lock:
        if _context.store is None:
            _context.store = open_store(_context.url)
            _context.url = None
        return _context.store


def register_flusher(obj: Any) -> None:
    """Let ``flush_pending`` call ``obj.flush()`` while ``obj`` is alive."""
    _context.flushers.add(obj)


def unregister_flusher(obj: Any) -> None:
    """Stop flushing ``obj`` before queries."""
    _context.flushers.discard(obj)


def flush_pending(timeout: float = 10.0) -> None:
    """Wait until every live recorder has written what it queued."""
    for obj in list(_context.flushers):
        obj.flush(timeout=timeout)


def forget_store(store: Store) -> None:
    """Drop a store from the cache and dispose its engine."""
    with _context.lock:
        for key, value in list(_context.stores.items()):
            if value is store:
                del _context.stores[key]
        if _context.store is store:
            _context.store = None
    store.dispose()
