"""What the recorder hands its writer: small picklable records of work.

Each item is called with a connection inside the writer's transaction. They
are plain classes (no closures) so that they can cross into the writer
process; they import the store modules, and so SQLAlchemy, only when they
run, which is never on the user's thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..ids import node_id
from ..store.runstart import RunStart
from .libraries import LibraryVersions

# Library lookups of the process the items run in (the writer's, or this one).
_process_versions = LibraryVersions()


@dataclass(slots=True)
class StartRun(RunStart):
    """Insert the run, its user and its transform (the writer's preamble).

    The notebook's title is read from its file by the writer, not on load.
    """

    def __call__(self, conn: Any) -> None:
        from ..store import writes
        from .notebook import notebook_title

        if self.transform_title is None:
            self.transform_title = notebook_title(self.transform_path)
        writes.start_run(conn, self)


@dataclass(slots=True)
class FinishRun:
    """Mark a run finished (or interrupted, aborted) now."""

    run_id: str
    status: str = "finished"

    def __call__(self, conn: Any) -> None:
        from ..store import writes

        writes.finish_run(conn, self.run_id, self.status)


@dataclass(slots=True)
class LinkArtifact:
    """Point an artifact saved while its cell ran at that cell, once the cell is written."""

    artifact_id: str
    node_value_id: str | None
    cell_id: str
    node_id: str | None

    def __call__(self, conn: Any) -> None:
        from sqlalchemy import update

        from ..store import tables

        conn.execute(update(tables.artifacts).where(tables.artifacts.c.id == self.artifact_id)
                     .values(cell_id=self.cell_id, node_id=self.node_id))
        if self.node_value_id is not None:
            conn.execute(update(tables.node_values).where(tables.node_values.c.id == self.node_value_id)
                         .values(node_id=self.node_id))


NODE_FIELDS = ("kind", "name", "lineno", "col_offset", "end_lineno", "end_col_offset", "module", "args",
               "value_type", "value_repr", "value_len", "value_shape")
"""What ``CellItem.nodes`` holds per node, in order; its position in the list is its position in the cell."""


@dataclass(slots=True)
class CellItem:
    """A recorded cell waiting for the writer; its library versions are looked up there.

    Nodes and edges travel compact (``NODE_FIELDS`` lists; edges as
    ``(source node id, target position)``) and become table rows on the
    writer's side, so that the user's thread neither builds nor pickles a
    dict per node. ``module_versions`` holds the ``__version__`` the
    kernel's own modules report, for libraries without package metadata
    the writer could read.
    """

    cell: dict[str, Any]
    source_id: str
    source_code: str | None
    nodes: list[list[Any]]
    edges: list[tuple[str, int]]
    parents: list[str]
    modules: list[str]
    run_id: str | None
    source_text: str = ""  # sent again if the store had to be recreated
    module_versions: dict[str, str] = field(default_factory=dict)

    def cell_write(self) -> Any:
        """The rows to insert, with library versions looked up on the writer's side."""
        from ..store.writes import CellWrite

        versions = _process_versions
        versions.learn(self.module_versions)
        cell_id = self.cell["id"]
        nodes = []
        for position, values in enumerate(self.nodes):
            row = dict(zip(NODE_FIELDS, values))
            row["id"] = node_id(cell_id, position)
            row["cell_id"] = cell_id
            row["position"] = position
            module = row["module"]
            row["library_version"] = versions.version(module) if module and row["kind"] == "import" else None
            nodes.append(row)
        edges = [{"source_id": source, "target_id": node_id(cell_id, target)} for source, target in self.edges]
        return CellWrite(
            cell=self.cell, source_id=self.source_id, source_code=self.source_code, nodes=nodes,
            edges=edges, parents=self.parents, libraries=versions.library_rows(self.run_id, self.modules),
        )

    def __call__(self, conn: Any) -> None:
        from ..store.writes import write_cells

        write_cells(conn, [self.cell_write()])
