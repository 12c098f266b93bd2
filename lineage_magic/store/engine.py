"""Opening a lineage store: engine, connection settings, schema upgrade."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, InvalidRequestError, SQLAlchemyError

from ..exceptions import InvalidURLError, StoreUnavailableError
from . import migrate
from .errors import short_reason
from .urls import mask, mask_text, parse_url

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_S = 30.0


class Store:
    """One lineage database: its engine and a session factory.

    Sessions never expire objects on commit, so records stay readable after
    their session closes (the seeds' Session semantics).
    """

    def __init__(self, url: str | URL, *, upgrade: bool = True) -> None:
        self.url = parse_url(url)
        self.engine = _create_engine(self.url)
        self._sessions: sessionmaker[Session] | None = None
        self._read_sessions: sessionmaker[Session] | None = None
        self._apart_sessions: sessionmaker[Session] | None = None
        self._read_engine: Engine | None = None
        try:
            with self.engine.connect() as conn:
                conn.rollback()
        except TypeError as err:
            # The driver refused an option in the URL's query string.
            self.engine.dispose()
            raise InvalidURLError(
                f"cannot use database URL {mask(self.url)}: the driver refused an option ({short_reason(err)})"
            ) from None
        except (SQLAlchemyError, DBAPIError) as err:
            self.engine.dispose()
            raise StoreUnavailableError(
                f"cannot connect to the lineage store at {mask(self.url)}: "
                f"{short_reason(err)}"
            ) from None
        if upgrade:
            try:
                migrate.upgrade(self.engine)
            except BaseException:
                self.engine.dispose()
                raise

    @property
    def dialect(self) -> str:
        """The backend's name: sqlite, postgresql, mysql or mariadb."""
        return self.engine.dialect.name

    @property
    def masked_url(self) -> str:
        """The URL with its password hidden, for messages."""
        return mask(self.url)

    def session(self, *, write: bool = False, read: bool = False, reads_apart: bool = False) -> Session:
        """A new ORM session; ``write`` takes SQLite's write lock at BEGIN.

        ``read`` is for sessions that only read (views, lineage walks): see
        ``read_engine``. Such a session refuses to flush. ``reads_apart`` is
        for sessions that mostly read but may write (``LineageDB``): its
        reads go through ``read_engine`` until its transaction first writes
        (see ``ReadsApartSession``).
        """
        # The ORM loads on first use: the recorder's writer needs only Core.
        from sqlalchemy.orm import sessionmaker

        if self._sessions is None:
            from . import models  # noqa: F401 - maps the classes before any query

            self._sessions = sessionmaker(self.engine, expire_on_commit=False)
            self._read_sessions = sessionmaker(expire_on_commit=False)
            event.listen(self._read_sessions, "before_flush", _refuse_flush)
        if read:
            assert self._read_sessions is not None
            return self._read_sessions(bind=self.read_engine)
        if reads_apart and self.read_engine is not self.engine:
            if self._apart_sessions is None:
                from .reads import ReadsApartSession

                self._apart_sessions = sessionmaker(self.engine, class_=ReadsApartSession,
                                                    expire_on_commit=False, read_bind=self.read_engine)
            return self._apart_sessions()
        if write and self.dialect == "sqlite":
            return self._sessions(bind=self.engine.execution_options(sqlite_begin="IMMEDIATE"))
        return self._sessions()

    @property
    def read_engine(self) -> Engine:
        """The engine of read-only sessions.

        On PostgreSQL, a pool of its own in autocommit: each statement reads
        what was committed when it began, which is what a transaction at the
        default READ COMMITTED level gives, without a ``BEGIN`` and a
        ``ROLLBACK`` round trip around every read (a third of a small query's
        time). Elsewhere the store's engine.
        """
        if self.dialect != "postgresql":
            return self.engine
        if self._read_engine is None:
            self._read_engine = _create_engine(self.url, isolation_level="AUTOCOMMIT")
        return self._read_engine

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        if self._read_engine is not None:
            self._read_engine.dispose()

    def __repr__(self) -> str:
        return f"Store({self.masked_url!r})"


def _refuse_flush(session: Session, *_: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise InvalidRequestError("a read-only lineage session cannot write; use store.session()")


def _create_engine(url: URL, **kwargs: Any) -> Engine:
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.database != ":memory:":
            _prepare_sqlite_file(Path(url.database).expanduser(), url)
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
    else:
        kwargs["pool_pre_ping"] = True
        kwargs["connect_args"] = {"connect_timeout": 10}
    try:
        engine = create_engine(url, **kwargs)
    except (ImportError, SQLAlchemyError) as err:
        extra = {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql"}.get(backend)
        hint = f" (pip install 'lineage-magic[{extra}]')" if extra else ""
        raise InvalidURLError(
            f"cannot use database URL {mask(url)}: {type(err).__name__}: "
            f"{mask_text(str(err))[:200]}{hint}"
        ) from None
    if backend == "sqlite":
        _bind_sqlite_pragmas(engine)
    return engine


def _prepare_sqlite_file(path: Path, url: URL) -> None:
    """Create the directory (0700) and file (0600) or fail before touching anything."""
    directory = path.parent
    try:
        if not directory.exists():
            directory.mkdir(mode=0o700, parents=True)
        if not path.exists():
            if not os.access(directory, os.W_OK | os.X_OK):
                raise PermissionError(f"directory {directory} is not writable")
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
    except OSError as err:
        raise StoreUnavailableError(
            f"cannot create the lineage store at {mask(url)}: {err.strerror or err}"
        ) from None


def _bind_sqlite_pragmas(engine: Engine) -> None:
    """WAL, busy timeout and foreign keys, on this engine only."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event, not pysqlite, decide when BEGIN runs.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql(f"BEGIN {mode}" if mode in ("IMMEDIATE", "EXCLUSIVE") else "BEGIN")
