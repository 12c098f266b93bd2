"""``LineageDB``: the lineapy store API (``RelationalLineaDB``) on our schema."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import func, select

from . import context
from .exceptions import InvalidQueryError, RecordNotFoundError
from .store.engine import Store
from .store.errors import database_errors
from .store.models import Artifact, Blob, Cell, Library, Node, NodeValue, SourceCode
from .store.tables import cell_nodes


class LineageDB:
    """Read and write lineage records through one open session (lineapy's API)."""

    def __init__(self, url: str | None = None, *, store: Store | None = None) -> None:
        self.store = store or (context.open_store(url) if url else context.get_store())
        context.flush_pending()
        self.session = self.store.session(reads_apart=True)

    # Every query goes through these: driver errors become named errors.
    def _scalars(self, stmt: Any) -> Any:
        with database_errors("LineageDB"):
            return self.session.scalars(stmt)

    def _scalar(self, stmt: Any) -> Any:
        with database_errors("LineageDB"):
            return self.session.scalar(stmt)

    def _get(self, model: Any, key: Any) -> Any:
        with database_errors("LineageDB"):
            return self.session.get(model, key)

    def artifact_in_db(self, node_id: str, run_id: str, name: str, version: int) -> bool:
        """True if that version of a named artifact, from that node and run, exists."""
        stmt = select(Artifact.id).where(
            Artifact.node_id == node_id, Artifact.run_id == run_id,
            Artifact.name == name, Artifact.version == version,
        )
        return self._scalar(stmt.limit(1)) is not None

    def get_artifact_by_name(self, artifact_name: str, version: int | None = None,
                             *, kind: str = "value") -> Artifact:
        """The artifact with that name: the given version, or the latest one."""
        if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
            raise InvalidQueryError(f"artifact version must be an int >= 0, got {version!r}")
        stmt = select(Artifact).where(Artifact.kind == kind, Artifact.name == artifact_name)
        if version is None:
            stmt = stmt.order_by(Artifact.version.desc())
        else:
            stmt = stmt.where(Artifact.version == version)
        found = self._scalars(stmt.limit(1)).first()
        if found is None:
            which = "any version" if version is None else f"version {version}"
            raise RecordNotFoundError(f"no artifact named {artifact_name!r} with {which}")
        return found

    def get_latest_artifact_version(self, artifact_name: str, *, kind: str = "value") -> int:
        """The highest version number of a named artifact, -1 when there is none."""
        stmt = select(func.max(Artifact.version)).where(
            Artifact.kind == kind, Artifact.name == artifact_name
        )
        latest = self._scalar(stmt)
        return -1 if latest is None else int(latest)

    def get_all_artifacts(self) -> list[Artifact]:
        """Every artifact, oldest first."""
        stmt = select(Artifact).order_by(Artifact.created_at, Artifact.id)
        return list(self._scalars(stmt))

    def get_artifacts_for_run(self, run_id: str) -> list[Artifact]:
        """The artifacts a run produced."""
        stmt = select(Artifact).where(Artifact.run_id == run_id).order_by(Artifact.created_at)
        return list(self._scalars(stmt))

    def get_libraries_for_run(self, run_id: str) -> list[Library]:
        """The libraries a run imported, one per (name, version)."""
        first_ids = (
            select(func.min(Library.id))
            .where(Library.run_id == run_id)
            .group_by(Library.name, Library.version)
        )
        stmt = select(Library).where(Library.id.in_(first_ids)).order_by(Library.name)
        return list(self._scalars(stmt))

    def get_node_by_id(self, node_id: str) -> Node:
        """The node with that id, as its own subclass (ImportNode, LookupNode ...)."""
        if not isinstance(node_id, str):
            raise InvalidQueryError(f"node id must be text, got {type(node_id).__name__}")
        node = self._get(Node, node_id)
        if node is None:
            raise RecordNotFoundError(f"no node with id {node_id!r}")
        return node

    def get_nodes_for_run(self, run_id: str) -> list[Node]:
        """Every node recorded in a run, in cell and source order."""
        stmt = (
            select(Node).join(Cell, cell_nodes(Cell.id)).where(Cell.run_id == run_id)
            .order_by(Cell.seq, Node.position)
        )
        return list(self._scalars(stmt))

    def _node_value(self, node_id: str, run_id: str) -> NodeValue | None:
        stmt = select(NodeValue).where(NodeValue.node_id == node_id, NodeValue.run_id == run_id)
        return self._scalars(stmt.order_by(NodeValue.created_at.desc()).limit(1)).first()

    def node_value_in_db(self, node_id: str, run_id: str) -> bool:
        """True if the value of that node in that run was stored."""
        return self._node_value(node_id, run_id) is not None

    def get_node_value_path(self, node_id: str, run_id: str) -> str | None:
        """Where the stored value is: a file path, or ``db:<sha256>`` when kept in the database."""
        value = self._node_value(node_id, run_id)
        if value is None:
            return None
        blob = self._get(Blob, value.blob_id)
        if blob is not None and blob.path:
            return blob.path
        return f"db:{value.blob_id}"

    def write_source_code(self, source_code: SourceCode | str) -> SourceCode:
        """Store source text once per content; returns the stored record."""
        code = source_code.code if isinstance(source_code, SourceCode) else source_code
        if not isinstance(code, str):
            raise InvalidQueryError(f"source code must be text, got {type(code).__name__}")
        digest = hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()
        existing = self._get(SourceCode, digest)
        if existing is not None:
            return existing
        record = SourceCode(id=digest, code=code)
        self.session.add(record)
        return record

    def commit(self) -> None:
        """End the transaction and commit the changes."""
        self.session.commit()

    def close(self) -> None:
        """Close the database session."""
        self.session.close()

    def __enter__(self) -> LineageDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
