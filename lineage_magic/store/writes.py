"""Bulk writes of recorded lineage, in SQLAlchemy Core over a given connection.

The recorder's writer thread and the scale benchmark both write through
these functions; the caller owns the transaction.
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import is_, itemgetter
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import JSON, Connection, Table, insert, select, update
from sqlalchemy.engine import Dialect

from ..ids import new_id, utcnow
from . import tables
from .runstart import RunStart
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
    """Insert cells with their sources, nodes, edges, parents and libraries.

    One statement per table for the whole batch, with rows prebuilt as
    tuples in column order (see ``_insert_rows``); the caller's transaction
    makes the batch atomic. Keys a row has that its table has not are
    ignored (the recorder's node and edge rows carry a ``run_id``).
    """
    cells = list(cells)
    if not cells:
        return
    sources = {c.source_id: c.source_code for c in cells if c.source_code is not None}
    if sources:
        insert_ignore(conn, source_t, [{"id": k, "code": v} for k, v in sources.items()])
    _insert_rows(conn, cells_t, [c.cell for c in cells])
    nodes = [n for c in cells for n in c.nodes]
    if nodes:
        _insert_rows(conn, nodes_t, nodes)
    edges = [e for c in cells for e in c.edges]
    if edges:
        _insert_rows(conn, edges_t, edges)
    links = [(p, c.cell["id"]) for c in cells for p in c.parents]
    if links:
        _insert_rows(conn, cell_links, links, prebuilt=True)
    libraries = [lib for c in cells for lib in c.libraries]
    if libraries:
        insert_ignore(conn, libraries_t, libraries)


# --------------------------------------------------------------------------
# Bulk inserts with prebuilt rows
#
# ``conn.execute(insert(table), dicts)`` spends more time in Python (a
# parameter dict built and processed per row) than the database spends
# inserting. Here each row becomes one tuple in the table's column order,
# only the columns whose type converts values (timestamps, JSON) go through
# that type's own bind processor, so what is stored is exactly what Core
# would store, and the tuples go to the driver in one call: ``executemany``
# for drivers with positional parameters (SQLite, PyMySQL), ``COPY ... FROM
# STDIN`` on PostgreSQL. Both run inside the caller's transaction; driver
# errors are raised as SQLAlchemy's (``IntegrityError`` ...), as Core would.


@dataclass(frozen=True)
class _Plan:
    """How rows of one table are turned into tuples for one dialect."""

    keys: tuple[str, ...]
    defaults: tuple[Any, ...]  # per column: a value, a callable, or _NONE
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]
    statement: str
    how: str  # "executemany", "copy", "by_nulls" (SQLite) or "core"
    # "by_nulls": the columns that may be NULL, and a statement per set of NULL ones.
    may_be_null: tuple[int, ...] = ()
    by_nulls: dict[tuple[bool, ...], tuple[str, Callable[[Any], Any] | None]] = field(default_factory=dict)


_NONE = object()
# Per dialect instance: bind processors depend on the engine's settings.
_plans: WeakKeyDictionary[Dialect, dict[str, _Plan]] = WeakKeyDictionary()


def _plan(conn: Connection, table: Table) -> _Plan:
    dialect = conn.dialect
    found = _plans.get(dialect, {}).get(table.name)
    if found is not None:
        return found
    columns = list(table.columns)
    keys = tuple(c.key for c in columns)
    defaults: list[Any] = []
    for column in columns:
        default = column.default
        if default is None or not (default.is_scalar or default.is_callable):
            defaults.append(_NONE)
        elif default.is_scalar:
            defaults.append(default.arg)
        else:
            defaults.append(lambda arg=default.arg: arg(None))
    processors = []
    for index, column in enumerate(columns):
        process = column.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None and isinstance(column.type, JSON) and _serializes_like_json_dumps(process):
            process = _lists_of_names_first(process)  # JSON as text (SQLite, MariaDB)
        if process is not None:
            processors.append((index, process))
    quote = dialect.identifier_preparer
    names = ", ".join(quote.quote(c.name) for c in columns)
    into = f"{quote.format_table(table)} ({names})"
    compiled = insert(table).compile(dialect=dialect, column_keys=list(keys))
    how = "executemany"
    may_be_null: tuple[int, ...] = ()
    if compiled.positional and list(compiled.positiontup or ()) == list(keys):
        statement = str(compiled)  # SQLite: qmark
        may_be_null = tuple(i for i, c in enumerate(columns) if c.nullable and not c.primary_key)
        if may_be_null:
            statement, how = f"INSERT INTO {into}", "by_nulls"
    elif dialect.name == "postgresql" and dialect.driver == "psycopg":
        statement, how = f"COPY {into} FROM STDIN", "copy"
    elif dialect.paramstyle in ("format", "pyformat"):
        # PyMySQL takes %s with tuples and sends the batch as multi-row INSERTs.
        statement = f"INSERT INTO {into} VALUES ({', '.join(['%s'] * len(keys))})"
    else:  # pragma: no cover - another driver: plain Core
        statement, how = "", "core"
    found = _Plan(keys, tuple(defaults), tuple(processors), statement, how, may_be_null)
    _plans.setdefault(dialect, {})[table.name] = found
    return found


# Strings that ``json.dumps`` writes as they are: printable ASCII but ``"`` and ``\``.
_PLAIN = re.compile(r'[ !#-\[\]-~]*\Z').match
_PROBE = ["a", "b c"]


def _serializes_like_json_dumps(process: Callable[[Any], Any]) -> bool:
    """Whether a JSON processor stores ``json.dumps``' text (the engine's default serializer)."""
    return process([]) == "[]" and process(_PROBE) == json.dumps(_PROBE)


def _lists_of_names_first(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A JSON processor that writes the common values itself, as ``json.dumps`` would.

    Most cells' outputs are an empty list and most nodes' args a list of a
    few names; the encoder costs several microseconds for either.
    """
    def convert(value: Any) -> Any:
        if type(value) is list:
            if not value:
                return "[]"
            if type(value[0]) is str:
                try:
                    plain = all(map(_PLAIN, value))
                except TypeError:  # not all strings
                    plain = False
                if plain:
                    return '["' + '", "'.join(value) + '"]'
        return process(value)

    return convert


