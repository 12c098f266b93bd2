"""Lineage traversal queries on a small hand-made lineage, on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import insert

from lineage_magic.exceptions import InvalidQueryError, RecordNotFoundError
from lineage_magic.ids import node_id
from lineage_magic.store import queries, tables, writes
from lineage_magic.store.engine import Store
from lineage_magic.store.queries import Hop


RUN = "R" * 20
NOW = datetime(2025, 1, 6, tzinfo=timezone.utc)


def _server_database(config: pytest.Config, backend: str) -> Iterator[str]:
    """A fresh server database from the root conftest's helper."""
    # Found by path: every conftest module is named ``conftest``, so importing one by name is ambiguous.
    root = config.pluginmanager.get_plugin(str(Path(__file__).resolve().parents[1] / "conftest.py"))
    assert root is not None, "tests/conftest.py is not loaded"
    return root._fresh_server_database(backend)


def cell(i: int) -> str:
    return f"c{i:015d}"


POSITIONS = {"definition": 0, "lookup": 1, "other": 2, "mutation": 3}


def node(i: int, kind: str) -> str:
    return node_id(cell(i), POSITIONS[kind])  # a cell's nodes are found by their ids


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "mariadb"])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """Six cells: ``x{i} = f(x{i-1})``, and cell 5 also reads ``x1`` and mutates ``x4``.

    Cell links: 0 <- 1 <- 2 <- 3 <- 4 <- 5, and 1 <- 5. Built once per
    backend: the tests only read.
    """
    if request.param == "sqlite":
        urls: Iterator[str] = iter([f"sqlite:///{tmp_path_factory.mktemp('queries') / 'lineage.db'}"])
    else:
        urls = _server_database(request.config, request.param)
    opened = Store(next(urls))
    with opened.engine.begin() as conn:
        writes.start_run(conn, writes.RunStart(
            id=RUN, handle="me", transform_name="nb", transform_path=None, transform_title=None,
            transform_type="notebook", started_at=NOW, python_version="3", host="test-host", pid=1,
        ))
        rows = []
        for i in range(6):
            nodes = [{"id": node(i, "definition"), "kind": "definition", "run_id": RUN, "cell_id": cell(i),
                      "position": 0, "name": f"x{i}"}]
            edges, parents = [], []
            if i:
                nodes.append({"id": node(i, "lookup"), "kind": "lookup", "run_id": RUN, "cell_id": cell(i),
                              "position": 1, "name": f"x{i - 1}"})
                edges.append({"source_id": node(i - 1, "definition"), "target_id": node(i, "lookup"), "run_id": RUN})
                parents.append(cell(i - 1))
            if i == 5:
                nodes.append({"id": node(i, "other"), "kind": "lookup", "run_id": RUN, "cell_id": cell(i),
                              "position": 2, "name": "x1"})
                nodes.append({"id": node(i, "mutation"), "kind": "mutation", "run_id": RUN, "cell_id": cell(i),
                              "position": 3, "name": "x4"})
                edges.append({"source_id": node(1, "definition"), "target_id": node(i, "other"), "run_id": RUN})
                edges.append({"source_id": node(4, "definition"), "target_id": node(i, "mutation"), "run_id": RUN})
                parents.append(cell(1))
            rows.append(writes.CellWrite(
                cell={"id": cell(i), "run_id": RUN, "seq": i, "source_code_id": "s", "started_at": NOW,
                      "status": "ok"},
                source_id="s", source_code="x = 1", nodes=nodes, edges=edges, parents=parents,
            ))
        writes.write_cells(conn, rows)
        conn.execute(insert(tables.artifacts), [{
            "id": "A" * 16, "kind": "value", "name": "model", "version": 0, "run_id": RUN,
            "cell_id": cell(3), "node_id": node(3, "definition"), "created_at": NOW,
        }])
        conn.execute(insert(tables.run_inputs), [{"run_id": RUN, "artifact_id": "A" * 16}])
    yield opened
    opened.dispose()
    next(urls, None)  # drops the server database


def test_cell_upstream_keeps_the_shortest_depth(store: Store) -> None:
    with store.engine.connect() as conn:
        assert queries.cell_upstream(conn, cell(5)) == [
            Hop(cell(1), 1), Hop(cell(4), 1), Hop(cell(0), 2), Hop(cell(3), 2), Hop(cell(2), 3),
        ]
        assert queries.cell_upstream(conn, [cell(5)], depth=1) == [Hop(cell(1), 1), Hop(cell(4), 1)]
        assert queries.cell_upstream(conn, [cell(5)], depth=2) == queries.cell_upstream(conn, [cell(5)])[:4]
        assert queries.cell_upstream(conn, [cell(0)]) == []


