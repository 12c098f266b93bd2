"""Lineage queries: the current run, and upstream/downstream of cells and names.

Traversals run in the database as recursive CTEs, so they stay fast on a
store with millions of cells.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from . import context
from .exceptions import InvalidQueryError, NoActiveRunError, RecordNotFoundError
from .store.engine import Store
from .store.errors import database_errors
from .store.models import Cell, Node, Run


def _shell_recorder() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return None
    shell = get_ipython()
    if shell is None:
        return None
    from .recorder import find_recorder

    return find_recorder(shell)


def active_recorder() -> Any:
    """The recorder of this shell, or a NoActiveRunError saying how to start one."""
    recorder = _shell_recorder()
    if recorder is None or recorder.run_id is None or recorder.writer is None:
        raise NoActiveRunError("no run is being recorded here: run %load_ext lineage_magic first")
    return recorder


def current_run() -> Run | None:
    """The run being recorded in this shell (detached), or None."""
    recorder = _shell_recorder()
    if recorder is None or recorder.run_id is None or recorder.writer is None:
        return None
    recorder.flush()
    store = recorder.store or context.get_store()
    with store.session() as session:
        return session.get(Run, recorder.run_id)


def _store(store: Store | None) -> Store:
    context.flush_pending()
    return store or context.get_store()


def resolve_cells(target: Any, store: Store | None = None) -> tuple[list[str], str]:
    """Start cells for a traversal: from a Cell, Node, Run, cell id or variable name."""
    if isinstance(target, Cell):
        return [target.id], "cell"
    if isinstance(target, Node):
        return [target.cell_id], "cell"
    if isinstance(target, str) and target:
        recorder = _shell_recorder()
        if recorder is not None and recorder.run_id is not None:
            writer = recorder.tracker.last_writer(target)
            if writer is not None:
                return [writer[0]], "name"
        with _store(store).session(read=True) as session, database_errors("lineage"):
            if session.get(Cell, target) is not None:
                return [target], "cell"
        raise RecordNotFoundError(
            f"{target!r} is neither a name defined in the current run nor a cell id"
        )
    raise InvalidQueryError(
        f"upstream/downstream take a Cell, Node, cell id or variable name, got {type(target).__name__}"
    )


def _traverse(start: list[str], *, up: bool, depth: int | None, store: Store | None) -> list[Cell]:
    from .store import queries

    walk = queries.cell_upstream if up else queries.cell_downstream
    with _store(store).session(read=True) as session, database_errors("lineage"):
        ids = [hop.id for hop in walk(session, start, depth)]
        cells = [cell for chunk in range(0, len(ids), 10_000)
                 for cell in session.scalars(select(Cell).where(Cell.id.in_(ids[chunk:chunk + 10_000])))]
    return sorted(cells, key=lambda c: (c.run_id, c.seq))


def upstream(target: Any, *, depth: int | None = None, store: Store | None = None) -> list[Any]:
    """What ``target`` depends on: cells for a cell/node/name, runs for a run (through files and values)."""
    if isinstance(target, Run):
        from .files import run_upstream

        return run_upstream(target, store=_store(store), depth=depth)
    start, kind = resolve_cells(target, store)
    found = _traverse(start, up=True, depth=depth, store=store)
    if kind == "name":
        # A name's lineage includes the cell that last wrote it.
        with _store(store).session(read=True) as session:
            own = session.get(Cell, start[0])
        if own is not None and all(c.id != own.id for c in found):
            found.append(own)
            found.sort(key=lambda c: c.seq)
    return found


def downstream(target: Any, *, depth: int | None = None, store: Store | None = None) -> list[Any]:
    """What depends on ``target``: cells for a cell/node/name, runs for a run."""
    if isinstance(target, Run):
        from .files import run_downstream

        return run_downstream(target, store=_store(store), depth=depth)
    start, _ = resolve_cells(target, store)
    return _traverse(start, up=False, depth=depth, store=store)

