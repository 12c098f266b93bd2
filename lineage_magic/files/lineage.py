"""Lineage through files and artifacts: who wrote and read each version, and runs up/downstream.

Run B depends on run A when B read an artifact (a file version, or a saved
value) that A wrote. Traversals are recursive CTEs over ``run_inputs`` joined
to ``run_outputs``; a producer that started after the consumer finished is
not a dependency, even when it wrote the same content.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, literal, or_, select

from .. import context
from ..exceptions import InvalidQueryError
from ..store.engine import Store
from ..store import tables
from ..store.models import Run
from ..store.tables import run_inputs, run_outputs
from .writes import FILE_KIND, artifact_name

_a = tables.artifacts.c
_runs = tables.runs


@dataclass(frozen=True, slots=True)
class Access:
    """One cell's use of a file version (a run that used it in several cells appears once per cell)."""

    run_id: str
    cell_id: str | None
    started_at: datetime | None


@dataclass(frozen=True, slots=True)
class FileVersion:
    """One recorded content of a path, who wrote it and who read it."""

    path: str
    version: int
    sha256: str | None
    size: int | None
    mtime: datetime | None
    artifact_id: str
    created_at: datetime
    written_by: tuple[Access, ...] = ()
    read_by: tuple[Access, ...] = ()

    @property
    def external(self) -> bool:
        """Read by recorded runs but written by none: an input from outside."""
        return not self.written_by


@dataclass(frozen=True, slots=True)
class RunFile:
    """A file version a run read or wrote, with the other runs that wrote that content."""

    path: str
    direction: str  # "read" or "write"
    version: int
    sha256: str | None
    size: int | None
    artifact_id: str
    producers: tuple[str, ...] = field(default=())

    @property
    def external(self) -> bool:
        """A read of content that no recorded run wrote."""
        return self.direction == "read" and not self.producers


def _store(store: Store | None) -> Store:
    context.flush_pending()
    return store or context.get_store()


def _run_id(run: Run | str) -> str:
    if isinstance(run, Run):
        return run.id
    if isinstance(run, str) and run:
        return run
    raise InvalidQueryError(f"expected a Run or a run id, got {type(run).__name__}")


def _edges(*, up: bool, kinds: tuple[str, ...] | None) -> tuple[Select[Any], Any, Any]:
    """consumer -> producer pairs: a select with its near and far columns."""
    ri, ro = run_inputs.alias("ri"), run_outputs.alias("ro")
    consumer, producer = _runs.alias("c"), _runs.alias("p")
    near, far = (ri.c.run_id, ro.c.run_id) if up else (ro.c.run_id, ri.c.run_id)
    stmt = (
        select(far.label("id"))
        .select_from(ri)
        .join(ro, and_(ro.c.artifact_id == ri.c.artifact_id, ro.c.run_id != ri.c.run_id))
        .join(consumer, consumer.c.id == ri.c.run_id)
        .join(producer, producer.c.id == ro.c.run_id)
        .where(or_(consumer.c.finished_at.is_(None), producer.c.started_at.is_(None),
                   producer.c.started_at <= consumer.c.finished_at))
    )
    if kinds is not None:
        art = tables.artifacts.alias("art")
        stmt = stmt.join(art, art.c.id == ri.c.artifact_id).where(art.c.kind.in_(kinds))
    return stmt, near, far


