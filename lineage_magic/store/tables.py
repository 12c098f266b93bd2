"""The lineage store's schema as SQLAlchemy Core tables.

This module is the single definition of the schema. The recorder's writer
thread writes through these tables with Core (no ORM import on the user's
``%load_ext``); ``models`` maps the ORM classes of the Python API onto them;
the migrations are checked against this metadata.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    and_,
    event,
)

from ..ids import FIRST_NODE_SUFFIX, LAST_NODE_SUFFIX, new_id, utcnow
from . import triggers
from .types import LongBlob, LongText, UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
# Case-sensitive names on MariaDB/MySQL, whose default collation is not.
TABLE_OPTIONS: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}
# Tables that are all key on SQLite: the primary key is the table (no rowid
# b-tree beside an index holding the same columns).
KEY_ONLY: dict[str, Any] = {"sqlite_with_rowid": False}
SERVERS = ("postgresql", "mysql", "mariadb")


def _id(length: int, **kwargs: Any) -> Column[str]:
    return Column("id", String(length), primary_key=True, default=lambda: new_id(length), **kwargs)


def _created_at() -> Column[Any]:
    return Column("created_at", UTCDateTime(), nullable=False, default=utcnow)


def _fk(name: str, length: int, target: str, *, nullable: bool = True, ondelete: str | None = None,
        primary_key: bool = False) -> Column[str]:
    return Column(name, String(length), ForeignKey(target, ondelete=ondelete),
                  nullable=nullable, primary_key=primary_key)


users = Table(
    "users", metadata,
    _id(8),
    Column("handle", String(255), nullable=False, unique=True),
    _created_at(),
    **TABLE_OPTIONS,
)

transforms = Table(
    "transforms", metadata,
    _id(12),
    Column("version", String(16), nullable=False, default="0"),
    Column("name", String(255), nullable=False),
    Column("title", LongText),
    Column("type", String(16), nullable=False, default="notebook"),
    Column("path", LongText),
    Column("source_hash", String(64)),
    _fk("created_by_id", 8, "users.id"),
    _created_at(),
    Column("created_by_cell_id", String(16)),
    Index("ix_transforms_name", "name"),
    **TABLE_OPTIONS,
)

runs = Table(
    "runs", metadata,
    _id(20),
    Column("name", String(255)),
    _fk("transform_id", 12, "transforms.id"),
    Column("started_at", UTCDateTime()),
    Column("finished_at", UTCDateTime()),
    Column("status", String(16)),
    Column("python_version", String(64)),
    Column("host", String(255)),
    Column("pid", Integer),
    _fk("created_by_id", 8, "users.id"),
    _created_at(),
    _fk("replay_of_id", 20, "runs.id"),
    Column("created_by_cell_id", String(16)),
    Index("ix_runs_transform_id", "transform_id"),
    Index("ix_runs_started_at", "started_at"),
    Index("ix_runs_replay_of_id", "replay_of_id"),
    **TABLE_OPTIONS,
)

source_code = Table(
    "source_code", metadata,
    Column("id", String(64), primary_key=True),  # sha256 hex of the code
    Column("code", LongText, nullable=False),
    **TABLE_OPTIONS,
)

cells = Table(
    "cells", metadata,
    _id(16),
    _fk("run_id", 20, "runs.id", nullable=False, ondelete="CASCADE"),
    Column("seq", Integer, nullable=False),
    Column("execution_count", Integer),
    # 0 for a cell the user ran; 1+ for cells run from inside it (%rerun ...).
    Column("depth", Integer, nullable=False, default=0),
    Column("notebook_cell_id", String(64)),
    _fk("source_code_id", 64, "source_code.id", nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("duration_ms", Float),
    Column("status", String(16), nullable=False),
    Column("error_type", String(255)),
    Column("error_message", LongText),
    # Line of the cell where the error escaped: statements after it did not run.
    Column("error_line", Integer),
    Column("outputs", JSON(none_as_null=True)),
    UniqueConstraint("run_id", "seq"),
    **TABLE_OPTIONS,
)

cell_links = Table(
    "cell_links", metadata,
    _fk("parent_id", 16, "cells.id", nullable=False, ondelete="CASCADE", primary_key=True),
    _fk("child_id", 16, "cells.id", nullable=False, ondelete="CASCADE", primary_key=True),
    Index("ix_cell_links_child_id", "child_id"),
    **TABLE_OPTIONS,
    **KEY_ONLY,
)

nodes = Table(
    "nodes", metadata,
    _id(20),  # the cell's id and the node's position in it
    Column("kind", String(16), nullable=False),
    # No foreign key: a cell's nodes are a range of the primary key
    # (``cell_nodes``), and triggers delete them with the cell (``triggers``).
    Column("cell_id", String(16), nullable=False),
    Column("position", Integer, nullable=False, default=0),
    Column("name", String(255), nullable=False),
    Column("lineno", Integer),
    Column("col_offset", Integer),
    Column("end_lineno", Integer),
    Column("end_col_offset", Integer),
    Column("module", String(255)),
    Column("library_version", String(64)),
    Column("args", JSON(none_as_null=True)),
    Column("value_type", String(255)),
    Column("value_repr", LongText),
    Column("value_len", BigInteger),
    Column("value_shape", String(64)),
    # Not on SQLite, whose planner walks the key range (160 bytes a cell
    # saved); PostgreSQL cannot estimate a range between two expressions and
    # plans a walk's step as a scan of every node unless it has this index.
    Index("ix_nodes_cell_id", "cell_id").ddl_if(dialect=SERVERS),
    **TABLE_OPTIONS,
    **KEY_ONLY,
)


def cell_nodes(cell_id: Any, of: Any = None, *, relationship: bool = False) -> ColumnElement[bool]:
    """The nodes of a cell (an id or a column), found through the primary key.

    A node's id is its cell's id and its position (``ids.node_id``), so a
    cell's nodes are one range of ``nodes.id``: SQLite finds them by that
    range. The equality keeps the result exact under a collation that does
    not sort ids bytewise, and is what the servers find them by (with
    ``ix_nodes_cell_id``). ``of`` is an alias of ``nodes`` (Core or ORM) to
    use instead of the table; ``relationship``: the join of an ORM
    relationship, whose node column refers to the cell (``orm.foreign``).
    """
    columns = nodes.c if of is None else getattr(of, "c", of)  # a Core alias, or an ORM one
    refers = columns.cell_id
    if relationship:
        from sqlalchemy.orm import foreign

        refers = foreign(refers)
    return and_(columns.id >= cell_id + FIRST_NODE_SUFFIX, columns.id <= cell_id + LAST_NODE_SUFFIX,
                refers == cell_id)


edges = Table(
    "edges", metadata,
    _fk("source_id", 20, "nodes.id", nullable=False, ondelete="CASCADE", primary_key=True),
    _fk("target_id", 20, "nodes.id", nullable=False, ondelete="CASCADE", primary_key=True),
    Index("ix_edges_target_id", "target_id"),
    **TABLE_OPTIONS,
    **KEY_ONLY,
)

blobs = Table(
    "blobs", metadata,
    Column("id", String(64), primary_key=True),  # sha256 hex of the bytes
    Column("size", BigInteger, nullable=False),
    Column("data", LongBlob),
    Column("path", LongText),
    _created_at(),
    **TABLE_OPTIONS,
)

node_values = Table(
    "node_values", metadata,
    _id(16),
    _fk("node_id", 20, "nodes.id", ondelete="SET NULL"),
    _fk("run_id", 20, "runs.id", ondelete="CASCADE"),
    Column("value_type", String(255)),
    Column("format", String(16), nullable=False),
    Column("size", BigInteger, nullable=False),
    _fk("blob_id", 64, "blobs.id", nullable=False),
    _created_at(),
    Index("ix_node_values_node_id", "node_id"),
    **TABLE_OPTIONS,
)

artifacts = Table(
    "artifacts", metadata,
    _id(16),
    Column("kind", String(16), nullable=False, default="value"),
    Column("name", String(255), nullable=False),
    Column("version", Integer, nullable=False, default=0),
    _fk("run_id", 20, "runs.id", ondelete="SET NULL"),
    _fk("cell_id", 16, "cells.id", ondelete="SET NULL"),
    _fk("node_id", 20, "nodes.id", ondelete="SET NULL"),
    _fk("node_value_id", 16, "node_values.id", ondelete="SET NULL"),
    Column("path", LongText),
    Column("sha256", String(64)),
    Column("size", BigInteger),
    Column("mtime", UTCDateTime()),
    _created_at(),
    Column("created_by_cell_id", String(16)),
    UniqueConstraint("kind", "name", "version"),
    Index("ix_artifacts_run_id", "run_id"),
    Index("ix_artifacts_sha256", "sha256"),
    Index("ix_artifacts_cell_id", "cell_id"),
    Index("ix_artifacts_node_id", "node_id"),
    **TABLE_OPTIONS,
)

run_inputs = Table(
    "run_inputs", metadata,
    _fk("run_id", 20, "runs.id", nullable=False, ondelete="CASCADE", primary_key=True),
    _fk("artifact_id", 16, "artifacts.id", nullable=False, ondelete="CASCADE", primary_key=True),
    Index("ix_run_inputs_artifact_id", "artifact_id"),
    **TABLE_OPTIONS,
)

run_outputs = Table(
    "run_outputs", metadata,
    _fk("run_id", 20, "runs.id", nullable=False, ondelete="CASCADE", primary_key=True),
    _fk("artifact_id", 16, "artifacts.id", nullable=False, ondelete="CASCADE", primary_key=True),
    Index("ix_run_outputs_artifact_id", "artifact_id"),
    **TABLE_OPTIONS,
)

cell_files = Table(
    "cell_files", metadata,
    # Which cells read and wrote which file versions (run_inputs/run_outputs say it per run).
    _fk("cell_id", 16, "cells.id", nullable=False, ondelete="CASCADE", primary_key=True),
    _fk("artifact_id", 16, "artifacts.id", nullable=False, ondelete="CASCADE", primary_key=True),
    Column("was_read", Boolean, nullable=False, default=False),
    Column("was_written", Boolean, nullable=False, default=False),
    Index("ix_cell_files_artifact_id", "artifact_id"),
    **TABLE_OPTIONS,
    **KEY_ONLY,
)

libraries = Table(
    "libraries", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _fk("run_id", 20, "runs.id", nullable=False, ondelete="CASCADE"),
    Column("name", String(255), nullable=False),
    Column("version", String(64)),
    UniqueConstraint("run_id", "name", "version"),
    **TABLE_OPTIONS,
)


@event.listens_for(metadata, "after_create")
def _create_triggers(_metadata: MetaData, connection: Any, tables: Any = (), **_: Any) -> None:
    # A new database gets the triggers that delete a cell's nodes with it (``triggers``).
    if any(t.name == "cells" for t in tables):
        triggers.create(connection)
