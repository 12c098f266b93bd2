"""Upstream and downstream lineage as plain graph data.

The graph alternates code and data: a *cell* produces the *names* it defines
or mutates; a name flows into every cell that looks it up (over ``edges``);
cells linked only by ``cell_links`` are joined directly; a cell or name
produces the *artifacts* saved from it; *runs* consume their input artifacts
and produce their outputs, so files written by one run and read by another
join the two runs. Edges point the way data flows (source to target).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from ..exceptions import InvalidQueryError, RecordNotFoundError
from ..store.engine import Store
from ..store.tables import cell_nodes
from ..store.models import (
    Artifact,
    Cell,
    Edge,
    Node,
    Run,
    SourceCode,
    Transform,
    cell_links,
    run_inputs,
    run_outputs,
)
from .data import artifact_label, cell_label, run_label

__all__ = [
    "GraphNode", "LineageGraph", "lineage_graph", "has_variable", "GRAPH_KINDS", "DEFINING_KINDS",
]

GRAPH_KINDS = ("cell", "name", "artifact", "file", "run")
# Node kinds that bind a name, i.e. produce a new version of a variable.
DEFINING_KINDS = ("definition", "mutation", "import")
# Which record a graph node opens in the record view.
RECORD_KIND = {"cell": "cell", "name": "node", "artifact": "artifact", "file": "artifact",
               "run": "run"}
CHUNK = 500
MAX_NODES = 20_000


@dataclass(frozen=True)
class GraphNode:
    """One node of a lineage graph; ``side`` is root, upstream or downstream."""

    key: str
    kind: str
    id: str
    label: str
    side: str
    distance: int

    @property
    def record_kind(self) -> str:
        """The record kind the record view opens for this node."""
        return RECORD_KIND[self.kind]


@dataclass(frozen=True)
class LineageGraph:
    """Nodes within ``depth`` hops of the roots and the edges between them."""

    title: str
    depth: int
    nodes: tuple[GraphNode, ...]
    edges: tuple[tuple[str, str], ...]
    roots: tuple[str, ...]
    truncated: bool = False

    def keys(self, side: str | None = None) -> set[str]:
        """Keys of the nodes on one side (root, upstream, downstream) or all."""
        return {n.key for n in self.nodes if side is None or n.side == side}

    def ids(self, side: str, kind: str | None = None) -> set[str]:
        """Record ids of the nodes on one side, optionally of one kind."""
        return {n.id for n in self.nodes if n.side == side and (kind is None or n.kind == kind)}

    def node(self, key: str) -> GraphNode:
        """The node with this key."""
        for node in self.nodes:
            if node.key == key:
                return node
        raise KeyError(key)


def _key(kind: str, id: str) -> str:  # noqa: A002
    return f"{kind}:{id}"


def _artifact_kind(kind: str | None) -> str:
    return "file" if kind == "file" else "artifact"


def _chunks(ids: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start:start + CHUNK])


Link = tuple[str, str]  # (source key, target key)


def _upstream(session: Session, kind: str, ids: list[str]) -> Iterable[Link]:
    """Edges into the given nodes of one kind."""
    if kind == "name":
        for nid, cid in session.execute(select(Node.id, Node.cell_id).where(Node.id.in_(ids))):
            yield _key("cell", cid), _key("name", nid)
    elif kind == "cell":
        source, target = aliased(Node), aliased(Node)
        feeding: dict[str, set[str]] = defaultdict(set)
        rows = session.execute(
            select(Edge.source_id, source.cell_id, target.cell_id)
            .select_from(Cell)
            .join(target, cell_nodes(Cell.id, of=target))
            .join(Edge, Edge.target_id == target.id)
            .join(source, source.id == Edge.source_id)
            .where(Cell.id.in_(ids), source.cell_id != target.cell_id)
        )
        for sid, scell, tcell in rows:
            feeding[tcell].add(scell)
            yield _key("name", sid), _key("cell", tcell)
        links = session.execute(
            select(cell_links.c.parent_id, cell_links.c.child_id)
            .where(cell_links.c.child_id.in_(ids))
        )
        for parent, child in links:
            # A name already carries this dependency; a bare cell link is a fallback.
            if parent not in feeding[child]:
                yield _key("cell", parent), _key("cell", child)
    elif kind in ("artifact", "file"):
        rows = session.execute(
            select(Artifact.id, Artifact.kind, Artifact.node_id, Artifact.cell_id, Artifact.run_id)
            .where(Artifact.id.in_(ids))
        )
        for aid, akind, node_id, cell_id, run_id in rows:
            me = _key(_artifact_kind(akind), aid)
            if node_id:
                yield _key("name", node_id), me
            elif cell_id:
                yield _key("cell", cell_id), me
            if run_id:
                yield _key("run", run_id), me
        producers = session.execute(
            select(run_outputs.c.run_id, run_outputs.c.artifact_id, Artifact.kind)
            .join(Artifact, Artifact.id == run_outputs.c.artifact_id)
            .where(run_outputs.c.artifact_id.in_(ids))
        )
        for rid, aid, akind in producers:
            yield _key("run", rid), _key(_artifact_kind(akind), aid)
    elif kind == "run":
        rows = session.execute(
            select(run_inputs.c.artifact_id, Artifact.kind, run_inputs.c.run_id)
            .join(Artifact, Artifact.id == run_inputs.c.artifact_id)
            .where(run_inputs.c.run_id.in_(ids))
        )
        for aid, akind, rid in rows:
            yield _key(_artifact_kind(akind), aid), _key("run", rid)


def _downstream(session: Session, kind: str, ids: list[str]) -> Iterable[Link]:
    """Edges out of the given nodes of one kind."""
    if kind == "name":
        source, target = aliased(Node), aliased(Node)
        rows = session.execute(
            select(Edge.source_id, target.cell_id)
            .join(source, source.id == Edge.source_id)
            .join(target, target.id == Edge.target_id)
            .where(Edge.source_id.in_(ids), source.cell_id != target.cell_id)
        )
        for sid, tcell in rows:
            yield _key("name", sid), _key("cell", tcell)
        artifacts = session.execute(
            select(Artifact.id, Artifact.kind, Artifact.node_id).where(Artifact.node_id.in_(ids))
        )
        for aid, akind, nid in artifacts:
            yield _key("name", nid), _key(_artifact_kind(akind), aid)
    elif kind == "cell":
        names = session.execute(
            select(Node.id, Node.cell_id).join(Cell, cell_nodes(Cell.id))
            .where(Cell.id.in_(ids), Node.kind.in_(DEFINING_KINDS))
        )
        for nid, cid in names:
            yield _key("cell", cid), _key("name", nid)
        artifacts = session.execute(
            select(Artifact.id, Artifact.kind, Artifact.cell_id)
            .where(Artifact.cell_id.in_(ids), Artifact.node_id.is_(None))
        )
        for aid, akind, cid in artifacts:
            yield _key("cell", cid), _key(_artifact_kind(akind), aid)
        source, target = aliased(Node), aliased(Node)
        fed = {tuple(row) for row in session.execute(
            select(source.cell_id, target.cell_id)
            .select_from(Cell)
            .join(source, cell_nodes(Cell.id, of=source))
            .join(Edge, Edge.source_id == source.id)
            .join(target, target.id == Edge.target_id)
            .where(Cell.id.in_(ids))
        )}
        links = session.execute(
            select(cell_links.c.parent_id, cell_links.c.child_id)
            .where(cell_links.c.parent_id.in_(ids))
        )
        for parent, child in links:
            if (parent, child) not in fed:
                yield _key("cell", parent), _key("cell", child)
    elif kind in ("artifact", "file"):
        rows = session.execute(
            select(run_inputs.c.run_id, run_inputs.c.artifact_id, Artifact.kind)
            .join(Artifact, Artifact.id == run_inputs.c.artifact_id)
            .where(run_inputs.c.artifact_id.in_(ids))
        )
        for rid, aid, akind in rows:
            yield _key(_artifact_kind(akind), aid), _key("run", rid)
    elif kind == "run":
        rows = session.execute(
            select(run_outputs.c.artifact_id, Artifact.kind, run_outputs.c.run_id)
            .join(Artifact, Artifact.id == run_outputs.c.artifact_id)
            .where(run_outputs.c.run_id.in_(ids))
        )
        for aid, akind, rid in rows:
            yield _key("run", rid), _key(_artifact_kind(akind), aid)
        owned = session.execute(
            select(Artifact.id, Artifact.kind, Artifact.run_id).where(Artifact.run_id.in_(ids))
        )
        for aid, akind, rid in owned:
            yield _key("run", rid), _key(_artifact_kind(akind), aid)


def _walk(session: Session, roots: Sequence[str], depth: int, upstream: bool,
          distance: dict[str, int], edges: set[Link], budget: int) -> bool:
    """Breadth-first over one direction; False when the node budget ran out."""
    frontier = list(roots)
    seen = set(roots)
    for hop in range(1, depth + 1):
        by_kind: dict[str, list[str]] = defaultdict(list)
        for key in frontier:
            kind, _, id = key.partition(":")  # noqa: A001
            by_kind[kind].append(id)
        following: list[str] = []
        for kind, ids in by_kind.items():
            for chunk in _chunks(ids):
                links = (_upstream if upstream else _downstream)(session, kind, chunk)
                for source, target in links:
                    edges.add((source, target))
                    other = source if upstream else target
                    if other not in seen:
                        seen.add(other)
                        distance.setdefault(other, hop)
                        following.append(other)
        if len(distance) > budget:
            return False
        if not following:
            break
        frontier = following
    return True


def _labels(session: Session, keys: Iterable[str]) -> dict[str, str]:
    by_kind: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        kind, _, id = key.partition(":")  # noqa: A001
        by_kind[kind].append(id)
    labels: dict[str, str] = {}
    for kind, ids in by_kind.items():
        for chunk in _chunks(ids):
            if kind == "name":
                rows = session.execute(
                    select(Node.id, Node.kind, Node.name, Cell.seq)
                    .join(Cell, Cell.id == Node.cell_id).where(Node.id.in_(chunk))
                )
                for nid, nkind, name, seq in rows:
                    suffix = "" if nkind == "definition" else f" ({nkind})"
                    labels[_key(kind, nid)] = f"{name}{suffix} · cell {seq}"
            elif kind == "cell":
                rows = session.execute(
                    select(Cell.id, Cell.seq, Cell.status, SourceCode.code)
                    .join(SourceCode, SourceCode.id == Cell.source_code_id)
                    .where(Cell.id.in_(chunk))
                )
                for cid, seq, status, code in rows:
                    labels[_key(kind, cid)] = cell_label(seq, status, code)
            elif kind in ("artifact", "file"):
                rows = session.execute(
                    select(Artifact.id, Artifact.kind, Artifact.name, Artifact.version,
                           Artifact.path).where(Artifact.id.in_(chunk))
                )
                for aid, akind, name, version, path in rows:
                    labels[_key(kind, aid)] = artifact_label(akind, name, version, path)
            elif kind == "run":
                rows = session.execute(
                    select(Run.id, Run.name, Transform.name, Run.started_at)
                    .outerjoin(Transform, Transform.id == Run.transform_id)
                    .where(Run.id.in_(chunk))
                )
                for rid, name, transform, started in rows:
                    labels[_key(kind, rid)] = run_label(rid, name, transform, started)
    return labels


def _roots(session: Session, kind: str, target: str, run: str | None) -> tuple[list[str], str]:
    """Root keys and a title for a target of the given kind."""
    if kind == "name":
        run_id = run or session.scalar(
            select(Cell.run_id).join(Node, Node.cell_id == Cell.id).join(Run, Run.id == Cell.run_id)
            .where(Node.name == target)
            .order_by(Run.started_at.desc(), Run.created_at.desc()).limit(1)
        )
        if run_id is None:
            raise RecordNotFoundError(f"no recorded variable named {target!r}")
        in_run = select(Node.id).join(Cell, cell_nodes(Cell.id)).where(Cell.run_id == run_id)
        ids = list(session.scalars(
            in_run.where(Node.name == target, Node.kind.in_(DEFINING_KINDS))
        ))
        if ids:
            return [_key("name", i) for i in ids], f"variable {target} (run {run_id})"
        cells = list(session.scalars(
            in_run.with_only_columns(Node.cell_id).where(Node.name == target).distinct()
        ))
        if not cells:
            raise RecordNotFoundError(f"no variable named {target!r} in run {run_id}")
        return [_key("cell", c) for c in cells], f"variable {target} (run {run_id})"
    if kind == "node":
        if session.get(Node, target) is None:
            raise RecordNotFoundError(f"no node with id {target!r}")
        return [_key("name", target)], f"node {target}"
    if kind == "artifact":
        akind = session.scalar(select(Artifact.kind).where(Artifact.id == target))
        if akind is None:
            raise RecordNotFoundError(f"no artifact with id {target!r}")
        return [_key(_artifact_kind(akind), target)], f"artifact {target}"
    if kind in ("cell", "run"):
        model = Cell if kind == "cell" else Run
        if session.get(model, target) is None:
            raise RecordNotFoundError(f"no {kind} with id {target!r}")
        return [_key(kind, target)], f"{kind} {target}"
    raise InvalidQueryError(f"no lineage graph for a {kind}: use a variable name, node, "
                            "artifact, cell or run")


def lineage_graph(store: Store, kind: str, target: str, *, depth: int = 3,
                  run: str | None = None, max_nodes: int = MAX_NODES) -> LineageGraph:
    """Upstream and downstream of a variable (``kind="name"``), node, artifact, cell or run."""
    depth = max(0, int(depth))
    with store.session(read=True) as session:
        roots, title = _roots(session, kind, target, run)
        up_dist: dict[str, int] = dict.fromkeys(roots, 0)
        down_dist: dict[str, int] = dict.fromkeys(roots, 0)
        edges: set[Link] = set()
        complete = _walk(session, roots, depth, True, up_dist, edges, max_nodes)
        complete &= _walk(session, roots, depth, False, down_dist, edges, max_nodes)
        sides: dict[str, tuple[str, int]] = {}
        for key, hops in up_dist.items():
            sides[key] = ("upstream", hops)
        for key, hops in down_dist.items():
            # A node on both sides (possible only through run-level cycles) stays upstream.
            sides.setdefault(key, ("downstream", hops))
        for key in roots:
            sides[key] = ("root", 0)
        # Edges found at the last hop may point at nodes beyond it: keep only ours.
        kept = tuple(sorted((s, t) for s, t in edges if s in sides and t in sides))
        labels = _labels(session, sides)
    nodes = tuple(
        GraphNode(key, key.partition(":")[0], key.partition(":")[2],
                  labels.get(key, key.partition(":")[2]), side, hops)
        for key, (side, hops) in sorted(sides.items(), key=lambda kv: (kv[1][1], kv[0]))
    )
    return LineageGraph(title, depth, nodes, kept, tuple(roots), truncated=not complete)


def has_variable(store: Store, name: str, run: str | None = None) -> bool:
    """True when a node named ``name`` was recorded (in ``run``, when given)."""
    stmt = select(Node.id).where(Node.name == name)
    if run is not None:
        stmt = stmt.join(Cell, cell_nodes(Cell.id)).where(Cell.run_id == run)
    with store.session(read=True) as session:
        return session.scalar(stmt.limit(1)) is not None