def _traverse(run: Run | str, *, up: bool, depth: int | None, kinds: Iterable[str] | None,
              store: Store | None) -> list[Run]:
    if depth is not None and (not isinstance(depth, int) or isinstance(depth, bool) or depth < 1):
        raise InvalidQueryError(f"depth must be a positive int or None, got {depth!r}")
    start = _run_id(run)
    kind_tuple = tuple(kinds) if kinds is not None else None
    seed, near, _ = _edges(up=up, kinds=kind_tuple)
    step, step_near, _ = _edges(up=up, kinds=kind_tuple)
    if depth is None:
        walk = seed.where(near == start).cte("run_walk", recursive=True)
        walk = walk.union(step.join(walk, step_near == walk.c.id))
    else:
        walk = seed.add_columns(literal(1).label("depth")).where(near == start).cte("run_walk", recursive=True)
        walk = walk.union_all(
            step.add_columns((walk.c.depth + 1).label("depth"))
            .join(walk, step_near == walk.c.id).where(walk.c.depth < depth)
        )
    stmt = (
        select(Run).where(Run.id.in_(select(walk.c.id)), Run.id != start)
        .order_by(Run.started_at, Run.id)
    )
    with _store(store).session() as session:
        return list(session.scalars(stmt).unique())


def run_upstream(run: Run | str, store: Store | None = None, *, depth: int | None = None,
                 kinds: Iterable[str] | None = None) -> list[Run]:
    """Runs that wrote what ``run`` read (files and saved values), transitively, oldest first."""
    return _traverse(run, up=True, depth=depth, kinds=kinds, store=store)


def run_downstream(run: Run | str, store: Store | None = None, *, depth: int | None = None,
                   kinds: Iterable[str] | None = None) -> list[Run]:
    """Runs that read what ``run`` wrote (files and saved values), transitively, oldest first."""
    return _traverse(run, up=False, depth=depth, kinds=kinds, store=store)


def _abspath(path: str | os.PathLike[str]) -> str:
    try:
        text = os.fspath(path)
    except TypeError as err:
        raise InvalidQueryError(f"expected a file path, got {type(path).__name__}") from err
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if not text or "\x00" in text:
        raise InvalidQueryError(f"not a file path: {text!r}")
    return os.path.normpath(os.path.abspath(os.path.expanduser(text)))


def file_history(path: str | os.PathLike[str], store: Store | None = None) -> list[FileVersion]:
    """Every recorded version of a file, oldest first, with the runs that wrote and read it."""
    name = artifact_name(_abspath(path))
    versions = (
        select(_a.id, _a.path, _a.version, _a.sha256, _a.size, _a.mtime, _a.created_at)
        .where(_a.kind == FILE_KIND, _a.name == name).order_by(_a.version)
    )
    with _store(store).engine.connect() as conn:
        rows = list(conn.execute(versions))
        ids = [r.id for r in rows]
        writers = _accesses(conn, run_outputs, ids, tables.cell_files.c.was_written)
        readers = _accesses(conn, run_inputs, ids, tables.cell_files.c.was_read, writers)
    return [
        FileVersion(
            path=r.path or name, version=r.version, sha256=r.sha256, size=r.size, mtime=r.mtime,
            artifact_id=r.id, created_at=r.created_at,
            written_by=tuple(writers.get(r.id, ())), read_by=tuple(readers.get(r.id, ())),
        )
        for r in rows
    ]


def _accesses(conn: Any, link: Any, ids: list[str], flag: Any,
              writers: dict[str, list[Access]] | None = None) -> dict[str, list[Access]]:
    """Each run that wrote (read) these versions, once per cell that did, oldest first.

    The cells come from ``cell_files``. A store written before it existed
    knows one cell per version: the first that recorded it, taken for a
    reader only when that run did not also write the version.
    """
    if not ids:
        return {}
    cell_files, cells = tables.cell_files, tables.cells
    by_cell: dict[tuple[str, str], list[str]] = {}
    per_cell = (
        select(cell_files.c.artifact_id, cells.c.run_id, cell_files.c.cell_id)
        .join(cells, cells.c.id == cell_files.c.cell_id)
        .where(cell_files.c.artifact_id.in_(ids), flag.is_(True))
        .order_by(cells.c.seq)
    )
    for row in conn.execute(per_cell):
        by_cell.setdefault((row.artifact_id, row.run_id), []).append(row.cell_id)
    first = tables.artifacts.alias("first")
    stmt = (
        select(link.c.artifact_id, link.c.run_id, first.c.cell_id, first.c.run_id.label("first_run"),
               _runs.c.started_at)
        .join(first, first.c.id == link.c.artifact_id)
        .join(_runs, _runs.c.id == link.c.run_id)
        .where(link.c.artifact_id.in_(ids))
        .order_by(_runs.c.started_at, link.c.run_id)
    )
    found: dict[str, list[Access]] = {}
    for row in conn.execute(stmt):
        known = by_cell.get((row.artifact_id, row.run_id))
        if known:
            found.setdefault(row.artifact_id, []).extend(Access(row.run_id, c, row.started_at) for c in known)
            continue
        cell = row.cell_id if row.first_run == row.run_id else None
        if writers is not None and any(w.run_id == row.run_id for w in writers.get(row.artifact_id, ())):
            cell = None
        found.setdefault(row.artifact_id, []).append(Access(row.run_id, cell, row.started_at))
    return found


