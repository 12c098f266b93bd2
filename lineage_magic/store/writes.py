"""Bulk writes of recorded lineage, in SQLAlchemy Core over a given connection.

The recorder's writer thread and the scale benchmark both write through
these functions; the caller owns the transaction.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, insert, select, update

from ..ids import new_id, utcnow
from . import tables
from .tables import cell_links

users_t = tables.users
transforms_t = tables.transforms
runs_t = tables.runs
cells_t = tables.cells
source_t = tables.source_code
nodes_t = tables.nodes
edges_t = tables.edges
libraries_t = tables.libraries


def insert_ignore(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows, silently skipping those whose key already exists."""
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        conn.execute(insert(table).prefix_with("IGNORE"), list(rows))
        return
    conn.execute(dialect_insert(table).on_conflict_do_nothing(), list(rows))


def ensure_user(conn: Connection, handle: str) -> str:
    """The id of the user with this handle, created if new."""
    handle = handle[:255]
    found = conn.execute(select(users_t.c.id).where(users_t.c.handle == handle)).scalar()
    if found is None:
        insert_ignore(conn, users_t, [{"id": new_id(8), "handle": handle, "created_at": utcnow()}])
        found = conn.execute(select(users_t.c.id).where(users_t.c.handle == handle)).scalar_one()
    return found


def ensure_transform(conn: Connection, *, name: str, path: str | None, title: str | None,
                     type: str, created_by_id: str | None) -> str:  # noqa: A002
    """The id of the transform with this name and path, created if new."""
    stmt = select(transforms_t.c.id, transforms_t.c.title).where(
        transforms_t.c.name == name, transforms_t.c.type == type,
        transforms_t.c.path.is_(None) if path is None else transforms_t.c.path == path,
    ).order_by(transforms_t.c.created_at).limit(1)
    found = conn.execute(stmt).first()
    if found is not None:
        if title and found.title != title:
            conn.execute(update(transforms_t).where(transforms_t.c.id == found.id).values(title=title))
        return found.id
    transform_id = new_id(12)
    conn.execute(insert(transforms_t), [{
        "id": transform_id, "version": "0", "name": name, "title": title, "type": type,
        "path": path, "created_by_id": created_by_id, "created_at": utcnow(),
    }])
    return transform_id


@dataclass
class RunStart:
    """What is known about a run when recording starts."""

    id: str
    handle: str
    transform_name: str
    transform_path: str | None
    transform_title: str | None
    transform_type: str
    started_at: datetime
    python_version: str
    host: str
    pid: int
    replay_of_id: str | None = None
    name: str | None = None


def start_run(conn: Connection, run: RunStart) -> None:
    """Insert the run (with its user and transform) and close runs that died."""
    user_id = ensure_user(conn, run.handle)
    transform_id = ensure_transform(
        conn, name=run.transform_name, path=run.transform_path, title=run.transform_title,
        type=run.transform_type, created_by_id=user_id,
    )
    replay_of = run.replay_of_id
    if replay_of and conn.execute(select(runs_t.c.id).where(runs_t.c.id == replay_of)).first() is None:
        replay_of = None
    insert_ignore(conn, runs_t, [{
        "id": run.id, "name": run.name, "transform_id": transform_id, "started_at": run.started_at,
        "status": "running", "python_version": run.python_version, "host": run.host[:255],
        "pid": run.pid, "created_by_id": user_id, "created_at": utcnow(), "replay_of_id": replay_of,
    }])
    mark_aborted_runs(conn, run.host, exclude=run.id)


def finish_run(conn: Connection, run_id: str, status: str = "finished") -> None:
    """Mark a run finished (or another final status) now."""
    conn.execute(
        update(runs_t).where(runs_t.c.id == run_id).values(finished_at=utcnow(), status=status)
    )


def mark_aborted_runs(conn: Connection, host: str, exclude: str | None = None) -> list[str]:
    """Runs of this host still marked running whose process is gone become ``aborted``."""
    stmt = select(runs_t.c.id, runs_t.c.pid).where(runs_t.c.status == "running", runs_t.c.host == host[:255])
    dead = [row.id for row in conn.execute(stmt) if row.id != exclude and not _alive(row.pid)]
    if dead:
        conn.execute(update(runs_t).where(runs_t.c.id.in_(dead)).values(status="aborted"))
    return dead


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class CellWrite:
    """Everything recorded about one cell execution, as plain rows."""

    cell: dict[str, Any]
    source_id: str
    source_code: str | None  # None when this process already wrote that source
    nodes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[dict[str, Any]] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    libraries: list[dict[str, Any]] = field(default_factory=list)


def write_cells(conn: Connection, cells: Iterable[CellWrite]) -> None:
    """Insert cells with their sources, nodes, edges, parents and libraries."""
    cells = list(cells)
    sources = {c.source_id: c.source_code for c in cells if c.source_code is not None}
    if sources:
        insert_ignore(conn, source_t, [{"id": k, "code": v} for k, v in sources.items()])
    conn.execute(insert(cells_t), [c.cell for c in cells])
    nodes = [n for c in cells for n in c.nodes]
    if nodes:
        conn.execute(insert(nodes_t), nodes)
    edges = [e for c in cells for e in c.edges]
    if edges:
        conn.execute(insert(edges_t), edges)
    links = [{"parent_id": p, "child_id": c.cell["id"]} for c in cells for p in c.parents]
    if links:
        conn.execute(insert(cell_links), links)
    libraries = [lib for c in cells for lib in c.libraries]
    if libraries:
        insert_ignore(conn, libraries_t, libraries)
