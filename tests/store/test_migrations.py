"""Migrations: an empty database reaches head, and models match the scripts."""

from __future__ import annotations

import pytest

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from lineage_magic.store import migrate
from lineage_magic.store.engine import Store
from lineage_magic.store.models import Base


def test_head_constant_matches_shipped_scripts() -> None:
    with create_engine("sqlite://").connect() as conn:
        script = ScriptDirectory.from_config(migrate.alembic_config(conn))
    assert script.get_current_head() == migrate.HEAD_REVISION


@pytest.mark.parametrize("run_scripts", [True, False], ids=["scripts", "create_all"])
def test_empty_database_upgrades_to_head_with_no_autogenerate_diff(db_url: str, run_scripts: bool) -> None:
    store = Store(db_url, upgrade=False)
    migrate.upgrade(store.engine, run_scripts=run_scripts)
    try:
        with store.engine.connect() as conn:
            assert migrate.current_revision(conn) == migrate.HEAD_REVISION
            tables = set(inspect(conn).get_table_names())
            assert set(Base.metadata.tables) <= tables
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
        assert diff == []
    finally:
        store.dispose()


def test_upgrade_is_idempotent_and_reports_revisions(db_url: str) -> None:
    store = Store(db_url, upgrade=False)
    try:
        assert migrate.upgrade(store.engine, run_scripts=True) == (None, migrate.HEAD_REVISION)
        assert migrate.upgrade(store.engine) == (migrate.HEAD_REVISION, migrate.HEAD_REVISION)
    finally:
        store.dispose()


def test_older_database_is_upgraded_on_connect(sqlite_url: str) -> None:
    store = Store(sqlite_url, upgrade=False)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
    store.dispose()
    # An empty version table is what a database stamped before any revision looks like.
    reopened = Store(sqlite_url)
    try:
        with reopened.engine.connect() as conn:
            assert migrate.current_revision(conn) == migrate.HEAD_REVISION
    finally:
        reopened.dispose()