def test_cell_downstream(store: Store) -> None:
    with store.engine.connect() as conn:
        assert queries.cell_downstream(conn, [cell(1)]) == [
            Hop(cell(2), 1), Hop(cell(5), 1), Hop(cell(3), 2), Hop(cell(4), 3),
        ]
        assert queries.cell_downstream(conn, [cell(1), cell(3)], depth=1) == [
            Hop(cell(2), 1), Hop(cell(4), 1), Hop(cell(5), 1),
        ]


@pytest.mark.parametrize("seen_max", [1, 3, 1_000])
def test_bounded_walks_across_several_legs_match_the_unbounded_one(store: Store, seen_max: int,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # PostgreSQL's one-statement walk hands over to legs once ``seen_max`` ids are seen.
    monkeypatch.setattr(queries, "LEG", 2)
    monkeypatch.setattr(queries, "MAX_IDS", 1)
    monkeypatch.setattr(queries, "ARRAY_SEEN", seen_max)
    with store.engine.connect() as conn:
        for depth in (1, 2, 3, 4, 100):
            unbounded = queries.cell_upstream(conn, [cell(5)])
            assert queries.cell_upstream(conn, [cell(5)], depth) == [h for h in unbounded if h.depth <= depth]
            unbounded = queries.node_downstream(conn, [node(0, "definition")])
            assert queries.node_downstream(conn, [node(0, "definition")], depth) == [
                h for h in unbounded if h.depth <= depth
            ]


def test_node_upstream_climbs_a_name_through_its_cells_reads(store: Store) -> None:
    with store.engine.connect() as conn:
        # x5 was defined in a cell that read x1 and x4 (and mutated x4).
        assert queries.node_upstream(conn, [node(5, "definition")]) == [
            Hop(node(1, "definition"), 1), Hop(node(4, "definition"), 1),
            Hop(node(0, "definition"), 2), Hop(node(3, "definition"), 2), Hop(node(2, "definition"), 3),
        ]
        # A lookup depends on what it read only, not on the rest of its cell.
        assert queries.node_upstream(conn, [node(5, "other")], depth=1) == [Hop(node(1, "definition"), 1)]


def test_node_downstream_reaches_readers_and_the_writers_of_their_cells(store: Store) -> None:
    with store.engine.connect() as conn:
        assert queries.node_downstream(conn, [node(3, "definition")]) == [
            Hop(node(4, "definition"), 1), Hop(node(4, "lookup"), 1),
            Hop(node(5, "definition"), 2), Hop(node(5, "lookup"), 2), Hop(node(5, "mutation"), 2),
        ]


def test_last_writer_node_is_the_latest_definition_or_mutation(store: Store) -> None:
    with store.engine.connect() as conn:
        assert queries.last_writer_node(conn, RUN, "x4") == node(5, "mutation")
        assert queries.last_writer_node(conn, RUN, "x2") == node(2, "definition")
        assert queries.last_writer_node(conn, RUN, "nothing") is None


def test_artifact_lineage(store: Store) -> None:
    with store.engine.connect() as conn:
        assert queries.artifact_upstream(conn, "A" * 16) == [
            Hop(cell(3), 0), Hop(cell(2), 1), Hop(cell(1), 2), Hop(cell(0), 3),
        ]
        assert queries.artifact_downstream(conn, "A" * 16, depth=1) == [Hop(cell(4), 1)]
        assert queries.artifact_consumers(conn, "A" * 16) == [RUN]
        with pytest.raises(RecordNotFoundError):
            queries.artifact_upstream(conn, "missing")


def test_queries_take_an_orm_session_too(store: Store) -> None:
    with store.session() as session:
        assert queries.cell_upstream(session, [cell(2)]) == [Hop(cell(1), 1), Hop(cell(0), 2)]


@pytest.mark.parametrize("depth", [0, -1, 1.5, True, "3"])
def test_bad_depth_is_refused(store: Store, depth: object) -> None:
    with store.engine.connect() as conn, pytest.raises(InvalidQueryError):
        queries.cell_upstream(conn, [cell(5)], depth)  # type: ignore[arg-type]


def test_no_start_no_query(store: Store) -> None:
    with store.engine.connect() as conn:
        assert queries.cell_upstream(conn, []) == []
        assert queries.node_downstream(conn, [], depth=3) == []