def run_files(run: Run | str, store: Store | None = None) -> list[RunFile]:
    """The file versions a run read and wrote; reads no recorded run wrote are ``external``."""
    run_id = _run_id(run)
    parts = [
        select(_a.id, _a.path, _a.name, _a.version, _a.sha256, _a.size, literal(direction).label("direction"))
        .join(link, link.c.artifact_id == _a.id)
        .where(link.c.run_id == run_id, _a.kind == FILE_KIND)
        for link, direction in ((run_inputs, "read"), (run_outputs, "write"))
    ]
    with _store(store).engine.connect() as conn:
        rows = [row for part in parts for row in conn.execute(part)]
        producers: dict[str, list[str]] = {}
        ids = sorted({r.id for r in rows})
        for start in range(0, len(ids), 400):
            stmt = select(run_outputs.c.artifact_id, run_outputs.c.run_id).where(
                run_outputs.c.artifact_id.in_(ids[start:start + 400]), run_outputs.c.run_id != run_id
            ).order_by(run_outputs.c.run_id)
            for artifact_id, producer in conn.execute(stmt):
                producers.setdefault(artifact_id, []).append(producer)
    files = [
        RunFile(path=r.path or r.name, direction=r.direction, version=r.version, sha256=r.sha256,
                size=r.size, artifact_id=r.id, producers=tuple(producers.get(r.id, ())))
        for r in rows
    ]
    return sorted(files, key=lambda f: (f.path, f.direction, f.version))


def external_inputs(run: Run | str, store: Store | None = None) -> list[RunFile]:
    """Files a run read that no recorded run wrote."""
    return [f for f in run_files(run, store) if f.external]


def changed_inputs(original_run_id: Run | str, replay_run_id: Run | str,
                   store: Store | None = None) -> list[tuple[str, str | None, str | None]]:
    """Files read by either run whose content differs: ``(path, old_sha256, new_sha256)``.

    A file only one of the runs read has None on the other side; files above
    the hash cap compare by artifact (size and mtime) and report a None hash.
    """
    original = _inputs_by_path(run_files(original_run_id, store))
    replay = _inputs_by_path(run_files(replay_run_id, store))
    changes: list[tuple[str, str | None, str | None]] = []
    for path in sorted(original.keys() | replay.keys()):
        old, new = original.get(path, {}), replay.get(path, {})
        if old.keys() == new.keys():
            continue
        gone = [old[k] for k in sorted(old.keys() - new.keys())]
        came = [new[k] for k in sorted(new.keys() - old.keys())]
        for index in range(max(len(gone), len(came))):
            changes.append((path, gone[index] if index < len(gone) else None,
                            came[index] if index < len(came) else None))
    return changes


def _inputs_by_path(files: list[RunFile]) -> dict[str, dict[str, str | None]]:
    found: dict[str, dict[str, str | None]] = {}
    for f in files:
        if f.direction == "read":
            found.setdefault(f.path, {})[f.artifact_id] = f.sha256
    return found


__all__ = [
    "Access", "FileVersion", "RunFile", "changed_inputs", "external_inputs", "file_history",
    "run_downstream", "run_files", "run_upstream",
]
