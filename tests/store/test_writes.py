"""The recorder's bulk write path stores exactly what Core inserts store, atomically."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from lineage_magic.ids import node_id
from lineage_magic.store import tables, writes
from lineage_magic.store.engine import Store
from started import RUN, START

CODE = "df = load('data.csv')\nprint(df)"
SOURCE = hashlib.sha256(CODE.encode()).hexdigest()


def _cell(cid: str, seq: int, **extra: Any) -> dict[str, Any]:
    row = {
        "id": cid, "run_id": RUN, "seq": seq, "execution_count": seq + 1, "depth": 0,
        "notebook_cell_id": f"nb-{seq}", "source_code_id": SOURCE,
        "started_at": START + timedelta(seconds=seq), "duration_ms": 1.25 * seq, "status": "ok",
        "error_type": None, "error_message": None, "error_line": None,
        "outputs": [{"output_type": "execute_result", "mime": ["text/plain"], "text": "ünïcode ✓"}],
    }
    row.update(extra)
    return row


def _node(cid: str, position: int, kind: str, name: str, **extra: Any) -> dict[str, Any]:
    # As the recorder builds them, with the run id the table no longer has.
    row = {
        "id": node_id(cid, position), "kind": kind, "run_id": RUN, "cell_id": cid, "position": position,
        "name": name, "lineno": 1, "col_offset": 0, "end_lineno": 1, "end_col_offset": 12,
        "module": None, "library_version": None, "args": None, "value_type": None,
        "value_repr": None, "value_len": None, "value_shape": None,
    }
    row.update(extra)
    return row


def _batch(first: str, second: str, seq: int = 0) -> list[writes.CellWrite]:
    return [
        writes.CellWrite(
            cell=_cell(first, seq), source_id=SOURCE, source_code=CODE,
            nodes=[
                _node(first, 0, "import", "np", module="numpy", library_version="2.1.3"),
                _node(first, 1, "definition", "df", value_type="pandas.DataFrame", value_repr="<df>",
                      value_len=3, value_shape="3x2"),
            ],
            libraries=[{"run_id": RUN, "name": "numpy", "version": "2.1.3"}],
        ),
        writes.CellWrite(
            cell=_cell(second, seq + 1, status="error", error_type="KeyError", error_message="'x'",
                       error_line=2, outputs=None),
            source_id=SOURCE, source_code=None,
            nodes=[
                _node(second, 0, "lookup", "df"),
                _node(second, 1, "call", "print", args=["df", {"sep": "\t"}]),
                _node(second, 2, "mutation", "df", args=["append"]),
            ],
            edges=[
                {"source_id": node_id(first, 1), "target_id": node_id(second, 0), "run_id": RUN},
                {"source_id": node_id(first, 1), "target_id": node_id(second, 2), "run_id": RUN},
            ],
            parents=[first],
        ),
        # No outputs at all (most cells): an empty list, not NULL.
        writes.CellWrite(cell=_cell(first[:-1] + "z", seq + 2, outputs=[]), source_id=SOURCE, source_code=None),
    ]


def _raw(store: Store, table: Any) -> list[tuple[Any, ...]]:
    """Rows as the driver returns them, no type processing: what is stored."""
    columns = ", ".join(c.name for c in table.columns)
    key = ", ".join(c.name for c in table.primary_key.columns)
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(f"SELECT {columns} FROM {table.name} ORDER BY {key}")]


def _core_write(conn: Any, cells: list[writes.CellWrite]) -> None:
    """The same rows through plain Core inserts (the reference)."""
    def keep(table: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k in table.c} for r in rows]

    writes.insert_ignore(conn, tables.source_code,
                         [{"id": c.source_id, "code": c.source_code} for c in cells if c.source_code])
    conn.execute(insert(tables.cells), [c.cell for c in cells])
    conn.execute(insert(tables.nodes), keep(tables.nodes, [n for c in cells for n in c.nodes]))
    conn.execute(insert(tables.edges), keep(tables.edges, [e for c in cells for e in c.edges]))
    conn.execute(insert(tables.cell_links), [{"parent_id": p, "child_id": c.cell["id"]}
                                             for c in cells for p in c.parents])
    writes.insert_ignore(conn, tables.libraries, [lib for c in cells for lib in c.libraries])


def test_bulk_write_stores_what_core_inserts_store(store: Store) -> None:
    with store.engine.begin() as conn:
        writes.write_cells(conn, _batch("a" * 16, "b" * 16))
    fast = {t.name: _raw(store, t) for t in (tables.cells, tables.nodes, tables.edges, tables.cell_links)}
    with store.engine.begin() as conn:
        for table in (tables.cell_links, tables.edges, tables.nodes, tables.cells):
            conn.execute(table.delete())
        _core_write(conn, _batch("a" * 16, "b" * 16))
    core = {t.name: _raw(store, t) for t in (tables.cells, tables.nodes, tables.edges, tables.cell_links)}
    assert fast == core
    assert [len(rows) for rows in fast.values()] == [3, 5, 2, 1]


def test_a_large_batch_stores_what_core_inserts_store(store: Store) -> None:
    # Hundreds of rows per table, in groups of rows with the same NULL columns.
    batch = [cell for k in range(600) for cell in _batch(f"{k:015d}a", f"{k:015d}b", seq=3 * k)]
    names = (tables.cells, tables.nodes, tables.edges, tables.cell_links)
    with store.engine.begin() as conn:
        writes.write_cells(conn, batch)
    fast = {t.name: _raw(store, t) for t in names}
    with store.engine.begin() as conn:
        for table in reversed(names):
            conn.execute(table.delete())
        _core_write(conn, batch)
    core = {t.name: _raw(store, t) for t in names}
    assert [len(fast[t.name]) for t in names] == [1_800, 3_000, 1_200, 600]
    assert fast == core


def test_bulk_write_reads_back_through_the_models(store: Store) -> None:
    from lineage_magic.store.models import Cell, Edge, Node

    first, second = "a" * 16, "b" * 16
    with store.engine.begin() as conn:
        writes.write_cells(conn, _batch(first, second))
    with store.session() as session:
        cells = session.scalars(select(Cell).order_by(Cell.seq)).all()
        assert [c.started_at for c in cells] == [START + timedelta(seconds=k) for k in range(3)]
        assert cells[0].outputs[0]["text"] == "ünïcode ✓" and cells[1].outputs is None and cells[2].outputs == []
        assert cells[1].source == CODE and cells[1].error_line == 2
        call = session.get(Node, node_id(second, 1))
        assert call.args == ["df", {"sep": "\t"}] and call.run_id == RUN
        assert [p.id for p in cells[1].parents] == [first]
        edge = session.scalars(select(Edge).where(Edge.target_id == node_id(second, 2))).one()
        assert (edge.source_id, edge.run_id) == (node_id(first, 1), RUN)


def test_missing_keys_take_the_column_defaults(store: Store) -> None:
    cid = "c" * 16
    cell = {k: v for k, v in _cell(cid, 0).items() if k not in ("depth", "error_line", "outputs")}
    node = {"id": node_id(cid, 0), "kind": "definition", "run_id": RUN, "cell_id": cid, "name": "x"}
    with store.engine.begin() as conn:
        writes.write_cells(conn, [writes.CellWrite(cell=cell, source_id=SOURCE, source_code=CODE, nodes=[node])])
    with store.engine.connect() as conn:
        assert conn.execute(select(tables.cells.c.depth, tables.cells.c.outputs)).one() == (0, None)
        assert conn.execute(select(tables.nodes.c.position, tables.nodes.c.lineno)).one() == (0, None)


def test_a_rejected_batch_raises_integrity_error_and_writes_nothing(store: Store) -> None:
    first, second = "a" * 16, "b" * 16
    with store.engine.begin() as conn:
        writes.write_cells(conn, _batch(first, second)[:1])
    batch = _batch("d" * 16, "e" * 16, seq=1)
    batch[1].nodes.append(_node(first, 0, "lookup", "again"))  # a node id that exists
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        writes.write_cells(conn, batch)
    with store.engine.connect() as conn:
        assert conn.execute(select(tables.cells.c.id)).scalars().all() == [first]
        assert len(conn.execute(select(tables.nodes.c.id)).all()) == 2
    # The connection went back to the pool usable.
    with store.engine.begin() as conn:
        writes.write_cells(conn, _batch("d" * 16, "e" * 16, seq=1))
    assert len(_raw(store, tables.cells)) == 4


JSON_VALUES = [
    [], [""], ["df"], ["df", "model_2", "x y", "a~!#[]{}"], ['say "hi"'], ["back\\slash"], ["tab\there"],
    ["new\nline"], ["\x7f"], ["\x00"], ["ünïcode"], ["✓"], ["a", 1], [None], [["nested"]], [{"k": "v"}],
    [1.5, True], {"a": ["b"]}, "text", 3, 0.25,
]


def test_json_columns_store_the_text_json_dumps_makes(store: Store) -> None:
    import json

    with store.engine.connect() as conn:
        plan = writes._plan(conn, tables.nodes)
        core = tables.nodes.c.args.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    process = dict(plan.processors)[list(tables.nodes.c.keys()).index("args")]
    for value in JSON_VALUES:
        ours, theirs = process(value), core(value)
        if isinstance(theirs, str):  # SQLite, MariaDB: the JSON text
            assert ours == theirs == json.dumps(value), value
        else:  # PostgreSQL: psycopg's wrapper, left to the driver
            assert type(ours) is type(theirs) and ours.obj == theirs.obj, value
