"""A cell's nodes are a range of the nodes' primary key (no index on ``nodes.cell_id``).

The nodes table keeps its cell's id in a column with neither an index nor a
foreign key: reads go through ``tables.cell_nodes``, and triggers delete a
cell's nodes with the cell (``store.triggers``), however it is deleted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import delete, event, func, select, text

from lineage_magic.ids import node_id
from lineage_magic.lineagedb import LineageDB
from lineage_magic.store import queries, tables, writes
from lineage_magic.store.engine import Store
from lineage_magic.store.models import Cell, DefinitionNode, Run
from lineage_magic.views.data import load_record
from lineage_magic.views.lineage import has_variable, lineage_graph

from started import RUN, open_store
from test_writes import _batch

FIRST, SECOND = "a" * 16, "b" * 16
# Ids that sort right beside FIRST's nodes: a range that were one character
# too wide would take their nodes too.
NEIGHBOURS = ("a" * 15 + "Z", "a" * 15 + "b", "a" * 15 + "A")


def _record(store: Store) -> Store:
    batch = _batch(FIRST, SECOND)
    for seq, cid in enumerate(NEIGHBOURS, start=10):
        batch.append(writes.CellWrite(
            cell={**batch[0].cell, "id": cid, "seq": seq},
            source_id=batch[0].source_id, source_code=None,
            nodes=[{**n, "id": node_id(cid, n["position"]), "cell_id": cid} for n in batch[0].nodes],
        ))
    with store.engine.begin() as conn:
        writes.write_cells(conn, batch)
    return store


@pytest.fixture
def recorded(store: Store) -> Store:
    return _record(store)


@pytest.fixture
def recorded_sqlite(sqlite_url: str) -> Iterator[Store]:
    with open_store(sqlite_url) as opened:
        yield _record(opened)


def _count(store: Store, table: Any) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_a_cells_nodes_are_exactly_the_nodes_with_its_id(recorded: Store) -> None:
    with recorded.engine.connect() as conn:
        found = conn.execute(select(tables.nodes.c.id).where(tables.cell_nodes(FIRST))).scalars().all()
    assert sorted(found) == [node_id(FIRST, 0), node_id(FIRST, 1)]
    with recorded.session() as session:
        cell = session.get(Cell, SECOND)
        assert [(n.position, n.kind) for n in cell.nodes] == [(0, "lookup"), (1, "call"), (2, "mutation")]
        assert cell.nodes[0].cell.id == SECOND
    # Cell.nodes joins through the key range and one cell-id equality.
    assert str(Cell.nodes.property.primaryjoin).count("nodes.cell_id = cells.id") == 1
    with LineageDB(store=recorded) as db:
        in_run = [n.id for n in db.get_nodes_for_run(RUN)]
    assert in_run[:5] == [
        node_id(FIRST, 0), node_id(FIRST, 1), node_id(SECOND, 0), node_id(SECOND, 1), node_id(SECOND, 2)
    ]
    record = load_record(recorded, "cell", FIRST)
    nodes = next(page for page in record.groups if page.group == "nodes")
    assert ([ref.id for ref in nodes.items], nodes.total) == ([node_id(FIRST, 0), node_id(FIRST, 1)], 2)


def test_a_node_added_through_a_session_gets_its_cells_id_and_position(recorded: Store) -> None:
    with recorded.session() as session:
        session.add(DefinitionNode(cell=session.get(Cell, FIRST), name="added", position=7))
        session.commit()
        cell = session.get(Cell, FIRST)
        session.refresh(cell)
        assert [n.id for n in cell.nodes] == [node_id(FIRST, 0), node_id(FIRST, 1), node_id(FIRST, 7)]


def test_deleting_a_cell_or_a_run_deletes_their_nodes_and_edges(recorded: Store) -> None:
    nodes, edges = _count(recorded, tables.nodes), _count(recorded, tables.edges)
    assert (nodes, edges) == (2 + 3 + 2 * len(NEIGHBOURS), 2)
    with recorded.session() as session:
        session.delete(session.get(Cell, FIRST))
        session.commit()
    # FIRST's two nodes, and both edges (their source was FIRST's definition).
    assert (_count(recorded, tables.nodes), _count(recorded, tables.edges)) == (nodes - 2, 0)
    with recorded.engine.connect() as conn:
        assert conn.execute(select(tables.nodes.c.id).where(tables.cell_nodes(NEIGHBOURS[1]))).all()
    with recorded.session() as session:
        session.delete(session.get(Run, RUN))
        session.commit()
    assert [_count(recorded, t) for t in (tables.cells, tables.nodes, tables.edges)] == [0, 0, 0]


@pytest.mark.parametrize("how", ["bulk", "core", "sql"])
def test_deleting_cells_or_runs_outside_a_session_deletes_their_nodes(recorded: Store, how: str) -> None:
    def remove(table: Any, key: str) -> None:
        if how == "bulk":  # an ORM bulk delete: no objects, no mapper events
            model = Cell if table is tables.cells else Run
            with recorded.session() as session:
                session.execute(delete(model).where(model.id == key))
                session.commit()
        elif how == "core":
            with recorded.engine.begin() as conn:
                conn.execute(delete(table).where(table.c.id == key))
        else:
            with recorded.engine.begin() as conn:
                conn.execute(text(f"DELETE FROM {table.name} WHERE id = :key"), {"key": key})

    nodes = _count(recorded, tables.nodes)
    remove(tables.cells, FIRST)
    assert (_count(recorded, tables.nodes), _count(recorded, tables.edges)) == (nodes - 2, 0)
    with recorded.engine.connect() as conn:  # the neighbours' nodes are still there
        assert all(conn.execute(select(tables.nodes.c.id).where(tables.cell_nodes(n))).all() for n in NEIGHBOURS)
    remove(tables.runs, RUN)  # the database cascades to the cells, the triggers to their nodes
    assert [_count(recorded, t) for t in (tables.cells, tables.nodes, tables.edges)] == [0, 0, 0]


def test_the_sqlite_trigger_deletes_a_cells_nodes_by_their_key_range(recorded_sqlite: Store) -> None:
    with recorded_sqlite.engine.connect() as conn:
        body = conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'cells'"
        ).scalar_one()
        statement = body[body.index("DELETE FROM"):body.rindex(";")].replace("old.id", "?")
        plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, (FIRST,) * 3).all()
    steps = [row[-1] for row in plan]
    # The nodes by their key range; then the foreign keys' searches for what refers to them.
    assert steps[0] == "SEARCH nodes USING PRIMARY KEY (id>? AND id<?)"
    assert not [step for step in steps if step.startswith("SCAN")], steps


@contextmanager
def _plans(store: Store) -> Iterator[list[tuple[str, str]]]:
    """Each SQLite statement run while the block runs, with its query plan."""
    seen: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "DELETE", "WITH")):
            seen.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", keep)
    found: list[tuple[str, str]] = []
    try:
        yield found
    finally:
        event.remove(store.engine, "before_cursor_execute", keep)
    with store.engine.connect() as conn:
        for statement, parameters in seen:
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            found.extend((statement, row[-1]) for row in plan)


def test_no_statement_that_reads_a_cells_nodes_scans_the_nodes_table(recorded_sqlite: Store) -> None:
    # Query plans are read from SQLite's EXPLAIN QUERY PLAN.
    recorded = recorded_sqlite
    with _plans(recorded) as found:
        load_record(recorded, "cell", SECOND)
        with LineageDB(store=recorded) as db:
            db.get_nodes_for_run(RUN)
        with recorded.engine.connect() as conn:
            # The last cell of the run that defines df.
            assert queries.last_writer_node(conn, RUN, "df") == node_id(NEIGHBOURS[-1], 1)
        assert has_variable(recorded, "df", RUN)
        lineage_graph(recorded, "name", "df", run=RUN)
        lineage_graph(recorded, "cell", SECOND)
        lineage_graph(recorded, "cell", FIRST)
        with recorded.engine.connect() as conn:
            up = queries.node_upstream(conn, [node_id(SECOND, 2)], depth=5)
            down = queries.node_downstream(conn, [node_id(FIRST, 1)], depth=5)
        # A mutation reads what its cell's lookups read; a definition feeds the
        # readers and every writer of their cells.
        assert [h.id for h in up] == [node_id(FIRST, 1)]
        assert {h.id for h in down} == {node_id(SECOND, 0), node_id(SECOND, 2)}
        with recorded.session() as session:
            assert len(session.get(Cell, SECOND).nodes) == 3
            session.delete(session.get(Run, RUN))
            session.commit()
    assert len(found) > 10
    # Full scans of a lineage table, under its name or any alias a query gives it.
    aliases = {"nodes", "edges", "cells", "cell_links", "this", "other", "reader", "link", "nodes_1", "nodes_2"}
    scans = [(statement, step) for statement, step in found
             if step.startswith("SCAN ") and step.split()[1] in aliases]
    assert scans == []
