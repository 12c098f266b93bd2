"""The lineage store's records: SQLAlchemy 2.0 typed declarative models.

Names follow the seeds (lamindb's User/Transform/Run, lineapy's nodes, node
values and artifacts). Ids are short random strings generated client-side, so
the recorder can link nodes and edges before anything reaches the database.
"""

from __future__ import annotations

import os
import random
import string
from datetime import datetime, timezone
from typing import Annotated, Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    inspect,
)
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    foreign,
    mapped_column,
    relationship,
)

from .types import LongBlob, LongText, UTCDateTime

_ALPHABET = string.ascii_letters + string.digits
# Ids need uniqueness, not secrecy: a per-process generator seeded from the OS
# (and reseeded after fork) is ten times faster than ``secrets``.
_rng = random.Random()
os.register_at_fork(after_in_child=_rng.seed)


def new_id(length: int) -> str:
    """A random base62 id of the given length (8 for users, 20 for runs, ...)."""
    return "".join(_rng.choices(_ALPHABET, k=length))


def utcnow() -> datetime:
    """The current time in UTC, as every timestamp in the store is."""
    return datetime.now(timezone.utc)



str8 = Annotated[str, 8]
str12 = Annotated[str, 12]
str16 = Annotated[str, 16]
str20 = Annotated[str, 20]
str64 = Annotated[str, 64]
str255 = Annotated[str, 255]
text = Annotated[str, "text"]


class Base(DeclarativeBase):
    """Declarative base with a constraint naming convention for migrations."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {
        str8: String(8),
        str12: String(12),
        str16: String(16),
        str20: String(20),
        str64: String(64),
        str255: String(255),
        text: LongText,
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
        bytes: LongBlob,
    }
    # Case-sensitive names on MariaDB/MySQL, whose default collation is not.
    __table_args__: ClassVar[Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}

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


def _table_args(*items: Any) -> tuple[Any, ...]:
    return (*items, Base.__table_args__)


cell_links = Table(
    "cell_links",
    Base.metadata,
    Column("parent_id", String(16), ForeignKey("cells.id", ondelete="CASCADE"), primary_key=True),
    Column("child_id", String(16), ForeignKey("cells.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_cell_links_child_id", "child_id"),
    **Base.__table_args__,
)

run_inputs = Table(
    "run_inputs",
    Base.metadata,
    Column("run_id", String(20), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("artifact_id", String(16), ForeignKey("artifacts.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_run_inputs_artifact_id", "artifact_id"),
    **Base.__table_args__,
)

run_outputs = Table(
    "run_outputs",
    Base.metadata,
    Column("run_id", String(20), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("artifact_id", String(16), ForeignKey("artifacts.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_run_outputs_artifact_id", "artifact_id"),
    **Base.__table_args__,
)


class User(Base):
    """A person recording lineage, known by a short id and a handle."""

    __tablename__ = "users"
    _repr_fields = ("id", "handle", "created_at")

    id: Mapped[str8] = mapped_column(primary_key=True, default=lambda: new_id(8))
    handle: Mapped[str255] = mapped_column(unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Transform(Base):
    """A notebook or script whose executions are recorded as runs."""

    __tablename__ = "transforms"
    __table_args__ = _table_args(Index("ix_transforms_name", "name"))
    _repr_fields = ("id", "version", "name", "title", "type", "path", "created_by_id", "created_at")

    id: Mapped[str12] = mapped_column(primary_key=True, default=lambda: new_id(12))
    version: Mapped[str16] = mapped_column(default="0")
    name: Mapped[str255]
    title: Mapped[text | None]
    type: Mapped[str16] = mapped_column(default="notebook")
    path: Mapped[text | None]
    source_hash: Mapped[str64 | None]
    created_by_id: Mapped[str8 | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_cell_id: Mapped[str16 | None]

    created_by: Mapped[User | None] = relationship()
    runs: Mapped[list[Run]] = relationship(back_populates="transform")


class Run(Base):
    """One kernel session executing a transform."""

    __tablename__ = "runs"
    __table_args__ = _table_args(
        Index("ix_runs_transform_id", "transform_id"),
        Index("ix_runs_started_at", "started_at"),
        Index("ix_runs_replay_of_id", "replay_of_id"),
    )
    _repr_fields = (
        "id", "name", "transform_id", "status", "started_at", "finished_at",
        "replay_of_id", "created_by_id", "created_at",
    )

    id: Mapped[str20] = mapped_column(primary_key=True, default=lambda: new_id(20))
    name: Mapped[str255 | None]
    transform_id: Mapped[str12 | None] = mapped_column(ForeignKey("transforms.id"))
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    status: Mapped[str16 | None]
    python_version: Mapped[str64 | None]
    host: Mapped[str255 | None]
    pid: Mapped[int | None]
    created_by_id: Mapped[str8 | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    replay_of_id: Mapped[str20 | None] = mapped_column(ForeignKey("runs.id"))
    created_by_cell_id: Mapped[str16 | None]

    transform: Mapped[Transform | None] = relationship(back_populates="runs", lazy="joined")
    created_by: Mapped[User | None] = relationship()
    replay_of: Mapped[Run | None] = relationship(remote_side=[id], back_populates="replays")
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

    __tablename__ = "source_code"
    _repr_fields = ("id",)

    id: Mapped[str64] = mapped_column(primary_key=True)
    code: Mapped[text]


class Cell(Base):
    """One execution of one cell within a run."""

    __tablename__ = "cells"
    __table_args__ = _table_args(
        UniqueConstraint("run_id", "seq"),
        Index("ix_cells_source_code_id", "source_code_id"),
    )
    _repr_fields = (
        "id", "run_id", "seq", "execution_count", "status", "duration_ms", "error_type",
    )

    id: Mapped[str16] = mapped_column(primary_key=True, default=lambda: new_id(16))
    run_id: Mapped[str20] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    seq: Mapped[int]
    execution_count: Mapped[int | None]
    # 0 for a cell the user ran; 1+ for cells run from inside it (%rerun ...).
    depth: Mapped[int] = mapped_column(default=0)
    notebook_cell_id: Mapped[str64 | None]
    source_code_id: Mapped[str64] = mapped_column(ForeignKey("source_code.id"))
    started_at: Mapped[datetime]
    duration_ms: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str16]
    error_type: Mapped[str255 | None]
    error_message: Mapped[text | None]
    outputs: Mapped[list[Any] | None]

    run: Mapped[Run] = relationship(back_populates="cells")
    source_code: Mapped[SourceCode] = relationship()
    nodes: Mapped[list[Node]] = relationship(
        back_populates="cell", order_by="Node.position", passive_deletes=True
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

    @property
    def source(self) -> str:
        """The cell's source text (loads the SourceCode record)."""
        return self.source_code.code


