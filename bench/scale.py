"""Scale benchmark: a synthetic lineage store with a million cells stays fast.

Builds a store through the recorder's own write path (``writes.start_run``,
``writes.write_cells`` in batches of ``--batch`` cells per transaction;
artifacts through Core inserts), then measures the bulk write rate, the bytes
per recorded cell, and the median and p95 latency of the queries the product
runs: a run's cells page, upstream at depth 100, the latest version of a named
artifact, the runs browser's first page with a search, and the record view of
a 5,000-cell run.

Run::

    python bench/scale.py --backend sqlite --scale 0.01      # the CI size
    python bench/scale.py --backend both --scale 1           # 1,000,000 cells

Full size is 1,000 runs, 1,000,000 cells, about 5,000,000 nodes and edges and
100,000 artifacts; ``--scale`` multiplies every count except the 5,000-cell
run. Results go to ``bench/results/scale-<backend>.json``; ``--backend both``
also prints PostgreSQL's medians against SQLite's from that one run. Both
stores are built first and then timed in rounds that alternate between them,
so that the machine's speed drifting over minutes does not skew the ratio.

The synthetic lineage: every run is a chain (cell i reads the name cell i-1
defined, so depth 100 exists in every run of more than 100 cells); in every
other run, 70 % of the cells also read a name defined 2 to 20 cells earlier
(diamonds, so that traversals meet shared ancestors). Sources come from a
pool, as re-executed notebooks repeat their cells. Cells of a run start a
second apart, and each cell's id is the one the recorder would mint at that
moment (ids sort by creation time), so rows arrive in id order as they do
from a live kernel.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, column, create_engine, func, insert, select, table, text

from lineage_magic.lineagedb import LineageDB
from lineage_magic.ids import _base62, new_id, node_id
from lineage_magic.store import queries, tables, writes
from lineage_magic.store.engine import Store
from lineage_magic.views.data import list_runs, load_page, load_record

FULL = {"runs": 1_000, "cells": 1_000_000, "artifacts": 100_000}
BIG_RUN_CELLS = 5_000
ROUNDS = 5  # timing rounds, alternating between backends
RESULTS = Path(__file__).with_name("results")
POSTGRES_URL = os.environ.get(
    "LINEAGE_MAGIC_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
EPOCH = datetime(2025, 1, 6, 9, 0, tzinfo=timezone.utc)
LIBRARIES = [("numpy", "2.1.3"), ("pandas", "2.2.3"), ("scikit-learn", "1.5.2"), ("matplotlib", "3.9.2")]
VALUE_TYPES = [
    ("int", "42", None, None), ("float", "0.9731", None, None),
    ("pandas.core.frame.DataFrame", None, 1200, "1200x14"),
    ("numpy.ndarray", "<ndarray shape=(1200,) dtype=float64>", 1200, "1200"),
    ("list", "[0.1, 0.25, 0.5, 0.75, 0.9]", 5, None),
    ("str", "'results/summary-2025-01.csv'", 28, None),
]


# --------------------------------------------------------------------------
# What the builder generated (the tests check query results against it)


@dataclass
class RunInfo:
    """One generated run: its cells in execution order and its extra links."""

    id: str
    transform: str
    cells: list[str]
    chain_only: bool
    shortcuts: dict[int, int] = field(default_factory=dict)  # cell index -> extra parent index

    def parents(self, index: int) -> list[int]:
        """Indexes of the cells that cell ``index`` depends on."""
        found = [index - 1] if index else []
        extra = self.shortcuts.get(index)
        return found + ([extra] if extra is not None else [])


@dataclass
class Built:
    """The generated store: its records, counts and write timings."""

    url: str
    runs: list[RunInfo]
    big_run: str
    artifact_versions: dict[str, int]  # value artifact name -> latest version
    transforms: list[str]
    counts: dict[str, int]
    write_seconds: float  # everything, generating the synthetic rows included
    write_path_seconds: float  # inside the write transactions only
    write_path_cpu_seconds: float  # CPU time of this process in them (all of SQLite's work)
    artifact_seconds: float


# --------------------------------------------------------------------------
# Synthetic records


def _sources(rng: random.Random, n: int) -> list[tuple[str, str]]:
    """A pool of (sha256, code) cell sources, 60 to 400 characters each."""
    pool = []
    for k in range(n):
        lines = [f"step_{k} = transform(previous, alpha={rng.random():.3f}, window={rng.randint(2, 90)})"]
        for _ in range(rng.randint(0, 5)):
            lines.append(f"print(step_{k}.describe(), len(previous) - {rng.randint(1, 999)})")
        code = "\n".join(lines)
        pool.append((hashlib.sha256(code.encode()).hexdigest(), code))
    return pool


def _node(nid: str, kind: str, run_id: str, cell_id: str, position: int, name: str,
          **extra: Any) -> dict[str, Any]:
    row = {
        "id": nid, "kind": kind, "run_id": run_id, "cell_id": cell_id, "position": position,
        "name": name, "lineno": 1, "col_offset": 0, "end_lineno": 1, "end_col_offset": 40,
        "module": None, "library_version": None, "args": None, "value_type": None,
        "value_repr": None, "value_len": None, "value_shape": None,
    }
    row.update(extra)
    return row


def _outputs(rng: random.Random) -> list[dict[str, Any]]:
    roll = rng.random()
    if roll < 0.6:
        return []
    if roll < 0.9:
        return [{"output_type": "execute_result", "mime": ["text/plain"], "text": f"{rng.random():.6f}"}]
    text = f"epoch {rng.randint(1, 99)} loss {rng.random():.4f}\n"
    return [{"output_type": "stream", "name": "stdout", "text": text}]


def _cell_write(rng: random.Random, run: RunInfo, index: int, started: datetime,
                source: tuple[str, str], written: set[str]) -> writes.CellWrite:
    """The rows the recorder writes for cell ``index`` of a run."""
    cid = run.cells[index]
    failed = rng.random() < 0.02
    cell = {
        "id": cid, "run_id": run.id, "seq": index, "execution_count": index + 1, "depth": 0,
        "notebook_cell_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "source_code_id": source[0], "started_at": started, "duration_ms": rng.expovariate(1 / 40),
        "status": "error" if failed else "ok",
        "error_type": "ValueError" if failed else None,
        "error_message": "could not convert string to float: 'n/a'" if failed else None,
        "error_line": 1 if failed else None,
        "outputs": _outputs(rng),
    }
    name = f"v{index}"
    vtype, vrepr, vlen, vshape = VALUE_TYPES[index % len(VALUE_TYPES)]
    rows = [_node(node_id(cid, 0), "definition", run.id, cid, 0, name,
                  value_type=vtype, value_repr=vrepr, value_len=vlen, value_shape=vshape)]
    edges: list[dict[str, Any]] = []
    parents: list[str] = []
    libraries: list[dict[str, Any]] = []
    if index == 0:
        for position, (lib, version) in enumerate(LIBRARIES, start=1):
            rows.append(_node(node_id(cid, position), "import", run.id, cid, position, lib[:2],
                              module=lib, library_version=version))
        libraries = [{"run_id": run.id, "name": lib, "version": version} for lib, version in LIBRARIES]
    for parent in run.parents(index):
        position = len(rows)
        lookup = node_id(cid, position)
        rows.append(_node(lookup, "lookup", run.id, cid, position, f"v{parent}"))
        edges.append({"source_id": node_id(run.cells[parent], 0), "target_id": lookup, "run_id": run.id})
        parents.append(run.cells[parent])
    if index:
        position = len(rows)
        rows.append(_node(node_id(cid, position), "call", run.id, cid, position, "transform",
                          args=[f"v{index - 1}"]))
        if rng.random() < 0.125:
            position = len(rows)
            mutation = node_id(cid, position)
            rows.append(_node(mutation, "mutation", run.id, cid, position, f"v{index - 1}",
                              args=["append"]))
            edges.append({"source_id": node_id(run.cells[index - 1], 0), "target_id": mutation,
                          "run_id": run.id})
    code = None
    if source[0] not in written:
        written.add(source[0])
        code = source[1]
    return writes.CellWrite(cell=cell, source_id=source[0], source_code=code, nodes=rows,
                            edges=edges, parents=list(dict.fromkeys(parents)), libraries=libraries)


def cell_id_at(when: datetime) -> str:
    """The id ``ids.new_cell_id`` gives a cell that starts at ``when``.

    The recorder mints a cell's id when the cell runs, so ids arrive in the
    order of their time prefix; the synthetic cells start a second apart.
    """
    return _base62(int(when.timestamp()), 6) + new_id(10)


def _cells_per_run(rng: random.Random, runs: int, cells: int, big: int) -> list[int]:
    if runs == 1:
        return [cells]
    rest = cells - big
    weights = [rng.uniform(0.5, 1.5) for _ in range(runs - 1)]
    total = sum(weights)
    sizes = [max(1, int(rest * w / total)) for w in weights]
    sizes[-1] += rest - sum(sizes)
    return [big, *sizes]


def build(url: str, scale: float = 1.0, *, batch: int = 500, seed: int = 7,
          progress: Callable[[str], None] | None = None) -> Built:
    """Fill an empty store at ``url`` with a synthetic lineage of the given scale."""
    rng = random.Random(seed)
    n_runs = max(2, round(FULL["runs"] * scale))
    n_cells = max(2 * n_runs, round(FULL["cells"] * scale))
    n_artifacts = max(10, round(FULL["artifacts"] * scale))
    big = min(BIG_RUN_CELLS, n_cells // 2)
    pool = _sources(rng, max(100, round(20_000 * scale)))
    transforms = [f"{topic}_{k:03d}" for k, topic in
                  enumerate(rng.choice(["churn", "forecast", "ab_test", "etl", "survey", "vision"])
                            for _ in range(max(5, n_runs // 5)))]
    store = Store(url)
    engine = store.engine
    written: set[str] = set()
    runs: list[RunInfo] = []
    counts = {"runs": 0, "cells": 0, "nodes": 0, "edges": 0, "cell_links": 0, "artifacts": 0}
    in_write_path = in_write_cpu = 0.0
    started = time.perf_counter()
    for r, size in enumerate(_cells_per_run(rng, n_runs, n_cells, big)):
        transform = transforms[r % len(transforms)]
        when = EPOCH + timedelta(hours=r)
        run = RunInfo(
            id=writes.new_id(20), transform=transform,
            cells=[cell_id_at(when + timedelta(seconds=i)) for i in range(size)], chain_only=r % 2 == 0,
        )
        if not run.chain_only:
            run.shortcuts = {
                i: i - rng.randint(2, min(20, i)) for i in range(2, size) if rng.random() < 0.7
            }
        with engine.begin() as conn:
            writes.start_run(conn, writes.RunStart(
                id=run.id, handle=f"user{r % 12}", transform_name=f"{transform}.ipynb",
                transform_path=f"/home/user{r % 12}/work/{transform}.ipynb",
                transform_title=transform.replace("_", " ").title(),
                transform_type="notebook", started_at=when, python_version="3.12.7",
                host=f"host{r % 4}", pid=os.getpid(), name=None,
            ))
        for first in range(0, size, batch):
            rows = [
                _cell_write(rng, run, i, when + timedelta(seconds=i), rng.choice(pool), written)
                for i in range(first, min(size, first + batch))
            ]
            t0, c0 = time.perf_counter(), time.process_time()
            with engine.begin() as conn:
                writes.write_cells(conn, rows)
            in_write_path += time.perf_counter() - t0
            in_write_cpu += time.process_time() - c0
            counts["cells"] += len(rows)
            counts["nodes"] += sum(len(c.nodes) for c in rows)
            counts["edges"] += sum(len(c.edges) for c in rows)
            counts["cell_links"] += sum(len(c.parents) for c in rows)
        with engine.begin() as conn:
            writes.finish_run(conn, run.id)
        runs.append(run)
        counts["runs"] += 1
        if progress and (r % max(1, n_runs // 20) == 0 or r == n_runs - 1):
            elapsed = time.perf_counter() - started
            progress(f"  run {r + 1}/{n_runs}: {counts['cells']:,} cells, "
                     f"{counts['cells'] / elapsed:,.0f} cells/s overall, "
                     f"{counts['cells'] / in_write_path:,.0f} cells/s in write_cells")
    write_seconds = time.perf_counter() - started
    started = time.perf_counter()
    versions = _write_artifacts(engine, rng, runs, n_artifacts)
    counts["artifacts"] = n_artifacts
    artifact_seconds = time.perf_counter() - started
    store.dispose()
    return Built(url, runs, runs[0].id, versions, transforms, counts, write_seconds,
                 in_write_path, in_write_cpu, artifact_seconds)


def _write_artifacts(engine: Engine, rng: random.Random, runs: list[RunInfo], n: int) -> dict[str, int]:
    """Value and file artifacts with versions, produced by random cells; some consumed."""
    names = [f"{kind}_{k:05d}" for k, kind in
             enumerate(rng.choice(["model", "features", "report", "scores"]) for _ in range(max(1, n // 5)))]
    latest: dict[str, int] = {}
    rows: list[dict[str, Any]] = []
    inputs: list[dict[str, Any]] = []
    outputs: list[dict[str, Any]] = []
    for k in range(n):
        run_index = rng.randrange(len(runs))
        run = runs[run_index]
        cell_index = rng.randrange(len(run.cells))
        cell = run.cells[cell_index]
        aid = writes.new_id(16)
        is_file = k % 10 == 9
        if is_file:
            name = f"/data/shared/{names[k % len(names)]}.parquet"
            version = latest.get(name, -1) + 1
            latest[name] = version
            rows.append({
                "id": aid, "kind": "file", "name": name, "version": version, "run_id": run.id,
                "cell_id": cell, "node_id": None, "node_value_id": None, "path": name,
                "sha256": hashlib.sha256(aid.encode()).hexdigest(), "size": rng.randint(1_000, 10**8),
                "mtime": EPOCH, "created_at": EPOCH + timedelta(hours=run_index, seconds=cell_index),
                "created_by_cell_id": None,
            })
            outputs.append({"run_id": run.id, "artifact_id": aid})
        else:
            name = rng.choice(names)
            version = latest.get(name, -1) + 1
            latest[name] = version
            rows.append({
                "id": aid, "kind": "value", "name": name, "version": version, "run_id": run.id,
                "cell_id": cell, "node_id": node_id(cell, 0), "node_value_id": None, "path": None,
                "sha256": None, "size": None, "mtime": None,
                "created_at": EPOCH + timedelta(hours=run_index, seconds=cell_index),
                "created_by_cell_id": None,
            })
        if rng.random() < 0.1:
            consumer = runs[rng.randrange(len(runs))]
            inputs.append({"run_id": consumer.id, "artifact_id": aid})
    for chunk in _chunks(rows, 5_000):
        with engine.begin() as conn:
            conn.execute(insert(tables.artifacts), chunk)
    with engine.begin() as conn:
        writes.insert_ignore(conn, tables.run_outputs, outputs)
        writes.insert_ignore(conn, tables.run_inputs, inputs)
    return {name: v for name, v in latest.items() if not name.startswith("/")}


def _chunks(rows: list[Any], size: int) -> Iterator[list[Any]]:
    for first in range(0, len(rows), size):
        yield rows[first:first + size]


# --------------------------------------------------------------------------
# Size


def sqlite_sizes(url: str) -> dict[str, int]:
    """Bytes per table and index (dbstat), after a WAL checkpoint."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            dbstat = table("dbstat", column("name"), column("pgsize"))
            stmt = select(dbstat.c.name, func.sum(dbstat.c.pgsize)).group_by(dbstat.c.name)
            return {name: int(size) for name, size in conn.execute(stmt)}
    finally:
        engine.dispose()


