"""Migrations: an empty database reaches head, models match the scripts, upgrades keep records."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import pytest

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, MetaData, String, Table, create_engine, insert, inspect, select, text, update

from lineage_magic.store import migrate
from lineage_magic.store.engine import Store
from lineage_magic.store.models import Base, Edge, Node


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
            diff = _schema_diff(conn)
            found = _triggers(conn)
        assert diff == []
        # Both ways make the triggers that delete a cell's nodes with it (store.triggers).
        assert found == ({"trg_cells_delete_nodes", "trg_runs_delete_nodes"} if store.dialect in ("mysql", "mariadb")
                         else {"trg_cells_delete_nodes"})
    finally:
        store.dispose()


def _schema_diff(conn) -> list:  # noqa: ANN001
    """What autogenerate would change, leaving out what the models create on other backends only."""
    def on_this_backend(obj, *_: object) -> bool:  # noqa: ANN001
        only = getattr(obj, "_ddl_if", None)  # Index(...).ddl_if(dialect=...)
        return only is None or only.dialect is None or conn.dialect.name in only.dialect

    context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": on_this_backend})
    return compare_metadata(context, Base.metadata)


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


def _0002_tables() -> dict[str, Table]:
    """Today's tables as revision 0002 had them: nodes and edges with a run id."""
    old = MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(old)
    for name in ("nodes", "edges"):
        old.tables[name].append_column(Column("run_id", String(20), nullable=False))
    return dict(old.tables)


def _fill_0002(conn, *, run_ids: bool = True) -> dict[str, list[tuple]]:  # noqa: ANN001
    """Two runs of recorded lineage in a 0002 schema (nodes and edges with a run id).

    With ``run_ids=False``, the same records in the schema of 0003 and later.
    """
    t = _0002_tables() if run_ids else dict(Base.metadata.tables)
    now = datetime(2025, 2, 3, 4, 5, 6, 789000, tzinfo=timezone.utc)
    conn.execute(insert(t["users"]), [{"id": "u" * 8, "handle": "ana", "created_at": now}])
    conn.execute(insert(t["transforms"]), [{"id": "t" * 12, "version": "0", "name": "nb", "type": "notebook",
                                            "created_by_id": "u" * 8, "created_at": now}])
    runs = ["a" * 20, "b" * 20]
    conn.execute(insert(t["runs"]), [{"id": r, "transform_id": "t" * 12, "status": "finished",
                                      "created_at": now, "started_at": now} for r in runs])
    code = "y = f(x)"
    digest = hashlib.sha256(code.encode()).hexdigest()
    conn.execute(insert(t["source_code"]), [{"id": digest, "code": code}])
    cells, nodes, edges, links = [], [], [], []
    for r, run in enumerate(runs):
        for seq in range(3):
            cid = f"{r}{seq}" * 8
            cells.append({"id": cid, "run_id": run, "seq": seq, "depth": 0, "source_code_id": digest,
                          "started_at": now, "status": "ok", "outputs": [{"text": f"{seq}"}]})
            nodes.append({"id": cid + "0000", "kind": "definition", "run_id": run, "cell_id": cid,
                          "position": 0, "name": f"v{seq}", "args": None, "value_repr": "1"})
            if seq:
                parent = f"{r}{seq - 1}" * 8
                nodes.append({"id": cid + "0001", "kind": "lookup", "run_id": run, "cell_id": cid,
                              "position": 1, "name": f"v{seq - 1}", "args": ["a", 1], "value_repr": None})
                edges.append({"source_id": parent + "0000", "target_id": cid + "0001", "run_id": run})
                links.append({"parent_id": parent, "child_id": cid})
    if not run_ids:
        for row in nodes + edges:
            del row["run_id"]
    conn.execute(insert(t["cells"]), cells)
    conn.execute(insert(t["nodes"]), nodes)
    conn.execute(insert(t["edges"]), edges)
    conn.execute(insert(t["cell_links"]), links)
    conn.execute(insert(t["artifacts"]), [{"id": "f" * 16, "kind": "value", "name": "v", "version": 0,
                                           "run_id": runs[0], "cell_id": "00" * 8, "node_id": "00" * 8 + "0000",
                                           "created_at": now}])
    return _dump(conn)


def _dump(conn) -> dict[str, list[tuple]]:  # noqa: ANN001
    """Every row of the lineage tables (the columns both revisions have)."""
    out = {}
    for name in ("users", "transforms", "runs", "source_code", "cells", "nodes", "edges", "cell_links", "artifacts"):
        table = Base.metadata.tables[name]
        out[name] = [tuple(row) for row in conn.execute(select(table).order_by(*table.primary_key.columns))]
    return out


def test_upgrading_a_0002_database_keeps_its_records(db_url: str) -> None:
    store = Store(db_url, upgrade=False)
    try:
        assert migrate.upgrade(store.engine, "0002", run_scripts=True) == (None, "0002")
        with store.engine.begin() as conn:
            before = _fill_0002(conn)
        assert migrate.upgrade(store.engine) == ("0002", migrate.HEAD_REVISION)
        with store.engine.connect() as conn:
            after = _dump(conn)
            assert "run_id" not in [c["name"] for c in inspect(conn).get_columns("nodes")]
            diff = _schema_diff(conn)
            if conn.dialect.name == "sqlite":
                assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        assert after == before
        assert len(after["nodes"]) == 10 and len(after["edges"]) == 4 and len(after["cell_links"]) == 4
        assert diff == []
    finally:
        store.dispose()
    # The models read the upgraded records, the run of a node through its cell.
    reopened = Store(db_url)
    try:
        with reopened.session() as session:
            node = session.get(Node, "12" * 8 + "0001")
            assert (node.run_id, node.args, type(node).__name__) == ("b" * 20, ["a", 1], "LookupNode")
            edge = session.get(Edge, ("11" * 8 + "0000", "12" * 8 + "0001"))
            assert edge.run_id == "b" * 20
    finally:
        reopened.dispose()