def _tuple(plan: _Plan, row: dict[str, Any]) -> tuple[Any, ...]:
    """A row with missing keys: column defaults, else NULL (as Core does)."""
    values = []
    for key, default in zip(plan.keys, plan.defaults):
        if key in row:
            values.append(row[key])
        elif default is _NONE:
            values.append(None)
        else:
            values.append(default() if callable(default) else default)
    return tuple(values)


def _insert_rows(conn: Connection, table: Table, rows: Sequence[Any], *, prebuilt: bool = False) -> None:
    """Insert row dicts (or, with ``prebuilt``, tuples in column order) in one call."""
    plan = _plan(conn, table)
    if plan.how == "core":  # pragma: no cover - no supported driver lands here
        dicts = [dict(zip(plan.keys, r)) for r in rows] if prebuilt else rows
        conn.execute(insert(table), [{k: v for k, v in r.items() if k in table.c} for r in dicts])
        return
    columns = _columns(plan, rows, prebuilt)
    if plan.how == "copy":
        _copy(conn, plan.statement, zip(*columns))
    elif plan.how == "by_nulls":
        _insert_by_nulls(conn, plan, columns)
    else:
        conn.exec_driver_sql(plan.statement, list(zip(*columns)))


def _columns(plan: _Plan, rows: Sequence[Any], prebuilt: bool) -> list[list[Any]]:
    """The rows' values column by column, converted as the columns' types convert them.

    Column-wise, the per-row work is done by ``itemgetter``, ``map`` and
    ``zip`` in C; only the values of converting columns pass through Python.
    """
    if prebuilt:
        columns = [list(c) for c in zip(*rows)]
    else:
        try:
            columns = [list(map(itemgetter(key), rows)) for key in plan.keys]
        except KeyError:  # some rows leave columns out
            columns = [list(c) for c in zip(*[_tuple(plan, r) for r in rows])]
    for index, process in plan.processors:
        columns[index] = [None if v is None else process(v) for v in columns[index]]
    return columns


def _getter(indexes: Sequence[int]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """``itemgetter`` that always returns a tuple, even of one item."""
    if len(indexes) == 1:
        index = indexes[0]
        return lambda row: (row[index],)
    return itemgetter(*indexes)


def _insert_by_nulls(conn: Connection, plan: _Plan, columns: list[list[Any]]) -> None:
    """SQLite: rows grouped by which columns are NULL, those written as ``NULL`` in the statement.

    Python 3.11's sqlite3 binds ``None`` through its adapter lookup, several
    times slower than binding a string; a node row carries half a dozen.
    Each group keeps the rows' order; nothing else in a batch depends on it.
    """
    keys = zip(*[map(is_, columns[i], repeat(None)) for i in plan.may_be_null])
    groups: defaultdict[tuple[bool, ...], list[tuple[Any, ...]]] = defaultdict(list)
    for key, row in zip(keys, zip(*columns)):
        groups[key].append(row)
    for key, rows in groups.items():
        how = plan.by_nulls.get(key)
        if how is None:
            how = plan.by_nulls[key] = _null_statement(plan, key)
        statement, bound = how
        conn.exec_driver_sql(statement, rows if bound is None else list(map(bound, rows)))


def _null_statement(plan: _Plan, key: tuple[bool, ...]) -> tuple[str, Callable[[Any], Any] | None]:
    """The INSERT of a group of rows (``plan.statement`` is its head), and what picks its values.

    ``None`` when it binds every column.
    """
    null = {i for i, is_null in zip(plan.may_be_null, key) if is_null}
    bound = [i for i in range(len(plan.keys)) if i not in null]
    values = ", ".join("NULL" if i in null else "?" for i in range(len(plan.keys)))
    return f"{plan.statement} VALUES ({values})", _getter(bound) if null else None


def _copy(conn: Connection, statement: str, values: Iterable[Any]) -> None:
    """``COPY ... FROM STDIN`` on the connection's psycopg cursor, errors as SQLAlchemy's."""
    from sqlalchemy.exc import DBAPIError

    dbapi = conn.dialect.loaded_dbapi
    raw = conn.connection
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            write = copy.write_row
            for v in values:
                write(v)
    except dbapi.Error as err:
        invalidated = conn.dialect.is_disconnect(err, raw, None)
        if invalidated:
            conn.invalidate(err)
        raise DBAPIError.instance(statement, None, err, dbapi.Error,
                                  connection_invalidated=invalidated, dialect=conn.dialect) from err