def postgres_sizes(url: str) -> dict[str, int]:
    """Bytes per table with its indexes and TOAST (pg_total_relation_size)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            out = {}
            for name in tables.metadata.tables:
                out[name] = int(conn.execute(select(func.pg_total_relation_size(name))).scalar_one())
            return out
    finally:
        engine.dispose()


def _owner(name: str) -> str:
    """The table an SQLite index belongs to, from our naming convention."""
    for prefix in ("sqlite_autoindex_", "ix_", "uq_", "pk_"):
        if name.startswith(prefix):
            rest = name[len(prefix):]
            return max((t for t in tables.metadata.tables if rest.startswith(t)), key=len, default=name)
    return name


def size_report(sizes: dict[str, int], cells: int, total: int) -> dict[str, Any]:
    """Bytes per cell in total, without sources, and per table."""
    per_table: dict[str, int] = {}
    for name, size in sizes.items():
        per_table[_owner(name)] = per_table.get(_owner(name), 0) + size
    sources = per_table.get("source_code", 0)
    cell_tables = sum(per_table.get(t, 0) for t in ("cells", "cell_links", "nodes", "edges", "libraries"))
    return {
        "total_bytes": total,
        "bytes_per_cell": round(total / cells, 1),
        "bytes_per_cell_excluding_sources": round((total - sources) / cells, 1),
        "bytes_per_cell_cell_tables_only": round(cell_tables / cells, 1),
        "per_table_bytes_per_cell": {
            t: round(b / cells, 1) for t, b in sorted(per_table.items(), key=lambda kv: -kv[1]) if b
        },
        "objects": sizes,
    }


# --------------------------------------------------------------------------
# Queries


def _summary(timings: list[float]) -> dict[str, float]:
    timings = sorted(timings)
    return {
        "median_ms": round(statistics.median(timings), 3),
        "p95_ms": round(timings[min(len(timings) - 1, int(0.95 * len(timings)))], 3),
        "max_ms": round(timings[-1], 3),
        "reps": len(timings),
    }


def measure(suites: list[dict[str, Callable[[random.Random], Any]]], reps: int,
            rounds: int = ROUNDS) -> list[dict[str, dict[str, float]]]:
    """Time every query of every suite ``reps`` times, in ``rounds`` alternating between suites.

    With two backends, each round times every query on one and then on the
    other, so that a machine whose speed drifts over minutes slows both
    alike and their ratio stays meaningful.
    """
    rngs = [{label: random.Random(k) for k, label in enumerate(suite)} for suite in suites]
    for suite, rng in zip(suites, rngs):
        for label, fn in suite.items():
            for _ in range(3):
                fn(rng[label])
    samples: list[dict[str, list[float]]] = [{label: [] for label in suite} for suite in suites]
    rounds = max(1, min(rounds, reps))
    for r in range(rounds):
        n = reps // rounds + (1 if r < reps % rounds else 0)
        for suite, rng, found in zip(suites, rngs, samples):
            for label, fn in suite.items():
                for _ in range(n):
                    start = time.perf_counter()
                    fn(rng[label])
                    found[label].append((time.perf_counter() - start) * 1000)
    return [{label: _summary(t) for label, t in found.items()} for found in samples]


def query_suite(store: Store, built: Built) -> dict[str, Callable[[random.Random], Any]]:
    """The measured queries, each taking a random generator to pick its target."""
    deep = [r for r in built.runs if len(r.cells) > 100]
    names = sorted(built.artifact_versions)

    def cells_page(rng: random.Random) -> Any:
        run = rng.choice(built.runs)
        offset = rng.randrange(max(1, len(run.cells) // 50)) * 50
        return load_page(store, "run", run.id, "cells", offset=offset, limit=50)

    def upstream_100(rng: random.Random) -> Any:
        run = rng.choice(deep)
        cell = run.cells[rng.randrange(100, len(run.cells))]
        with store.engine.connect() as conn:
            return queries.cell_upstream(conn, [cell], depth=100)

    def node_upstream_100(rng: random.Random) -> Any:
        run = rng.choice(deep)
        cell = run.cells[rng.randrange(100, len(run.cells))]
        with store.engine.connect() as conn:
            return queries.node_upstream(conn, [node_id(cell, 0)], depth=100)

    def upstream_all(rng: random.Random) -> Any:
        run = rng.choice(deep)
        cell = run.cells[rng.randrange(100, len(run.cells))]
        with store.engine.connect() as conn:
            return queries.cell_upstream(conn, [cell])

    def artifact_latest(rng: random.Random) -> Any:
        db = LineageDB(store=store)
        try:
            return db.get_artifact_by_name(rng.choice(names))
        finally:
            db.close()

    def runs_search(rng: random.Random) -> Any:
        word = rng.choice(built.transforms)
        return list_runs(store, search=word[: rng.randint(4, len(word))], limit=20)

    def record_view(rng: random.Random) -> Any:
        return load_record(store, "run", built.big_run)

    def cell_view(rng: random.Random) -> Any:
        return load_record(store, "cell", rng.choice(rng.choice(built.runs).cells))

    def node_view(rng: random.Random) -> Any:
        return load_record(store, "node", node_id(rng.choice(rng.choice(built.runs).cells), 0))

    return {
        "cells page (50 of a run)": cells_page,
        "upstream, depth 100 (cells)": upstream_100,
        "upstream, depth 100 (nodes)": node_upstream_100,
        "upstream, unbounded (cells)": upstream_all,
        "get_artifact_by_name, latest": artifact_latest,
        "runs browser, search, page 1": runs_search,
        "record view, 5,000-cell run": record_view,
        "record view, a cell": cell_view,
        "record view, a node": node_view,
    }


# --------------------------------------------------------------------------
# Driver


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import sqlalchemy
    import sqlite3

    return {
        "cpu": cpu, "cores": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(), "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sqlalchemy.__version__,
    }


def _server_version(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(select(func.version())).scalar())
    finally:
        engine.dispose()


@dataclass
class Backend:
    """One backend's built store, until it is measured and dropped."""

    backend: str
    url: str
    built: Built
    sizes: dict[str, int]
    total: int
    server: str | None
    drop: Callable[[], None]


