"""Benchmark of the views: opening a 5,000-cell run, searching runs, big graphs.

Run: ``python bench/views.py [--json views-bench.json] [--url sqlite:///...]``.
Prints a table and writes the timings as JSON. Each figure is the best of
``--repeat`` runs, in milliseconds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from lineage_magic.store.engine import Store
from lineage_magic.store.models import (
    Cell,
    Edge,
    Node,
    Run,
    SourceCode,
    Transform,
    new_id,
    utcnow,
)
from lineage_magic.views.data import list_runs, load_page, load_record
from lineage_magic.views.graph import render_svg
from lineage_magic.views.layout import layered_layout
from lineage_magic.views.lineage import GraphNode, LineageGraph, lineage_graph
from lineage_magic.views.record import RecordView


def best_ms(fn: Callable[[], Any], repeat: int) -> float:
    """The fastest of ``repeat`` calls, in milliseconds."""
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        timings.append((time.perf_counter() - start) * 1000)
    return min(timings)


def big_run(store: Store, cells: int) -> str:
    """A run of ``cells`` cells where cell i defines ``x{i}`` from ``x{i-1}``."""
    start = utcnow()
    with store.session(write=True) as s:
        run = Run(name="big", transform=Transform(name="big notebook"), started_at=start,
                  finished_at=start + timedelta(seconds=cells), status="ok")
        s.add(run)
        s.flush()
        sources, rows, nodes, edges = {}, [], [], []
        previous = None
        for i in range(cells):
            code = f"x{i} = x{i - 1} + 1" if i else "x0 = 0"
            digest = hashlib.sha256(code.encode()).hexdigest()
            sources[digest] = code
            cell_id = new_id(16)
            rows.append({"id": cell_id, "run_id": run.id, "seq": i, "source_code_id": digest,
                         "started_at": start + timedelta(seconds=i), "status": "ok",
                         "duration_ms": 0.1})
            define = new_id(16)
            nodes.append({"id": define, "kind": "definition", "run_id": run.id,
                          "cell_id": cell_id, "name": f"x{i}", "position": 1})
            if previous is not None:
                use = new_id(16)
                nodes.append({"id": use, "kind": "lookup", "run_id": run.id,
                              "cell_id": cell_id, "name": f"x{i - 1}", "position": 0})
                edges.append({"source_id": previous, "target_id": use, "run_id": run.id})
            previous = define
        s.execute(insert(SourceCode), [{"id": k, "code": v} for k, v in sources.items()])
        s.execute(insert(Cell), rows)
        s.execute(insert(Node), nodes)
        s.execute(insert(Edge), edges)
        s.commit()
        return run.id


def many_runs(store: Store, count: int) -> None:
    """``count`` runs over 20 transforms, for the browser's search."""
    with store.session(write=True) as s:
        transforms = [Transform(name=f"notebook_{i}") for i in range(20)]
        s.add_all(transforms)
        s.flush()
        s.execute(insert(Run), [
            {"id": new_id(20), "name": f"run {i}", "transform_id": transforms[i % 20].id,
             "started_at": utcnow() - timedelta(minutes=i), "status": "ok" if i % 7 else "error",
             "created_at": utcnow()}
            for i in range(count)
        ])
        s.commit()


def synthetic_graph(n: int) -> LineageGraph:
    """A wide DAG of ``n`` nodes in ten ranks, each node fed by two of the previous rank."""
    ranks = 10
    per = n // ranks
    kinds = ("cell", "name", "artifact", "file", "run")
    nodes, edges = [], []
    for r in range(ranks):
        for j in range(per):
            key = f"{kinds[r % 5]}:n{r}_{j}"
            nodes.append(GraphNode(key, kinds[r % 5], f"n{r}_{j}", f"node {r}.{j} <b>&", "upstream",
                                   ranks - r))
            if r:
                edges += [(f"{kinds[(r - 1) % 5]}:n{r - 1}_{j}", key),
                          (f"{kinds[(r - 1) % 5]}:n{r - 1}_{(j * 7) % per}", key)]
    return LineageGraph("synthetic", ranks, tuple(nodes), tuple(edges), (nodes[-1].key,))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print a table, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="views-bench.json", help="where to write results")
    parser.add_argument("--url", default=None, help="database URL (default: a temp SQLite file)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        store = Store(url)
        try:
            results = run_all(store, args.repeat)
        finally:
            store.dispose()

    width = max(len(name) for name in results)
    print(f"{'measure':<{width}}  {'ms':>9}")
    print(f"{'-' * width}  {'-' * 9}")
    for name, value in results.items():
        print(f"{name:<{width}}  {value:>9.2f}")
    payload = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "database": (args.url or "sqlite").split(":", 1)[0],
        "repeat": args.repeat,
        "results_ms": results,
    }
    Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwritten to {args.json}")
    return 0


def run_all(store: Store, repeat: int) -> dict[str, float]:
    """Every measurement, by name."""
    results: dict[str, float] = {}
    start = time.perf_counter()
    run_id = big_run(store, 5000)
    results["insert 5,000 cells with nodes and edges"] = (time.perf_counter() - start) * 1000
    many_runs(store, 1000)

    results["open run of 5,000 cells (data)"] = best_ms(
        lambda: load_record(store, "run", run_id), repeat)
    results["next page of cells (data)"] = best_ms(
        lambda: load_page(store, "run", run_id, "cells", offset=2500, limit=50), repeat)
    results["open run of 5,000 cells (widget)"] = best_ms(
        lambda: RecordView(store, "run", run_id).widget, repeat)
    results["runs browser, 1,000 runs, first page"] = best_ms(
        lambda: list_runs(store, limit=20), repeat)
    results["runs browser, search 'notebook_1'"] = best_ms(
        lambda: list_runs(store, search="notebook_1", limit=20), repeat)

    graph = lineage_graph(store, "name", "x2500", depth=500)
    results[f"lineage graph from store, depth 500 ({len(graph.nodes)} nodes)"] = best_ms(
        lambda: lineage_graph(store, "name", "x2500", depth=500), repeat)
    results[f"layout + SVG of it ({len(graph.nodes)} nodes)"] = best_ms(
        lambda: render_svg(graph), repeat)

    wide = synthetic_graph(1000)
    results["layout of 1,000-node wide DAG"] = best_ms(
        lambda: layered_layout([n.key for n in wide.nodes], wide.edges,
                               priority={n.key: n.distance for n in wide.nodes}), repeat)
    results["layout + SVG of 1,000-node wide DAG"] = best_ms(lambda: render_svg(wide), repeat)
    return results


if __name__ == "__main__":
    sys.exit(main())