class Node(Base):
    """A fact about a cell: an import, definition, lookup, mutation, call or global.

    Single-table inheritance on ``kind``: loading a node returns its subclass.
    """

    __tablename__ = "nodes"
    __table_args__ = _table_args(
        Index("ix_nodes_cell_id", "cell_id"),
        Index("ix_nodes_run_id_name", "run_id", "name"),
    )
    _repr_fields = ("id", "kind", "name", "cell_id", "lineno", "value_type", "value_repr")

    id: Mapped[str16] = mapped_column(primary_key=True, default=lambda: new_id(16))
    kind: Mapped[str16]
    run_id: Mapped[str20] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    cell_id: Mapped[str16] = mapped_column(ForeignKey("cells.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str255]
    lineno: Mapped[int | None]
    col_offset: Mapped[int | None]
    end_lineno: Mapped[int | None]
    end_col_offset: Mapped[int | None]
    module: Mapped[str255 | None]
    library_version: Mapped[str64 | None]
    args: Mapped[list[Any] | None]
    value_type: Mapped[str255 | None]
    value_repr: Mapped[text | None]
    value_len: Mapped[int | None] = mapped_column(BigInteger)
    value_shape: Mapped[str64 | None]

    cell: Mapped[Cell] = relationship(back_populates="nodes")
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

    __tablename__ = "edges"
    __table_args__ = _table_args(Index("ix_edges_target_id", "target_id"))
    _repr_fields = ("source_id", "target_id")

    source_id: Mapped[str16] = mapped_column(
        ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True
    )
    target_id: Mapped[str16] = mapped_column(
        ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True
    )
    run_id: Mapped[str20] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))

    source: Mapped[Node] = relationship(foreign_keys=[source_id], back_populates="downstream_edges")
    target: Mapped[Node] = relationship(foreign_keys=[target_id], back_populates="upstream_edges")


