"""The scale benchmark at 1 % of its size: the builder and every query it times give right answers.

Timings are the benchmark's business (``bench/scale.py``); these tests check
results, so that the benchmark cannot rot and the lineage queries stay
correct on a store of ten thousand cells, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import importlib.util
import sys
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import func, select

from lineage_magic.lineagedb import LineageDB
from lineage_magic.store import queries, tables
from lineage_magic.store.engine import Store
from lineage_magic.store.queries import Hop
from lineage_magic.views.data import list_runs, load_page, load_record


SCALE = 0.01


def _server_database(config: pytest.Config, backend: str) -> Iterator[str]:
    """A fresh server database from the root conftest's helper."""
    # Found by path: every conftest module is named ``conftest``, so importing one by name is ambiguous.
    root = config.pluginmanager.get_plugin(str(Path(__file__).resolve().parents[1] / "conftest.py"))
    assert root is not None, "tests/conftest.py is not loaded"
    return root._fresh_server_database(backend)


def _load_bench() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "bench" / "scale.py"
    spec = importlib.util.spec_from_file_location("lineage_magic_bench_scale", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bench = _load_bench()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, object]]:
    """A 1 % synthetic store on each backend, built once per module."""
    if request.param == "sqlite":
        urls: Iterator[str] = iter([f"sqlite:///{tmp_path_factory.mktemp('scale') / 'scale.db'}"])
    else:
        urls = _server_database(request.config, "postgresql")
    url = next(urls)
    result = bench.build(url, SCALE)
    store = Store(url)
    try:
        yield store, result
    finally:
        store.dispose()
        next(urls, None)  # drops the server database


def _bfs(parents: dict[str, list[str]], start: str, depth: int | None) -> list[Hop]:
    """Shortest distances by breadth-first search over the generated links."""
    seen, found, queue = {start}, [], deque([(start, 0)])
    while queue:
        current, distance = queue.popleft()
        if depth is not None and distance == depth:
            continue
        for nxt in parents.get(current, ()):
            if nxt not in seen:
                seen.add(nxt)
                found.append(Hop(nxt, distance + 1))
                queue.append((nxt, distance + 1))
    return sorted(found, key=lambda hop: (hop.depth, hop.id))


def _links(run: object, up: bool) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for index, cell in enumerate(run.cells):
        for parent in run.parents(index):
            near, far = (cell, run.cells[parent]) if up else (run.cells[parent], cell)
            out.setdefault(near, []).append(far)
    return out


def _runs(result: object, *, chain_only: bool) -> list[object]:
    return [r for r in result.runs if r.chain_only is chain_only and len(r.cells) > 150]


def test_builder_writes_the_counts_it_reports(built: tuple[Store, object]) -> None:
    store, result = built
    counts = result.counts
    assert counts["runs"] == 10 and counts["cells"] == 10_000 and counts["artifacts"] == 1_000
    with store.engine.connect() as conn:
        for name in ("runs", "cells", "nodes", "edges", "cell_links", "artifacts"):
            assert conn.execute(select(func.count()).select_from(tables.metadata.tables[name])).scalar() == counts[name]
        # Sources are stored once: far fewer than the cells that ran them.
        assert conn.execute(select(func.count()).select_from(tables.source_code)).scalar() <= 200
    assert 4 <= (counts["nodes"] + counts["edges"]) / counts["cells"] <= 6


def test_upstream_at_depth_100_of_a_chain_is_exactly_its_100_ancestors(built: tuple[Store, object]) -> None:
    store, result = built
    run = _runs(result, chain_only=True)[0]
    last = len(run.cells) - 1
    with store.engine.connect() as conn:
        found = queries.cell_upstream(conn, [run.cells[last]], depth=100)
        nodes = queries.node_upstream(conn, [bench.node_id(run.cells[last], 0)], depth=100)
    assert found == [Hop(run.cells[last - d], d) for d in range(1, 101)]
    assert nodes == [Hop(bench.node_id(run.cells[last - d], 0), d) for d in range(1, 101)]


