"""The background writer: the recorder's hooks enqueue, this thread commits.

Each batch is one transaction. When the database is unreachable, locked or
read-only, items stay queued (up to a bound), the writer retries with
backoff, and recording resumes by itself when the database is back. An item
the database rejects for what it contains (not for being unavailable) is
dropped alone, logged and counted, so one bad record never blocks the rest.

A SQLite file deleted or replaced under a running kernel is noticed (its
device and inode no longer match what was opened) before and after every
batch: the writer reopens the path, which recreates the schema, writes the
run's start again (the "preamble"), and from then on sends each cell's
source again and drops links to records that went away with the old file.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..exceptions import LineageError
from ..files.watcher import mark_quiet, quiet
from ..store.errors import short_reason

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
    """Commit queued write items in batches on a daemon thread.

    ``on_batch`` is called on that thread after each attempt to write a
    batch, which may have changed ``stats``, ``degraded`` or the notice.
    """

    def __init__(
        self,
        store_factory: Callable[[], Store],
        *,
        max_queue: int = 100_000,
        max_batch: int = 500,
        linger: float = 0.05,
        name: str = "lineage-writer",
        on_batch: Callable[[], None] | None = None,
    ) -> None:
        self._store_factory = store_factory
        self._on_batch = on_batch
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
        self._preamble: WriteItem | None = None
        self._replay_preamble = False
        self._repair = False
        self._file_id: tuple[int, int] | None = None
        self._notice: str | None = None
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    # -- user thread -------------------------------------------------------

    def put(self, item: WriteItem, *, preamble: bool = False) -> None:
        """Queue one item; cheap, never blocks, never raises.

        A ``preamble`` item (the run's start) is kept and written again
        before anything else if the store has to be recreated.
        """
        with self._cond:
            if preamble:
                self._preamble = item
            if len(self._queue) >= self._max_queue:
                self._queue.popleft()
                self.stats.dropped_full += 1
            self._queue.append(item)
            if len(self._queue) == 1 or len(self._queue) >= self._max_batch:
                # Wake the writer to start a batch or to end its linger at a full
                # batch; while it lingers it takes what came when its wait ends.
                # Waking it for every item would take the GIL from the caller's
                # thread each time (a launcher's nbclient, a kernel's cells).
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
            # Cut the linger short for what is queued now, not for what comes later.
            self._urgent = bool(self._queue)
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

    def take_notice(self) -> str | None:
        """A one-time message for the user (e.g. the store file was recreated), or None."""
        with self._cond:
            notice, self._notice = self._notice, None
        return notice

    # -- writer thread -----------------------------------------------------

    def _loop(self) -> None:
        # The store's files, blobs and journals are never a recorded cell's inputs or outputs.
        mark_quiet()
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
            if self._on_batch is not None:
                self._on_batch()
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
            path = _sqlite_path(self._store)
            self._file_id = _file_identity(path) if path is not None else None
        return self._store

    def _follow_file(self, store: Store) -> None:
        """Reopen a SQLite file that was deleted or replaced since it was opened."""
        path = _sqlite_path(store)
        if path is None:
            return
        found = _file_identity(path)
        if found is not None and found == self._file_id:
            return
        from ..store import migrate
        from ..store.engine import _prepare_sqlite_file

        what = "deleted" if found is None else "replaced"
        log.warning("lineage store %s was %s; reopening it and recording on", store.masked_url, what)
        # Pooled connections still hold the old (possibly unlinked) file open.
        store.engine.dispose()
        with quiet():
            _prepare_sqlite_file(Path(path), store.url)
        migrate.upgrade(store.engine)
        self._file_id = _file_identity(path)
        self._replay_preamble = True
        self._repair = True
        with self._cond:
            self._notice = (f"lineage store file was {what} during this session; recording goes on "
                            "in a new file (records written before are not in it)")

    def _file_moved(self, store: Store) -> bool:
        path = _sqlite_path(store)
        return path is not None and _file_identity(path) != self._file_id

    def _write(self, batch: list[WriteItem]) -> bool:
        """Write a batch in one transaction; False means keep it and retry."""
        # Imported here: SQLAlchemy loads on this thread, not in the user's %load_ext.
        from sqlalchemy.exc import DataError, IntegrityError, ProgrammingError, SQLAlchemyError

        try:
            store = self._open()
            self._follow_file(store)
            with store.engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn:
                try:
                    with conn.begin():
                        if self._replay_preamble and self._preamble is not None:
                            self._preamble(conn)
                        _run_items(conn, batch, repair=self._repair)
                except (IntegrityError, DataError, ProgrammingError) as err:
                    if _is_unavailable(err):
                        raise
                    self._write_one_by_one(conn, batch, err)
            if self._file_moved(store):
                # Committed into a file deleted meanwhile: write the batch again.
                log.warning("lineage store file changed during a write; writing the batch again")
                return False
        except (SQLAlchemyError, LineageError, OSError) as err:
            self._degrade(err)
            return False
        except Exception as err:  # noqa: BLE001 - not the database's fault, but the writer must live on
            log.error("lineage writer failed unexpectedly; will retry", exc_info=err)
            self._degrade(err)
            return False
        self._replay_preamble = False
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
        if self._replay_preamble and self._preamble is not None:
            with conn.begin():
                self._preamble(conn)
        for item in batch:
            try:
                with conn.begin():
                    _run_items(conn, [item], repair=self._repair)
            except (IntegrityError, DataError, ProgrammingError) as err:
                if _is_unavailable(err):
                    raise
                self.stats.rejected += 1
                self._remember(err)
                log.error("lineage record rejected by the database: %s", short_reason(err, 200))

    def _degrade(self, err: BaseException) -> None:
        self.stats.failures += 1
        self._remember(err)
        if self.degraded is None:
            log.warning("lineage store unavailable, keeping records queued: %s", short_reason(err, 200))
        self.degraded = short_reason(err, 200)
        from sqlalchemy.exc import InterfaceError, OperationalError

        if self._store is not None and isinstance(err, (OperationalError, InterfaceError)):
            # Drop pooled connections that may point at a deleted or restarted database.
            self._store.engine.dispose()

    def _remember(self, err: BaseException) -> None:
        self.stats.last_error = short_reason(err, 200)
        self.stats.errors = [*self.stats.errors[-9:], self.stats.last_error]


def _run_items(conn: Connection, batch: list[WriteItem], *, repair: bool = False) -> None:
    """Run a batch's items in order, merging consecutive cell writes.

    ``repair``: the store was recreated, so sources written before may be
    missing (send each again) and links may point at records that are gone.
    """
    from ..store.writes import write_cells

    cells: list[Any] = []

    def write() -> None:
        if repair:
            _drop_dangling(conn, cells)
        write_cells(conn, cells)
        cells.clear()

    for item in batch:
        build = getattr(item, "cell_write", None)
        if build is not None:
            cell = build()
            if repair and cell.source_code is None:
                cell.source_code = getattr(item, "source_text", None)
            cells.append(cell)
            continue
        if cells:
            write()
        item(conn)
    if cells:
        write()


def _drop_dangling(conn: Connection, cells: list[Any]) -> None:
    """Drop parent links and edges to cells and nodes that are not in the store."""
    from sqlalchemy import select

    from ..store.tables import cells as cells_t
    from ..store.tables import nodes as nodes_t

    new_cells = {c.cell["id"] for c in cells}
    new_nodes = {n["id"] for c in cells for n in c.nodes}
    wanted_cells = {p for c in cells for p in c.parents} - new_cells
    wanted_nodes = {e["source_id"] for c in cells for e in c.edges} - new_nodes
    have_cells = set(conn.execute(select(cells_t.c.id).where(cells_t.c.id.in_(wanted_cells))).scalars()) if wanted_cells else set()
    have_nodes = set(conn.execute(select(nodes_t.c.id).where(nodes_t.c.id.in_(wanted_nodes))).scalars()) if wanted_nodes else set()
    known_cells = new_cells | have_cells
    known_nodes = new_nodes | have_nodes
    for cell in cells:
        cell.parents = [p for p in cell.parents if p in known_cells]
        cell.edges = [e for e in cell.edges if e["source_id"] in known_nodes]


def _sqlite_path(store: Store) -> str | None:
    """The file behind a SQLite store, or None for servers and in-memory stores."""
    url = store.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return os.path.expanduser(url.database)


def _file_identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of a file, or None when it does not exist."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


def _is_unavailable(err: BaseException) -> bool:
    """Read-only or locked databases raise some of the same classes as bad data."""
    text = str(err).lower()
    return any(s in text for s in ("readonly", "read-only", "locked", "disk i/o", "no such table"))