class Blob(Base):
    """Content-addressed bytes of stored values; large ones live in a file instead."""

    __tablename__ = "blobs"
    _repr_fields = ("id", "size", "path")

    id: Mapped[str64] = mapped_column(primary_key=True)  # sha256 hex of the bytes
    size: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes | None]
    path: Mapped[text | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NodeValue(Base):
    """The value of a node in a run: its metadata and where its bytes are."""

    __tablename__ = "node_values"
    __table_args__ = _table_args(Index("ix_node_values_node_id", "node_id"))
    _repr_fields = ("id", "node_id", "run_id", "value_type", "format", "size", "blob_id")

    id: Mapped[str16] = mapped_column(primary_key=True, default=lambda: new_id(16))
    node_id: Mapped[str16 | None] = mapped_column(ForeignKey("nodes.id", ondelete="SET NULL"))
    run_id: Mapped[str20 | None] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    value_type: Mapped[str255 | None]
    format: Mapped[str16]
    size: Mapped[int] = mapped_column(BigInteger)
    blob_id: Mapped[str64] = mapped_column(ForeignKey("blobs.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    node: Mapped[Node | None] = relationship(back_populates="values")
    blob: Mapped[Blob] = relationship()


class Artifact(Base):
    """A data object with lineage: a named, versioned value, or a file version."""

    __tablename__ = "artifacts"
    __table_args__ = _table_args(
        UniqueConstraint("kind", "name", "version"),
        Index("ix_artifacts_run_id", "run_id"),
        Index("ix_artifacts_sha256", "sha256"),
    )
    _repr_fields = (
        "id", "kind", "name", "version", "run_id", "cell_id", "node_id", "path", "size",
        "created_at",
    )

    id: Mapped[str16] = mapped_column(primary_key=True, default=lambda: new_id(16))
    kind: Mapped[str16] = mapped_column(default="value")
    name: Mapped[str255]
    version: Mapped[int] = mapped_column(Integer, default=0)
    run_id: Mapped[str20 | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    cell_id: Mapped[str16 | None] = mapped_column(ForeignKey("cells.id", ondelete="SET NULL"))
    node_id: Mapped[str16 | None] = mapped_column(ForeignKey("nodes.id", ondelete="SET NULL"))
    node_value_id: Mapped[str16 | None] = mapped_column(
        ForeignKey("node_values.id", ondelete="SET NULL")
    )
    path: Mapped[text | None]
    sha256: Mapped[str64 | None]
    size: Mapped[int | None] = mapped_column(BigInteger)
    mtime: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_cell_id: Mapped[str16 | None]

    run: Mapped[Run | None] = relationship()
    cell: Mapped[Cell | None] = relationship()
    node: Mapped[Node | None] = relationship()
    node_value: Mapped[NodeValue | None] = relationship()
    consumers: Mapped[list[Run]] = relationship(secondary=run_inputs, back_populates="inputs")
    producers: Mapped[list[Run]] = relationship(secondary=run_outputs, back_populates="outputs")


class Library(Base):
    """A library imported by a run, with the version that was loaded."""

    __tablename__ = "libraries"
    __table_args__ = _table_args(UniqueConstraint("run_id", "name", "version"))
    _repr_fields = ("name", "version", "run_id")

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    run_id: Mapped[str20] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    name: Mapped[str255]
    version: Mapped[str64 | None]

    run: Mapped[Run] = relationship(back_populates="libraries")


# Records created inside a ``%%lineage`` cell remember it (not a foreign key:
# cells belong to runs, which would make a cycle with transforms and runs).
for _model in (Transform, Run, Artifact):
    _model.created_by_cell = relationship(  # type: ignore[attr-defined]
        Cell,
        primaryjoin=foreign(_model.created_by_cell_id) == Cell.id,
        viewonly=True,
    )

MODELS: dict[str, type[Base]] = {
    cls.__name__: cls
    for cls in (
        User, Transform, Run, Cell, SourceCode, Node, ImportNode, DefinitionNode, LookupNode,
        MutationNode, CallNode, GlobalNode, Edge, Blob, NodeValue, Artifact, Library,
    )
}
