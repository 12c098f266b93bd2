"""What the recorder hands its writer: small picklable records of work.

Each item is called with a connection inside the writer's transaction. They
are plain classes (no closures) so that they can cross into the writer
process; they import the store modules, and so SQLAlchemy, only when they
run, which is never on the user's thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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


@dataclass(slots=True)
class CellItem:
    """A recorded cell waiting for the writer; its library versions are looked up there.

    ``module_versions`` holds the ``__version__`` the kernel's own modules
    report, for libraries without package metadata the writer could read.
    """

    cell: dict[str, Any]
    source_id: str
    source_code: str | None
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
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
        for node in self.nodes:
            if node["kind"] == "import" and node.get("module"):
                node["library_version"] = versions.version(node["module"])
        return CellWrite(
            cell=self.cell, source_id=self.source_id, source_code=self.source_code, nodes=self.nodes,
            edges=self.edges, parents=self.parents, libraries=versions.library_rows(self.run_id, self.modules),
        )

    def __call__(self, conn: Any) -> None:
        from ..store.writes import write_cells

        write_cells(conn, [self.cell_write()])
