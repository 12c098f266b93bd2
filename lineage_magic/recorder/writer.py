"""The background writer: the recorder's hooks enqueue, this thread commits.

Each batch is one transaction. When the database is unreachable, locked or
read-only, items stay queued (up to a bound), the writer retries with
backoff, and recording resumes by itself when the database is back. An item
the database rejects for what it contains (not for being unavailable) is
dropped alone, logged and counted, so one bad record never blocks the rest.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..exceptions import LineageError

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from ..store.engine import Store

log = logging.getLogger(__name__)

# An item is a function run inside the batch's transaction. Items that also
# have a ``cell_write()`` method are merged: one bulk insert per table for all
# the cells of a batch, instead of one round of inserts per cell.
WriteItem = Callable[["Connection"], None]


@dataclass
class WriterStats:
    """Counters a user or test can read to see what the writer did."""

    written: int = 0
    batches: int = 0
    dropped_full: int = 0
    rejected: int = 0
    failures: int = 0
    last_error: str | None = None
    recovered: int = 0
    errors: list[str] = field(default_factory=list)


class BackgroundWriter:
    """Commit queued write items in batches on a daemon thread."""

    def __init__(
        self,
        store_factory: Callable[[], Store],
        *,
        max_queue: int = 100_000,
        max_batch: int = 500,
        linger: float = 0.05,
        name: str = "lineage-writer",
    ) -> None:
        self._store_factory = store_factory
        self._store: Store | None = None
        self._queue: deque[WriteItem] = deque()
        self._cond = threading.Condition()
        self._max_queue = max_queue
        self._max_batch = max_batch
        self._linger = linger
        self._urgent = False
        self._in_flight = 0
        self._stopping = False
        self.degraded: str | None = None
        self.stats = WriterStats()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    # -- user thread -------------------------------------------------------

    def put(self, item: WriteItem) -> None:
        """Queue one item; cheap, never blocks, never raises."""
        with self._cond:
            if len(self._queue) >= self._max_queue:
                self._queue.popleft()
                self.stats.dropped_full += 1
            self._queue.append(item)
            self._cond.notify()

    def pending(self) -> int:
        """Items queued or being written."""
        with self._cond:
            return len(self._queue) + self._in_flight

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is written; False on timeout."""
        if threading.current_thread() is self._thread:
            return True
        deadline = time.monotonic() + timeout
        with self._cond:
            self._urgent = True
            self._cond.notify_all()
            while self._queue or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._thread.is_alive():
                    return False
                self._cond.wait(min(remaining, 0.05))
        return True

    def close(self, timeout: float = 10.0) -> bool:
        """Flush, then stop the thread. Returns whether everything was written."""
        flushed = self.flush(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout=1.0)
        return flushed

    @property
    def store(self) -> Store | None:
        """The store, once the writer managed to open it."""
        return self._store

    # -- writer thread -----------------------------------------------------

    def _loop(self) -> None:
        backoff = 0.0
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if self._stopping and (not self._queue or backoff):
                    return
                # Linger briefly so cells run back to back share one transaction
                # (fewer GIL hand-offs with the user's thread); a flush cuts it short.
                deadline = time.monotonic() + self._linger
                while (not self._urgent and not self._stopping and len(self._queue) < self._max_batch
                       and (remaining := deadline - time.monotonic()) > 0):
                    self._cond.wait(remaining)
                self._urgent = False
                batch = [self._queue.popleft() for _ in range(min(len(self._queue), self._max_batch))]
                self._in_flight = len(batch)
            ok = self._write(batch)
            with self._cond:
                self._in_flight = 0
                if not ok:
                    self._queue.extendleft(reversed(batch))
                self._cond.notify_all()
            if ok:
                backoff = 0.0
            else:
                backoff = min(max(backoff * 2, 0.25), 5.0)
                with self._cond:
                    if not self._stopping:
                        self._cond.wait(backoff)

    def _open(self) -> Store:
        if self._store is None:
            self._store = self._store_factory()
        return self._store

    def _write(self, batch: list[WriteItem]) -> bool:
        """Write a batch in one transaction; False means keep it and retry."""
        # Imported here: SQLAlchemy loads on this thread, not in the user's %load_ext.
        from sqlalchemy.exc import DataError, IntegrityError, ProgrammingError, SQLAlchemyError

        try:
            store = self._open()
            with store.engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn:
                try:
                    with conn.begin():
                        _run_items(conn, batch)
                except (IntegrityError, DataError, ProgrammingError) as err:
                    if _is_unavailable(err):
                        raise
                    self._write_one_by_one(conn, batch, err)
        except (SQLAlchemyError, LineageError, OSError) as err:
            self._degrade(err)
            return False
        if self.degraded is not None:
            log.warning("lineage store is back; recording resumed")
            self.stats.recovered += 1
            self.degraded = None
        self.stats.written += len(batch)
        self.stats.batches += 1
        return True

    def _write_one_by_one(self, conn: Connection, batch: list[WriteItem], first: Exception) -> None:
        from sqlalchemy.exc import DataError, IntegrityError, ProgrammingError

        log.warning("a batch was rejected (%s); writing its items one by one", type(first).__name__)
        for item in batch:
            try:
                with conn.begin():
                    item(conn)
            except (IntegrityError, DataError, ProgrammingError) as err:
                if _is_unavailable(err):
                    raise
                self.stats.rejected += 1
                self._remember(err)
                log.error("lineage record rejected by the database: %s", _short(err))

    def _degrade(self, err: BaseException) -> None:
        self.stats.failures += 1
        self._remember(err)
        if self.degraded is None:
            log.warning("lineage store unavailable, keeping records queued: %s", _short(err))
        self.degraded = _short(err)
        from sqlalchemy.exc import InterfaceError, OperationalError

        if self._store is not None and isinstance(err, (OperationalError, InterfaceError)):
            # Drop pooled connections that may point at a deleted or restarted database.
            self._store.engine.dispose()

    def _remember(self, err: BaseException) -> None:
        self.stats.last_error = _short(err)
        self.stats.errors = [*self.stats.errors[-9:], self.stats.last_error]


def _run_items(conn: Connection, batch: list[WriteItem]) -> None:
    """Run a batch's items in order, merging consecutive cell writes."""
    from ..store.writes import write_cells

    cells: list[Any] = []
    for item in batch:
        build = getattr(item, "cell_write", None)
        if build is not None:
            cells.append(build())
            continue
        if cells:
            write_cells(conn, cells)
            cells = []
        item(conn)
    if cells:
        write_cells(conn, cells)


def _short(err: BaseException) -> str:
    from ..store.urls import mask_text

    text = str(getattr(err, "orig", None) or err).strip().splitlines()
    return mask_text(f"{type(err).__name__}: {text[0] if text else ''}")[:200]


def _is_unavailable(err: BaseException) -> bool:
    """Read-only or locked databases raise some of the same classes as bad data."""
    text = str(err).lower()
    return any(s in text for s in ("readonly", "read-only", "locked", "disk i/o", "no such table"))
