"""The lineage store's records: SQLAlchemy 2.0 typed declarative models.

Names follow the seeds (lamindb's User/Transform/Run, lineapy's nodes, node
values and artifacts). Ids are short random strings generated client-side, so
the recorder can link nodes and edges before anything reaches the database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Connection, and_, event, inspect, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Mapper, column_property, foreign, relationship

from ..ids import new_id, node_id, utcnow  # noqa: F401 - callers take new_id and utcnow from here too
from . import tables
from .tables import cell_files, cell_links, run_inputs, run_outputs


class Base(DeclarativeBase):
    """Declarative base over the Core metadata of ``tables``."""

    metadata = tables.metadata

    # Columns shown in the repr, in order; None values are left out.
    _repr_fields: ClassVar[tuple[str, ...]] = ()

    def __repr__(self) -> str:
        state = inspect(self)
        parts = []
        for field in self._repr_fields:
            # Never trigger a load from a repr: show only what is in memory.
            if field in state.unloaded:
                continue
            value = state.dict.get(field)
            if value is None:
                continue
            parts.append(f"{field}={value!r}")
        prefix = "[session open] " if state.session is not None else ""
        return f"{prefix}{type(self).__name__}({', '.join(parts)})"

    def _repr_html_(self) -> str:
        """The record's loaded fields as an escaped HTML table (never queries)."""
        from ..views.html import record_html

        return record_html(self)


class User(Base):
    """A person recording lineage, known by a short id and a handle."""

    __table__ = tables.users
    _repr_fields = ("id", "handle", "created_at")

    id: Mapped[str]
    handle: Mapped[str]
    created_at: Mapped[datetime]


class Transform(Base):
    """A notebook or script whose executions are recorded as runs."""

    __table__ = tables.transforms
    _repr_fields = ("id", "version", "name", "title", "type", "path", "created_by_id", "created_at")

    id: Mapped[str]
    version: Mapped[str]
    name: Mapped[str]
    title: Mapped[str | None]
    type: Mapped[str]
    path: Mapped[str | None]
    source_hash: Mapped[str | None]
    created_by_id: Mapped[str | None]
    created_at: Mapped[datetime]
    created_by_cell_id: Mapped[str | None]

    created_by: Mapped[User | None] = relationship()
    runs: Mapped[list[Run]] = relationship(back_populates="transform")


