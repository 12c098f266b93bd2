"""Core writes of file artifacts: one versioned artifact per distinct content of a path.

A file's artifact is ``kind='file'`` with ``name`` = its absolute path. Content
already recorded for that path (same sha256; for files above the hash cap,
same size and mtime) reuses its artifact; new content becomes the next
version. The run is linked to what it read (``run_inputs``) and wrote
(``run_outputs``), and so is each cell (``cell_files``); a cell that reads
what an earlier cell of the same run wrote gets that cell as a parent in
``cell_links``. The caller owns the
transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, and_, insert, select
from sqlalchemy.exc import IntegrityError

from ..ids import new_id, utcnow
from ..store import tables
from ..store.tables import cell_files, cell_links, run_inputs, run_outputs
from ..store.writes import insert_ignore
from .hashing import FileAccess

FILE_KIND = "file"
NAME_MAX = 255
CHUNK = 400
VERSION_ATTEMPTS = 3

artifacts_t: Table = tables.artifacts


def artifact_name(path: str) -> str:
    """The artifact name of a path: the path itself, or a unique shortening of a long one."""
    if len(path) <= NAME_MAX:
        return path
    digest = hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return f"{path[: NAME_MAX - 19]}...{digest}"


def write_file_accesses(conn: Connection, run_id: str, cell_id: str | None,
                        accesses: Sequence[FileAccess]) -> dict[str, str]:
    """Record a cell's file reads and writes; the artifact id of each path's content."""
    if not accesses:
        return {}
    for attempt in range(VERSION_ATTEMPTS):
        try:
            # A savepoint: a concurrent writer taking the same version number
            # costs a retry, not the writer's whole batch.
            with conn.begin_nested():
                return _write(conn, run_id, cell_id, accesses)
        except IntegrityError:
            if attempt == VERSION_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _write(conn: Connection, run_id: str, cell_id: str | None,
           accesses: Sequence[FileAccess]) -> dict[str, str]:
    names = {a.path: artifact_name(a.path) for a in accesses}
    existing = _existing_versions(conn, list(set(names.values())))
    now = utcnow()
    new_rows: list[dict[str, Any]] = []
    current: dict[str, str] = {}
    inputs: set[str] = set()
    outputs: set[str] = set()
    touched: dict[str, dict[str, Any]] = {}  # artifact id -> this cell's cell_files row
    for access in accesses:
        name = names[access.path]
        rows = existing.setdefault(name, [])
        # Read and written in one cell: it read what was there before, which is
        # the latest recorded version (when unsure, depend).
        before = max(rows, key=lambda r: r["version"]) if rows else None
        match = next((r for r in rows if _same_content(r, access)), None)
        if match is None:
            match = {
                "id": new_id(16), "kind": FILE_KIND, "name": name,
                "version": (before["version"] + 1) if before else 0,
                "run_id": run_id, "cell_id": cell_id, "path": access.path, "sha256": access.sha256,
                "size": access.size, "mtime": access.mtime, "created_at": now,
            }
            new_rows.append(match)
            rows.append(match)
        current[access.path] = match["id"]
        if access.written:
            outputs.add(match["id"])
            _touch(touched, match["id"], written=True)
            if access.read and before is not None:
                inputs.add(before["id"])
                _touch(touched, before["id"], read=True)
        elif access.read:
            inputs.add(match["id"])
            _touch(touched, match["id"], read=True)
    if new_rows:
        conn.execute(insert(artifacts_t), new_rows)
    insert_ignore(conn, run_inputs, [{"run_id": run_id, "artifact_id": i} for i in sorted(inputs)])
    insert_ignore(conn, run_outputs, [{"run_id": run_id, "artifact_id": o} for o in sorted(outputs)])
    if cell_id is not None:
        insert_ignore(conn, cell_files, [{"cell_id": cell_id, **row} for _, row in sorted(touched.items())])
        if inputs:
            _link_cells(conn, run_id, cell_id, inputs)
    return current


def _touch(touched: dict[str, dict[str, Any]], artifact_id: str, *, read: bool = False,
           written: bool = False) -> None:
    row = touched.setdefault(artifact_id, {"artifact_id": artifact_id, "was_read": False, "was_written": False})
    row["was_read"] = row["was_read"] or read
    row["was_written"] = row["was_written"] or written


def _same_content(row: dict[str, Any], access: FileAccess) -> bool:
    if access.sha256 is not None:
        return row["sha256"] == access.sha256
    return row["sha256"] is None and row["size"] == access.size and row["mtime"] == access.mtime


def _existing_versions(conn: Connection, names: list[str]) -> dict[str, list[dict[str, Any]]]:
    a = artifacts_t.c
    found: dict[str, list[dict[str, Any]]] = {}
    for start in range(0, len(names), CHUNK):
        stmt = select(a.id, a.name, a.version, a.sha256, a.size, a.mtime).where(
            a.kind == FILE_KIND, a.name.in_(names[start:start + CHUNK])
        )
        for row in conn.execute(stmt):
            found.setdefault(row.name, []).append(dict(row._mapping))
    return found


def _link_cells(conn: Connection, run_id: str, cell_id: str, read_ids: set[str]) -> None:
    """The cells of this run that wrote what this cell read become its parents."""
    a = artifacts_t.c
    ids = sorted(read_ids)
    parents: set[str] = set()
    for start in range(0, len(ids), CHUNK):
        stmt = (
            select(a.cell_id)
            .join(run_outputs, and_(run_outputs.c.artifact_id == a.id, run_outputs.c.run_id == run_id))
            .where(a.id.in_(ids[start:start + CHUNK]), a.run_id == run_id,
                   a.cell_id.is_not(None), a.cell_id != cell_id)
            .distinct()
        )
        parents.update(conn.execute(stmt).scalars())
    insert_ignore(conn, cell_links, [{"parent_id": p, "child_id": cell_id} for p in sorted(parents)])


__all__ = ["FILE_KIND", "FileAccess", "artifact_name", "write_file_accesses"]