def test_0003_downgrades_to_0002_with_the_run_ids_back(db_url: str) -> None:
    store = Store(db_url, upgrade=False)
    try:
        migrate.upgrade(store.engine, "0002", run_scripts=True)
        with store.engine.begin() as conn:
            before = _fill_0002(conn)
            run_ids = conn.execute(text("SELECT id, run_id FROM nodes ORDER BY id")).all()
        migrate.upgrade(store.engine)
        assert migrate.downgrade(store.engine, "0002") == "0002"
        with store.engine.connect() as conn:
            assert _dump(conn) == before
            assert conn.execute(text("SELECT id, run_id FROM nodes ORDER BY id")).all() == run_ids
            assert migrate.current_revision(conn) == "0002"
    finally:
        store.dispose()


def test_0005_gives_session_added_nodes_their_cells_id_and_keeps_their_links(db_url: str) -> None:
    # Before 0005 a node added through a session got a random id; a cell's
    # nodes are now found by the range of ids that start with the cell's id.
    store = Store(db_url, upgrade=False)
    try:
        migrate.upgrade(store.engine, "0004", run_scripts=True)
        with store.engine.begin() as conn:
            _fill_0002(conn, run_ids=False)  # cell "00" * 8 has node ...0000; cell "01" * 8 has ...0000 and ...0001
            t = Base.metadata.tables
            cell = "01" * 8
            conn.execute(insert(t["nodes"]), [
                {"id": "R" * 20, "kind": "definition", "cell_id": cell, "position": 1, "name": "made"},
                {"id": "S" * 20, "kind": "lookup", "cell_id": cell, "position": 7, "name": "used"},
            ])
            conn.execute(insert(t["edges"]), [{"source_id": "R" * 20, "target_id": "S" * 20},
                                              {"source_id": "00" * 8 + "0000", "target_id": "R" * 20}])
            conn.execute(update(t["artifacts"]).values(node_id="R" * 20))
        migrate.upgrade(store.engine)
        with store.engine.connect() as conn:
            nodes = dict(conn.execute(text("SELECT id, name FROM nodes WHERE cell_id = :c"), {"c": cell}).all())
            edges = set(conn.execute(text("SELECT source_id, target_id FROM edges")).all())
            artifact_node = conn.execute(text("SELECT node_id FROM artifacts")).scalar_one()
            if conn.dialect.name == "sqlite":
                assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        # Position 1 was taken by the recorded lookup: the next free one.
        assert nodes == {cell + "0000": "v1", cell + "0001": "v0", cell + "0002": "made", cell + "0007": "used"}
        assert {(cell + "0002", cell + "0007"), ("00" * 8 + "0000", cell + "0002")} <= edges
        assert len(edges) == 6 and artifact_node == cell + "0002"
    finally:
        store.dispose()


def test_0006_removes_nodes_left_behind_and_deletes_nodes_with_their_cells(db_url: str) -> None:
    # Between 0005 and 0006 a delete outside a session left a cell's nodes behind.
    store = Store(db_url, upgrade=False)
    count = text("SELECT count(*) FROM nodes")
    try:
        migrate.upgrade(store.engine, "0005", run_scripts=True)
        with store.engine.begin() as conn:
            _fill_0002(conn, run_ids=False)
            total = conn.execute(count).scalar_one()
            gone = conn.execute(text("SELECT count(*) FROM nodes WHERE cell_id = :c"), {"c": "00" * 8}).scalar_one()
            conn.execute(text("DELETE FROM cells WHERE id = :c"), {"c": "00" * 8})
            assert conn.execute(count).scalar_one() == total and gone > 0
        migrate.upgrade(store.engine)
        with store.engine.begin() as conn:
            assert conn.execute(count).scalar_one() == total - gone
            conn.execute(text("DELETE FROM runs"))  # cascades to the cells, and the triggers to their nodes
            assert conn.execute(count).scalar_one() == 0
            assert _triggers(conn) != set()
        assert migrate.downgrade(store.engine, "0005") == "0005"
        with store.engine.connect() as conn:
            assert _triggers(conn) == set()
    finally:
        store.dispose()


def _triggers(conn) -> set[str]:  # noqa: ANN001
    """The names of the triggers in the database."""
    query = {
        "sqlite": "SELECT name FROM sqlite_master WHERE type = 'trigger'",
        "postgresql": "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal",
    }.get(conn.dialect.name, "SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = DATABASE()")
    return set(conn.exec_driver_sql(query).scalars())


def test_sqlite_keeps_key_only_tables_without_rowid(sqlite_url: str, tmp_path) -> None:  # noqa: ANN001
    scripted = f"sqlite:///{tmp_path / 'scripted.db'}"
    for url, run_scripts in ((sqlite_url, False), (scripted, True)):
        store = Store(url, upgrade=False)
        try:
            migrate.upgrade(store.engine, run_scripts=run_scripts)
            with store.engine.connect() as conn:
                ddl = dict(conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'table'").all())
        finally:
            store.dispose()
        for name in ("nodes", "edges", "cell_links", "cell_files"):
            assert ddl[name].rstrip().endswith("WITHOUT ROWID"), (url, name)
        assert "WITHOUT ROWID" not in ddl["cells"]