class Run(Base):
    """One kernel session executing a transform."""

    __table__ = tables.runs
    _repr_fields = (
        "id", "name", "transform_id", "status", "started_at", "finished_at",
        "replay_of_id", "created_by_id", "created_at",
    )

    id: Mapped[str]
    name: Mapped[str | None]
    transform_id: Mapped[str | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    status: Mapped[str | None]
    python_version: Mapped[str | None]
    host: Mapped[str | None]
    pid: Mapped[int | None]
    created_by_id: Mapped[str | None]
    created_at: Mapped[datetime]
    replay_of_id: Mapped[str | None]
    created_by_cell_id: Mapped[str | None]

    transform: Mapped[Transform | None] = relationship(back_populates="runs", lazy="joined")
    created_by: Mapped[User | None] = relationship()
    replay_of: Mapped[Run | None] = relationship(remote_side="Run.id", back_populates="replays")
    replays: Mapped[list[Run]] = relationship(back_populates="replay_of")
    cells: Mapped[list[Cell]] = relationship(
        back_populates="run", order_by="Cell.seq", passive_deletes=True
    )
    inputs: Mapped[list[Artifact]] = relationship(secondary=run_inputs, back_populates="consumers")
    outputs: Mapped[list[Artifact]] = relationship(secondary=run_outputs, back_populates="producers")
    libraries: Mapped[list[Library]] = relationship(
        back_populates="run", order_by="Library.name", passive_deletes=True
    )


class SourceCode(Base):
    """A cell's source text, stored once per distinct content (id = sha256)."""

    __table__ = tables.source_code
    _repr_fields = ("id",)

    id: Mapped[str]
    code: Mapped[str]


def _cell_files(flag: str) -> Any:
    """The file artifacts a cell read or wrote (``flag``: a boolean column of ``cell_files``)."""
    return relationship(
        secondary=cell_files,
        primaryjoin=lambda: Cell.id == cell_files.c.cell_id,
        secondaryjoin=lambda: and_(Artifact.id == cell_files.c.artifact_id, cell_files.c[flag].is_(True)),
        viewonly=True,
        order_by=lambda: Artifact.name,
    )


class Cell(Base):
    """One execution of one cell within a run."""

    __table__ = tables.cells
    _repr_fields = (
        "id", "run_id", "seq", "execution_count", "status", "duration_ms", "error_type",
    )

    id: Mapped[str]
    run_id: Mapped[str]
    seq: Mapped[int]
    execution_count: Mapped[int | None]
    depth: Mapped[int]
    notebook_cell_id: Mapped[str | None]
    source_code_id: Mapped[str]
    started_at: Mapped[datetime]
    duration_ms: Mapped[float | None]
    status: Mapped[str]
    error_type: Mapped[str | None]
    error_message: Mapped[str | None]
    error_line: Mapped[int | None]
    outputs: Mapped[list[Any] | None]

    run: Mapped[Run] = relationship(back_populates="cells")
    source_code: Mapped[SourceCode] = relationship()
    # Read-only: a cell's nodes are a range of their primary key (see
    # ``tables.cell_nodes``); a node joins a cell through ``Node.cell``.
    nodes: Mapped[list[Node]] = relationship(
        primaryjoin=lambda: tables.cell_nodes(Cell.id, of=Node, relationship=True),
        viewonly=True, order_by="Node.position",
    )
    parents: Mapped[list[Cell]] = relationship(
        secondary=cell_links,
        primaryjoin=lambda: Cell.id == cell_links.c.child_id,
        secondaryjoin=lambda: Cell.id == cell_links.c.parent_id,
        back_populates="children",
        order_by=lambda: Cell.seq,
    )
    children: Mapped[list[Cell]] = relationship(
        secondary=cell_links,
        primaryjoin=lambda: Cell.id == cell_links.c.parent_id,
        secondaryjoin=lambda: Cell.id == cell_links.c.child_id,
        back_populates="parents",
        order_by=lambda: Cell.seq,
    )
    # File versions this cell opened (``cell_files``); read-only views.
    files_read: Mapped[list[Artifact]] = _cell_files("was_read")
    files_written: Mapped[list[Artifact]] = _cell_files("was_written")

    @property
    def source(self) -> str:
        """The cell's source text (loads the SourceCode record)."""
        return self.source_code.code


class Node(Base):
    """A fact about a cell: an import, definition, lookup, mutation, call or global.

    Single-table inheritance on ``kind``: loading a node returns its subclass.
    """

    __table__ = tables.nodes
    _repr_fields = ("id", "kind", "name", "cell_id", "lineno", "value_type", "value_repr")

    id: Mapped[str]
    kind: Mapped[str]
    cell_id: Mapped[str]
    # The run of the node's cell: not stored twice, read through ``cells``.
    run_id: Mapped[str] = column_property(
        select(tables.cells.c.run_id).where(tables.cells.c.id == tables.nodes.c.cell_id)
        .correlate_except(tables.cells).scalar_subquery()
    )
    position: Mapped[int]
    name: Mapped[str]
    lineno: Mapped[int | None]
    col_offset: Mapped[int | None]
    end_lineno: Mapped[int | None]
    end_col_offset: Mapped[int | None]
    module: Mapped[str | None]
    library_version: Mapped[str | None]
    args: Mapped[list[Any] | None]
    value_type: Mapped[str | None]
    value_repr: Mapped[str | None]
    value_len: Mapped[int | None]
    value_shape: Mapped[str | None]

    cell: Mapped[Cell] = relationship(primaryjoin=lambda: foreign(Node.cell_id) == Cell.id)
    upstream_edges: Mapped[list[Edge]] = relationship(
        foreign_keys="Edge.target_id", back_populates="target", passive_deletes=True
    )
    downstream_edges: Mapped[list[Edge]] = relationship(
        foreign_keys="Edge.source_id", back_populates="source", passive_deletes=True
    )
    values: Mapped[list[NodeValue]] = relationship(back_populates="node", passive_deletes=True)

    __mapper_args__: ClassVar[dict[str, Any]] = {"polymorphic_on": "kind", "polymorphic_identity": "node"}


class ImportNode(Node):
    """``import module as alias``: binds a name, records the library version."""

    __mapper_args__: ClassVar[dict[str, Any]] = {"polymorphic_identity": "import"}


class DefinitionNode(Node):
    """A name bound at top level: assignment, def, class, loop target, walrus."""

    __mapper_args__: ClassVar[dict[str, Any]] = {"polymorphic_identity": "definition"}


class LookupNode(Node):
    """A name read that an earlier cell (or statement) defined."""

    __mapper_args__: ClassVar[dict[str, Any]] = {"polymorphic_identity": "lookup"}


class MutationNode(Node):
    """A name changed in place: ``x.append(1)``, ``x[k] = v``, ``x += 1`` ..."""

    __mapper_args__: ClassVar[dict[str, Any]] = {"polymorphic_identity": "mutation"}


class CallNode(Node):
    """A top-level call, with the names passed to it."""

    __mapper_args__: ClassVar[dict[str, Any]] = {"polymorphic_identity": "call"}


class GlobalNode(Node):
    """A ``global`` statement."""

    __mapper_args__: ClassVar[dict[str, Any]] = {"polymorphic_identity": "global"}


NODE_CLASSES: dict[str, type[Node]] = {
    "import": ImportNode,
    "definition": DefinitionNode,
    "lookup": LookupNode,
    "mutation": MutationNode,
    "call": CallNode,
    "global": GlobalNode,
}


class Edge(Base):
    """A dependency: ``target`` (a lookup or mutation) uses what ``source`` defined."""

    __table__ = tables.edges
    _repr_fields = ("source_id", "target_id")

    source_id: Mapped[str]
    target_id: Mapped[str]
    # The run of the target's cell: not stored, read through ``nodes`` and ``cells``.
    run_id: Mapped[str] = column_property(
        select(tables.cells.c.run_id)
        .join(tables.nodes, tables.nodes.c.cell_id == tables.cells.c.id)
        .where(tables.nodes.c.id == tables.edges.c.target_id)
        .correlate_except(tables.cells, tables.nodes).scalar_subquery()
    )

    source: Mapped[Node] = relationship(foreign_keys="Edge.source_id", back_populates="downstream_edges")
    target: Mapped[Node] = relationship(foreign_keys="Edge.target_id", back_populates="upstream_edges")


class Blob(Base):
    """Content-addressed bytes of stored values; large ones live in a file instead."""

    __table__ = tables.blobs
    _repr_fields = ("id", "size", "path")

    id: Mapped[str]
    size: Mapped[int]
    data: Mapped[bytes | None]
    path: Mapped[str | None]
    created_at: Mapped[datetime]


class NodeValue(Base):
    """The value of a node in a run: its metadata and where its bytes are."""

    __table__ = tables.node_values
    _repr_fields = ("id", "node_id", "run_id", "value_type", "format", "size", "blob_id")

    id: Mapped[str]
    node_id: Mapped[str | None]
    run_id: Mapped[str | None]
    value_type: Mapped[str | None]
    format: Mapped[str]
    size: Mapped[int]
    blob_id: Mapped[str]
    created_at: Mapped[datetime]

    node: Mapped[Node | None] = relationship(back_populates="values")
    blob: Mapped[Blob] = relationship()


class Artifact(Base):
    """A data object with lineage: a named, versioned value, or a file version."""

    __table__ = tables.artifacts
    _repr_fields = (
        "id", "kind", "name", "version", "run_id", "cell_id", "node_id", "path", "size",
        "created_at",
    )

    id: Mapped[str]
    kind: Mapped[str]
    name: Mapped[str]
    version: Mapped[int]
    run_id: Mapped[str | None]
    cell_id: Mapped[str | None]
    node_id: Mapped[str | None]
    node_value_id: Mapped[str | None]
    path: Mapped[str | None]
    sha256: Mapped[str | None]
    size: Mapped[int | None]
    mtime: Mapped[datetime | None]
    created_at: Mapped[datetime]
    created_by_cell_id: Mapped[str | None]

    run: Mapped[Run | None] = relationship()
    cell: Mapped[Cell | None] = relationship()
    node: Mapped[Node | None] = relationship()
    node_value: Mapped[NodeValue | None] = relationship()
    consumers: Mapped[list[Run]] = relationship(secondary=run_inputs, back_populates="inputs")
    producers: Mapped[list[Run]] = relationship(secondary=run_outputs, back_populates="outputs")


class Library(Base):
    """A library imported by a run, with the version that was loaded."""

    __table__ = tables.libraries
    _repr_fields = ("name", "version", "run_id")

    id: Mapped[int]
    run_id: Mapped[str]
    name: Mapped[str]
    version: Mapped[str | None]

    run: Mapped[Run] = relationship(back_populates="libraries")


# Records created inside a ``%%lineage`` cell remember it (not a foreign key:
# cells belong to runs, which would make a cycle with transforms and runs).
for _model in (Transform, Run, Artifact):
    _model.created_by_cell = relationship(  # type: ignore[attr-defined]
        Cell,
        primaryjoin=foreign(_model.created_by_cell_id) == Cell.id,
        viewonly=True,
    )


@event.listens_for(Node, "before_insert", propagate=True)
def _node_id(_mapper: Mapper[Any], _connection: Connection, node: Node) -> None:
    # A node added through a session gets the id the recorder would give it.
    if node.id is None:
        node.id = node_id(node.cell_id, node.position or 0)


MODELS: dict[str, type[Base]] = {
    cls.__name__: cls
    for cls in (
        User, Transform, Run, Cell, SourceCode, Node, ImportNode, DefinitionNode, LookupNode,
        MutationNode, CallNode, GlobalNode, Edge, Blob, NodeValue, Artifact, Library,
    )
}