def build_backend(backend: str, scale: float, batch: int, workdir: Path, keep: bool,
                  pg_url: str = POSTGRES_URL) -> Backend:
    """Build the store on one backend; ``drop`` removes it (unless ``keep``)."""
    say = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    if backend == "sqlite":
        path = workdir / f"scale-{scale:g}.db"
        files = [Path(f"{path}{suffix}") for suffix in ("", "-wal", "-shm")]

        def remove() -> None:
            for file in files:
                file.unlink(missing_ok=True)

        remove()  # what an earlier run left
        drop = (lambda: None) if keep else remove

        url = f"sqlite:///{path}"
        before = 0
    else:
        admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
        name = f"lm_scale_{secrets.token_hex(4)}"
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))  # name is generated here, not input
        url = admin.url.set(database=name).render_as_string(hide_password=False)

        def drop() -> None:
            if not keep:
                with admin.connect() as conn:
                    conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            admin.dispose()

        Store(url).dispose()
        before = _pg_database_size(url)
    try:
        say(f"{backend}: building scale {scale:g} in {url if keep else 'a scratch database'} ...")
        built = build(url, scale, batch=batch, progress=say)
        say(f"{backend}: wrote {built.counts['cells']:,} cells in {built.write_seconds:.1f} s")
        if backend == "sqlite":
            sizes = sqlite_sizes(url)
            total = path.stat().st_size
            server = None
        else:
            engine = create_engine(url, isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")  # what autovacuum would have done
            engine.dispose()
            sizes = postgres_sizes(url)
            total = _pg_database_size(url) - before
            server = _server_version(url)
    except BaseException:
        drop()
        raise
    return Backend(backend, url, built, sizes, total, server, drop)


def result_of(b: Backend, scale: float, batch: int, timings: dict[str, Any]) -> dict[str, Any]:
    """The JSON result of one measured backend."""
    built, counts = b.built, b.built.counts
    rows = counts["cells"] + counts["nodes"] + counts["edges"] + counts["cell_links"]
    return {
        "backend": b.backend, "server": b.server, "scale": scale, "batch_cells": batch,
        "counts": counts, "machine": machine(),
        "write": {
            "seconds": round(built.write_path_seconds, 2),
            "cells_per_s": round(counts["cells"] / built.write_path_seconds),
            "rows_per_s": round(rows / built.write_path_seconds),
            # Wall-clock rates depend on what else the machine runs; this
            # process's CPU time does less (on SQLite it is all the work,
            # on a server only the client's share).
            "cpu_seconds": round(built.write_path_cpu_seconds, 2),
            "cells_per_cpu_s": round(counts["cells"] / built.write_path_cpu_seconds),
            "seconds_with_generation": round(built.write_seconds, 2),
            "cells_per_s_with_generation": round(counts["cells"] / built.write_seconds),
            "artifacts_seconds": round(built.artifact_seconds, 2),
        },
        "size": size_report(b.sizes, counts["cells"], b.total),
        "queries": timings,
    }


def run_backends(backends: list[str], scale: float, reps: int, batch: int, workdir: Path, keep: bool,
                 pg_url: str = POSTGRES_URL) -> list[dict[str, Any]]:
    """Build each backend's store, then measure them all together (see ``measure``)."""
    built: list[Backend] = []
    stores: list[Store] = []
    try:
        for backend in backends:
            built.append(build_backend(backend, scale, batch, workdir, keep, pg_url))
        stores = [Store(b.url) for b in built]
        timings = measure([query_suite(store, b.built) for store, b in zip(stores, built)], reps)
        return [result_of(b, scale, batch, t) for b, t in zip(built, timings)]
    finally:
        for store in stores:
            store.dispose()
        for b in built:
            b.drop()


def _pg_database_size(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.pg_database_size(func.current_database()))).scalar_one())
    finally:
        engine.dispose()