@pytest.mark.parametrize("depth", [1, 7, 100, None])
def test_cell_walks_over_diamonds_match_a_breadth_first_search(built: tuple[Store, object],
                                                              depth: int | None) -> None:
    store, result = built
    run = _runs(result, chain_only=False)[0]
    up, down = _links(run, up=True), _links(run, up=False)
    start_up, start_down = run.cells[-1], run.cells[len(run.cells) // 2]
    with store.engine.connect() as conn:
        assert queries.cell_upstream(conn, [start_up], depth) == _bfs(up, start_up, depth)
        assert queries.cell_downstream(conn, [start_down], depth) == _bfs(down, start_down, depth)


def test_node_walks_climb_names_across_cells(built: tuple[Store, object]) -> None:
    store, result = built
    run = _runs(result, chain_only=False)[0]
    up = _links(run, up=True)
    start = run.cells[-1]
    expected = {hop.id: hop.depth for hop in _bfs(up, start, 30)}
    with store.engine.connect() as conn:
        found = queries.node_upstream(conn, [bench.node_id(start, 0)], depth=30)
        writer = queries.last_writer_node(conn, run.id, f"v{len(run.cells) - 1}")
    # Every definition upstream is the definition of an upstream cell, at the cell's distance.
    assert {bench.node_id(c, 0): d for c, d in expected.items()} == {h.id: h.depth for h in found}
    assert writer == bench.node_id(start, 0)


def test_cells_page_returns_the_right_50_rows_in_order(built: tuple[Store, object]) -> None:
    store, result = built
    run = result.runs[0]
    page = load_page(store, "run", run.id, "cells", offset=100, limit=50)
    assert [ref.id for ref in page.items] == run.cells[100:150]
    assert page.total == len(run.cells)
    assert page.items[0].label.startswith("[100] ")  # the label carries the cell's source
    last = load_page(store, "run", run.id, "cells", offset=len(run.cells) - 20, limit=50)
    assert [ref.id for ref in last.items] == run.cells[-20:] and last.total == len(run.cells)
    past = load_page(store, "run", run.id, "cells", offset=len(run.cells) + 50, limit=50)
    assert past.items == () and past.total == len(run.cells)
    parents = load_page(store, "cell", run.cells[7], "parents")
    assert [ref.id for ref in parents.items] == [run.cells[6]] and parents.total == 1


def test_runs_browser_counts_past_its_last_page(built: tuple[Store, object]) -> None:
    store, result = built
    page = list_runs(store, offset=len(result.runs) + 5, limit=20)
    assert page.rows == () and page.total == len(result.runs)


def test_latest_artifact_version_is_the_highest(built: tuple[Store, object]) -> None:
    store, result = built
    db = LineageDB(store=store)
    try:
        for name in sorted(result.artifact_versions)[:20]:
            latest = db.get_artifact_by_name(name)
            assert latest.version == result.artifact_versions[name] == db.get_latest_artifact_version(name)
    finally:
        db.close()


def test_artifact_lineage_starts_at_its_producing_cell(built: tuple[Store, object]) -> None:
    store, _ = built
    with store.engine.connect() as conn:
        artifact = conn.execute(
            select(tables.artifacts.c.id, tables.artifacts.c.cell_id).order_by(tables.artifacts.c.id).limit(1)
        ).one()
        hops = queries.artifact_upstream(conn, artifact.id, depth=3)
        assert hops[0] == Hop(artifact.cell_id, 0)
        assert hops[1:] == queries.cell_upstream(conn, [artifact.cell_id], depth=3)
        assert queries.artifact_downstream(conn, artifact.id, 2) == queries.cell_downstream(conn, [artifact.cell_id], 2)
        consumers = conn.execute(
            select(tables.run_inputs.c.run_id).where(tables.run_inputs.c.artifact_id == artifact.id)
        ).scalars().all()
        assert sorted(queries.artifact_consumers(conn, artifact.id)) == sorted(consumers)


def test_runs_browser_search_finds_the_runs_of_a_transform(built: tuple[Store, object]) -> None:
    store, result = built
    transform = result.runs[3].transform
    expected = [r.id for r in result.runs if r.transform == transform]
    page = list_runs(store, search=transform, limit=20)
    assert page.total == len(expected)
    assert [row.id for row in page.rows] == list(reversed(expected))  # newest first


def test_record_view_of_the_5000_cell_run(built: tuple[Store, object]) -> None:
    store, result = built
    record = load_record(store, "run", result.big_run)
    assert record.field("cells") == 5_000
    cells = record.group("cells")
    assert cells.total == 5_000
    assert [ref.id for ref in cells.items] == result.runs[0].cells[:50]
    assert record.group("libraries").total == len(bench.LIBRARIES)


def test_both_backends_print_postgresqls_ratios_to_sqlite(capsys: pytest.CaptureFixture[str]) -> None:
    def result(median: float, p95: float, rate: int) -> dict[str, object]:
        return {"queries": {"cells page (50 of a run)": {"median_ms": median, "p95_ms": p95}},
                "write": {"cells_per_s": rate}}

    bench.print_ratios(result(1.5, 4.0, 18_000), result(3.3, 5.0, 6_000))
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2].split()[-2:] == ["2.2x", "1.2x"]  # median, p95
    assert lines[-1].endswith("3.0x")
