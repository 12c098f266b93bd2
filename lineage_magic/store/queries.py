"""Lineage traversals as recursive CTEs, on SQLite, PostgreSQL and MariaDB.

Every function takes a Core ``Connection`` or an ORM ``Session`` (the caller
owns its lifecycle) and returns plain ids with their shortest distance from
the start, ordered by ``(depth, id)``. The start ids are never
part of the result. Nothing here loads an ORM object.

Two graphs are walked:

- **cells**, over ``cell_links`` (a child cell read a name its parent wrote);
- **nodes**, over ``edges`` (``target`` -- a lookup, mutation or call -- used
  the value that ``source`` -- a definition, mutation or import -- wrote) plus
  one implicit rule, because edges stop at the cell boundary: *the writers of
  a cell (its definition and mutation nodes) depend on every node of the same
  cell that has an edge*. In ``model = fit(df)`` the definition ``model``
  depends on what the lookup ``df`` points at. The rule is per cell, not per
  statement, on purpose: a false dependency only makes a slice larger, a
  missed one makes it wrong.

So node ``n`` depends directly on node ``m`` when some node ``r`` of ``n``'s
cell has an edge to ``m``, and ``r`` is ``n`` itself or ``n`` is a writer.
Upstream of a lookup are the nodes it read; upstream of a definition are the
nodes its cell read; downstream of a definition are the lookups that read it
and the writers of their cells.

Depth: SQL recursion cannot skip a record it has already reached, so a
record reached by paths of k different lengths is produced k times. With
``depth=N`` the walk is breadth first in legs of ``LEG`` hops, one bounded
recursive CTE per leg started from the previous leg's frontier, which caps
that repetition at ``LEG`` per record. Depth 100 over a chain is 20
statements of 5 rows, about 1 ms on SQLite; over diamonds a single 100-hop
CTE produced up to 100 rows per record and was 10 to 30 times slower. The
statements are built once and executed with bound parameters. With
``depth=None`` one CTE collects the reached ids (each once: linear in the
reached subgraph, and safe against cycles) together with the links leaving
them, and the distances are computed in Python over those plain strings.

PostgreSQL runs a bounded walk as one statement instead: its recursive CTE
carries one row per hop holding the hop's frontier and every id seen so far
as arrays, so each record is expanded once, at its shortest distance, with
no repetition at all. Each statement costs PostgreSQL a round trip and
executor start-up that SQLite does not pay, and a depth-100 walk in legs was
20 statements. Each hop copies the ``seen`` array and hashes it to leave
out what was seen (a hashed ``NOT IN``; ``<> ALL`` compared every candidate
with every seen id), so that statement stops once ``ARRAY_SEEN`` ids are
seen and the walk goes on in legs from the last complete hop.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import (
    CTE,
    Connection,
    Integer,
    Select,
    String,
    and_,
    any_,
    bindparam,
    cast,
    distinct,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import ColumnElement

from ..exceptions import InvalidQueryError, RecordNotFoundError
from .tables import artifacts, cell_links, cell_nodes, cells, edges, nodes, run_inputs, runs

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = [
    "Hop",
    "WRITER_KINDS",
    "cell_upstream",
    "cell_downstream",
    "node_upstream",
    "node_downstream",
    "last_writer_node",
    "artifact_upstream",
    "artifact_downstream",
    "artifact_consumers",
]

# Node kinds that give a name a new value; they depend on what their cell read.
WRITER_KINDS = ("definition", "mutation")
# Hops per statement of a bounded walk: a record reached by paths of several
# lengths appears once per length inside a statement, so legs keep that
# repetition (diamonds make it) to at most LEG rows per record.
LEG = 5
# Ids bound in one statement.
MAX_IDS = 10_000
# PostgreSQL's one-statement walk stops after the hop where this many ids are seen
# (a downstream walk reaching 2,800 nodes: 40-60 ms with 5,000 here, 60-110 with
# 1,000, 65-210 in legs alone).
ARRAY_SEEN = 5_000


class Hop(NamedTuple):
    """A record reached by a traversal and its distance (in links) from the start."""

    id: str
    depth: int


def _check_depth(depth: int | None) -> None:
    if depth is None:
        return
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        raise InvalidQueryError(f"depth must be a positive int or None, got {depth!r}")


def _start(ids: Iterable[str] | str) -> list[str]:
    if isinstance(ids, str):
        return [ids]
    return list(dict.fromkeys(ids))


# --------------------------------------------------------------------------
# One hop, as an unrestricted SELECT of (src, dst) pairs and its src column;
# ``_statements`` restricts src to a frontier (an IN list) or joins it to the
# walk.


def _cell_hop(up: bool) -> tuple[Select[Any], ColumnElement[str]]:
    near, far = (
        (cell_links.c.child_id, cell_links.c.parent_id) if up
        else (cell_links.c.parent_id, cell_links.c.child_id)
    )
    return select(near.label("src"), far.label("dst")), near


def _node_hop(up: bool) -> tuple[Select[Any], ColumnElement[str]]:
    this = nodes.alias("this")
    other = nodes.alias("other")
    link = edges.alias("link")
    if up:
        # From ``this`` to what it, or (if a writer) its cell, read.
        reader_of_this = and_(
            cell_nodes(this.c.cell_id, of=other),
            or_(other.c.id == this.c.id, this.c.kind.in_(WRITER_KINDS)),
        )
        stmt = (
            select(this.c.id.label("src"), link.c.source_id.label("dst"))
            .select_from(this)
            .join(other, reader_of_this)
            .join(link, link.c.target_id == other.c.id)
        )
        return stmt, this.c.id
    # From ``this`` to the readers of it and the writers of their cells.
    reader = nodes.alias("reader")
    dependant = and_(
        cell_nodes(reader.c.cell_id, of=other),
        or_(other.c.id == reader.c.id, other.c.kind.in_(WRITER_KINDS)),
    )
    stmt = (
        select(link.c.source_id.label("src"), other.c.id.label("dst"))
        .select_from(link)
        .join(reader, reader.c.id == link.c.target_id)
        .join(other, dependant)
    )
    return stmt, link.c.source_id


@lru_cache(maxsize=None)
def _statements(graph: str, up: bool) -> tuple[Select[Any], Select[Any]]:
    """(one bounded leg, the unbounded walk) of a graph, built once with bound parameters.

    Building a recursive CTE construct costs about a millisecond of Python;
    built once, each execution is a compiled-cache hit with new parameters:
    ``frontier`` (expanding) and ``leg`` for a leg, ``start`` for the walk.
    """
    pairs, src = _cell_hop(up) if graph == "cell" else _node_hop(up)
    dst = pairs.selected_columns.dst
    one = cast(literal(1), Integer)
    seed = pairs.with_only_columns(dst.label("id"), one.label("depth"))
    walk: CTE = seed.where(src.in_(bindparam("frontier", expanding=True))).cte("walk", recursive=True)
    step = (
        pairs.with_only_columns(dst, cast(walk.c.depth + one, Integer))
        .join(walk, src == walk.c.id)
        .where(walk.c.depth < bindparam("leg", type_=Integer))
    )
    # UNION (not ALL) folds paths that reach the same id at the same depth.
    walk = walk.union(step)
    leg = select(walk.c.id, func.min(walk.c.depth)).group_by(walk.c.id)

    # The start (those with links) and every record reached from it, each once;
    # then the links leaving them: the reached subgraph. A join, not
    # ``IN (start) OR IN (reach)``, which PostgreSQL answers with a table scan.
    start = bindparam("start", expanding=True)
    reach: CTE = pairs.with_only_columns(src.label("id")).where(src.in_(start)).cte("reach", recursive=True)
    reach = reach.union(pairs.with_only_columns(dst).join(reach, src == reach.c.id))
    links = pairs.join(reach, src == reach.c.id)
    return leg, links


@lru_cache(maxsize=None)
def _array_statement(graph: str, up: bool) -> Select[Any]:
    """PostgreSQL: a bounded breadth-first walk in one statement (``start``, ``depth``, ``seen_max``).

    Each row of the recursive CTE is one hop: the ids first reached at that
    distance (``frontier``) and every id reached up to it (``seen``). The
    next hop is the distinct ids linked from the frontier and not seen yet,
    gathered by an aggregate in a lateral subquery (an aggregate is not
    allowed in the recursive term itself); ``NOT IN (unnest(seen))`` is
    planned as a hash of the seen ids, built once per hop.
    """
    pairs, src = _cell_hop(up) if graph == "cell" else _node_hop(up)
    dst = pairs.selected_columns.dst
    ids = ARRAY(String)
    start = bindparam("start", type_=ids)
    walk: CTE = select(
        start.label("frontier"), start.label("seen"), cast(literal(0), Integer).label("depth"),
    ).cte("bfs", recursive=True)
    nxt = (
        pairs.with_only_columns(func.array_agg(distinct(dst), type_=ids).label("found"))
        .where(src == any_(walk.c.frontier),
               dst.not_in(select(func.unnest(walk.c.seen)).correlate(walk).scalar_subquery()))
        .lateral("hop")
    )
    step = (
        select(nxt.c.found, func.array_cat(walk.c.seen, nxt.c.found, type_=ids),
               cast(walk.c.depth + 1, Integer))
        .select_from(walk.join(nxt, true()))
        .where(
            nxt.c.found.is_not(None),
            walk.c.depth < bindparam("depth", type_=Integer),
            func.cardinality(walk.c.seen) < bindparam("seen_max", type_=Integer),
        )
    )
    walk = walk.union_all(step)
    return select(func.unnest(walk.c.frontier), walk.c.depth).where(walk.c.depth > 0)


def _dialect(conn: Connection | Session) -> str:
    return (conn.dialect if isinstance(conn, Connection) else conn.get_bind().dialect).name


def _walk(conn: Connection | Session, graph: str, up: bool, start: list[str],
          depth: int | None) -> list[Hop]:
    """The records reachable from ``start``, with their shortest distances."""
    if not start:
        return []
    leg_stmt, links_stmt = _statements(graph, up)
    if depth is None:
        following: dict[str, list[str]] = {}
        for chunk in _chunks(start):
            for a, b in conn.execute(links_stmt, {"start": chunk}):
                following.setdefault(a, []).append(b)
        return _shortest(following, start)
    # Breadth first, LEG hops per statement, each leg started from the
    # records first reached at the previous leg's last hop.
    seen = set(start)
    found: list[Hop] = []
    frontier, done = start, 0
    if _dialect(conn) == "postgresql":
        params = {"start": start, "depth": depth, "seen_max": ARRAY_SEEN}
        found = [Hop(record, hops) for record, hops in conn.execute(_array_statement(graph, up), params)]
        seen.update(hop.id for hop in found)
        if len(seen) < ARRAY_SEEN:
            return _ordered(found)  # the walk ended, or reached ``depth``
        # Stopped at ARRAY_SEEN: go on in legs from the last hop (every hop is complete).
        done = max((hop.depth for hop in found), default=0)
        frontier = [hop.id for hop in found if hop.depth == done] if done else start
    while frontier and done < depth:
        leg = min(LEG, depth - done)
        nearest: dict[str, int] = {}
        for chunk in _chunks(frontier):
            for record, hops in conn.execute(leg_stmt, {"frontier": chunk, "leg": leg}):
                if record not in seen and hops < nearest.get(record, leg + 1):
                    nearest[record] = hops
        seen.update(nearest)
        found.extend(Hop(record, done + hops) for record, hops in nearest.items())
        frontier = [record for record, hops in nearest.items() if hops == leg]
        done += leg
    return _ordered(found)


def _chunks(ids: list[str]) -> Iterable[list[str]]:
    """Slices of at most MAX_IDS ids: PostgreSQL takes 65,535 parameters at most."""
    for first in range(0, len(ids), MAX_IDS):
        yield ids[first:first + MAX_IDS]


def _shortest(following: dict[str, list[str]], start: list[str]) -> list[Hop]:
    """Breadth-first distances from ``start`` over an adjacency dict."""
    seen = set(start)
    found: list[Hop] = []
    queue = deque((s, 0) for s in start)
    while queue:
        current, distance = queue.popleft()
        for nxt in following.get(current, ()):
            if nxt not in seen:
                seen.add(nxt)
                found.append(Hop(nxt, distance + 1))
                queue.append((nxt, distance + 1))
    return _ordered(found)


def _ordered(found: list[Hop]) -> list[Hop]:
    return sorted(found, key=lambda hop: (hop.depth, hop.id))


# --------------------------------------------------------------------------
# Public traversals


def cell_upstream(conn: Connection | Session, cell_ids: Iterable[str] | str,
                  depth: int | None = None) -> list[Hop]:
    """Cells the given cells depend on (over ``cell_links``), nearest first."""
    _check_depth(depth)
    return _walk(conn, "cell", True, _start(cell_ids), depth)


def cell_downstream(conn: Connection | Session, cell_ids: Iterable[str] | str,
                    depth: int | None = None) -> list[Hop]:
    """Cells that depend on the given cells, nearest first."""
    _check_depth(depth)
    return _walk(conn, "cell", False, _start(cell_ids), depth)


def node_upstream(conn: Connection | Session, node_ids: Iterable[str] | str,
                  depth: int | None = None) -> list[Hop]:
    """Nodes the given nodes depend on (edges plus the same-cell rule), nearest first."""
    _check_depth(depth)
    return _walk(conn, "node", True, _start(node_ids), depth)


def node_downstream(conn: Connection | Session, node_ids: Iterable[str] | str,
                    depth: int | None = None) -> list[Hop]:
    """Nodes that depend on the given nodes, nearest first."""
    _check_depth(depth)
    return _walk(conn, "node", False, _start(node_ids), depth)


def last_writer_node(conn: Connection | Session, run_id: str, name: str) -> str | None:
    """The id of the last definition or mutation of ``name`` in a run, or None."""
    stmt = (
        select(nodes.c.id)
        .join(cells, cell_nodes(cells.c.id))
        .where(cells.c.run_id == run_id, nodes.c.name == name, nodes.c.kind.in_(WRITER_KINDS))
        .order_by(cells.c.seq.desc(), nodes.c.position.desc())
        .limit(1)
    )
    return conn.execute(stmt).scalar()


def _producing_cell(conn: Connection | Session, artifact_id: str) -> str | None:
    found = conn.execute(select(artifacts.c.cell_id).where(artifacts.c.id == artifact_id)).first()
    if found is None:
        raise RecordNotFoundError(f"no artifact with id {artifact_id!r}")
    return found[0]


def artifact_upstream(conn: Connection | Session, artifact_id: str,
                      depth: int | None = None) -> list[Hop]:
    """The cell that produced an artifact (depth 0) and the cells it depends on."""
    _check_depth(depth)
    cell = _producing_cell(conn, artifact_id)
    if cell is None:
        return []
    return [Hop(cell, 0), *cell_upstream(conn, [cell], depth)]


def artifact_downstream(conn: Connection | Session, artifact_id: str,
                        depth: int | None = None) -> list[Hop]:
    """Cells that depend on the cell that produced an artifact, nearest first."""
    _check_depth(depth)
    cell = _producing_cell(conn, artifact_id)
    if cell is None:
        return []
    return cell_downstream(conn, [cell], depth)


def artifact_consumers(conn: Connection | Session, artifact_id: str) -> list[str]:
    """Ids of the runs that used an artifact as an input, oldest first."""
    stmt = (
        select(runs.c.id)
        .join(run_inputs, run_inputs.c.run_id == runs.c.id)
        .where(run_inputs.c.artifact_id == artifact_id)
        .order_by(runs.c.started_at, runs.c.id)
    )
    return list(conn.execute(stmt).scalars())