def print_table(result: dict[str, Any]) -> None:
    """The results of one backend as a text table."""
    m, c, w, s = result["machine"], result["counts"], result["write"], result["size"]
    print(f"\n== {result['backend']} {result['server'] or 'sqlite ' + m['sqlite']} · scale {result['scale']:g} ==")
    print(f"machine: {m['cpu']}, {m['cores']} cores (load {m['load_average'][0]} at the end), "
          f"Python {m['python']}, SQLAlchemy {m['sqlalchemy']}")
    print(f"records: {c['runs']:,} runs, {c['cells']:,} cells, {c['nodes']:,} nodes, {c['edges']:,} edges, "
          f"{c['cell_links']:,} cell links, {c['artifacts']:,} artifacts")
    print(f"write:   {w['cells_per_s']:,} cells/s ({w['rows_per_s']:,} rows/s) in write_cells, "
          f"{w['seconds']} s, batches of {result['batch_cells']} cells; "
          f"{w['cells_per_s_with_generation']:,} cells/s with row generation")
    whose = "all of it" if result["backend"] == "sqlite" else "the client's share"
    print(f"         {w['cells_per_cpu_s']:,} cells per CPU-second of this process in write_cells ({whose})")
    print(f"size:    {s['bytes_per_cell']} B/cell total, {s['bytes_per_cell_excluding_sources']} B/cell "
          f"without sources, {s['bytes_per_cell_cell_tables_only']} B/cell in cell tables")
    print("         " + ", ".join(f"{t} {b}" for t, b in s["per_table_bytes_per_cell"].items()))
    print(f"{'query':34} {'median ms':>10} {'p95 ms':>10} {'max ms':>10}")
    for label, t in result["queries"].items():
        print(f"{label:34} {t['median_ms']:>10.2f} {t['p95_ms']:>10.2f} {t['max_ms']:>10.2f}")


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full size (1.0)")
    parser.add_argument("--reps", type=int, default=50, help="timed repetitions per query")
    parser.add_argument("--batch", type=int, default=500, help="cells per write transaction")
    parser.add_argument("--dir", type=Path, default=None, help="where the SQLite file goes")
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results = []
    with tempfile.TemporaryDirectory(prefix="lm-scale-") as tmp:
        workdir = args.dir or Path(tmp)
        for result in run_backends(backends, args.scale, args.reps, args.batch, workdir, args.keep,
                                   args.postgres_url):
            backend = result["backend"]
            print_table(result)
            args.out.mkdir(parents=True, exist_ok=True)
            out = args.out / f"scale-{backend}.json"
            out.write_text(json.dumps(result, indent=2) + "\n")
            print(f"wrote {out}")
            results.append(result)
    if len(results) == 2:
        print_ratios(*results)
    return 0


def print_ratios(sqlite: dict[str, Any], postgresql: dict[str, Any]) -> None:
    """PostgreSQL's medians and write rate against SQLite's, from one run (target: within 2x)."""
    print(f"\n== PostgreSQL / SQLite, this run ==\n{'query':34} {'median':>8} {'p95':>8}")
    for label, lite in sqlite["queries"].items():
        pg = postgresql["queries"][label]
        print(f"{label:34} {pg['median_ms'] / lite['median_ms']:>7.1f}x {pg['p95_ms'] / lite['p95_ms']:>7.1f}x")
    slower = sqlite["write"]["cells_per_s"] / postgresql["write"]["cells_per_s"]
    print(f"{'write rate (SQLite / PostgreSQL)':34} {slower:>7.1f}x")


if __name__ == "__main__":
    sys.exit(main())
