"""Bring a database's schema to the version this package expects.

The head revision is a constant so that connecting to an up-to-date store
costs one small query and no Alembic import; a test keeps it equal to the
head of the shipped migration scripts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from ..exceptions import MigrationError
from .urls import mask

HEAD_REVISION = "0006"
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_LOCK_ID = 7_314_159  # advisory lock key on PostgreSQL
_LOCK_NAME = "lineage_magic_migrate"


def current_revision(conn: Connection) -> str | None:
    """The revision stamped in the database, or None for an empty database."""
    if not conn.dialect.has_table(conn, "alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def alembic_config(conn: Connection):  # noqa: ANN201 - alembic is imported lazily
    """An Alembic Config that runs our shipped scripts over ``conn``."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = conn
    return cfg


def upgrade(engine: Engine, revision: str = "head", *, run_scripts: bool = False) -> tuple[str | None, str]:
    """Upgrade the schema under a lock; returns (revision before, revision after).

    An empty database gets the current schema straight from the table
    definitions, stamped with the head revision (Alembic's advice for new
    databases, and no Alembic import); older databases run the migration
    scripts. ``run_scripts`` runs the scripts even on an empty database.
    """
    try:
        with engine.connect() as probe:
            before = current_revision(probe)
            probe.rollback()
        if before == HEAD_REVISION and revision == "head":
            return before, before
        with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn:
            with _sqlite_foreign_keys_off(conn), conn.begin():
                _lock(conn)
                # Another process may have upgraded while we waited for the lock.
                before = current_revision(conn)
                if before is None and revision == "head" and not run_scripts:
                    _create_current_schema(conn)
                elif before != HEAD_REVISION or revision != "head":
                    from alembic import command

                    command.upgrade(alembic_config(conn), revision)
                after = current_revision(conn)
                _unlock(conn)
    except (SQLAlchemyError, DBAPIError) as err:
        raise MigrationError(
            f"could not upgrade the lineage store at {mask(engine.url)}: {type(err).__name__}"
        ) from err
    if after is None:
        raise MigrationError(f"the lineage store at {mask(engine.url)} has no schema version")
    return before, after


def downgrade(engine: Engine, revision: str) -> str | None:
    """Run the scripts' downgrades to ``revision`` under the upgrade's lock; returns it."""
    try:
        with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn:
            with _sqlite_foreign_keys_off(conn), conn.begin():
                _lock(conn)
                from alembic import command

                command.downgrade(alembic_config(conn), revision)
                after = current_revision(conn)
                _unlock(conn)
    except (SQLAlchemyError, DBAPIError) as err:
        raise MigrationError(
            f"could not downgrade the lineage store at {mask(engine.url)}: {type(err).__name__}"
        ) from err
    return after


def _create_current_schema(conn: Connection) -> None:
    from sqlalchemy import Column, MetaData, String, Table

    from .tables import metadata

    metadata.create_all(conn)
    version = Table("alembic_version", MetaData(), Column("version_num", String(32), primary_key=True))
    version.create(conn, checkfirst=True)
    conn.execute(version.delete())
    conn.execute(version.insert().values(version_num=HEAD_REVISION))


@contextmanager
def _sqlite_foreign_keys_off(conn: Connection) -> Iterator[None]:
    """SQLite: foreign keys off around the upgrade's transaction, on again after.

    Scripts that change a table SQLite cannot alter in place copy it and drop
    the old one, and dropping a table with foreign keys on first deletes its
    rows, cascading to every table that refers to it. The pragma is a no-op
    inside a transaction, so it is set on the driver's connection before
    BEGIN. Scripts keep the keys they copy, so nothing dangles afterwards.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    raw = conn.connection.driver_connection
    raw.execute("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        raw.execute("PRAGMA foreign_keys = ON")


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_ID})
    elif conn.dialect.name in ("mysql", "mariadb"):
        conn.execute(text("SELECT GET_LOCK(:name, 120)"), {"name": _LOCK_NAME})
    # SQLite: BEGIN IMMEDIATE already holds the write lock.


def _unlock(conn: Connection) -> None:
    if conn.dialect.name in ("mysql", "mariadb"):
        conn.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": _LOCK_NAME})
