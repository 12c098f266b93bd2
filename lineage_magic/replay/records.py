"""Plain data read from the store for export, replay and diff.

Functions here take an open SQLAlchemy session (its lifecycle belongs to the
caller) and return plain dataclasses, never live ORM objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..exceptions import InvalidQueryError, RecordNotFoundError
from ..store.models import Artifact, Cell, Library, Run, SourceCode, run_inputs, run_outputs

MIN_PREFIX = 4
# Tool caches and hidden state (.pytest_cache, .ipynb_checkpoints, __pycache__):
# their content depends on earlier runs, not on the notebook.
_CACHE_PARTS = ("__pycache__",)
RunRef = Any  # a Run record, a run id, a unique id prefix or a unique run name


@dataclass(frozen=True, slots=True)
class CellRecord:
    """One recorded cell execution with its source, as plain data."""

    id: str
    run_id: str
    seq: int
    execution_count: int | None
    depth: int
    notebook_cell_id: str | None
    status: str
    error_type: str | None
    error_message: str | None
    outputs: list[dict[str, Any]] = field(default_factory=list)
    source: str = ""
    source_id: str = ""
    duration_ms: float | None = None

    @property
    def first_line(self) -> str:
        """The first non-blank line of the source, for tables and reports."""
        for line in self.source.splitlines():
            if line.strip():
                return line.strip()
        return ""


def resolve_run(session: Session, run: RunRef) -> Run:
    """The Run for a record, an id, a unique id prefix or a unique run name."""
    if isinstance(run, Run):
        found = session.get(Run, run.id)
        if found is None:
            raise RecordNotFoundError(f"no run with id {run.id!r}")
        return found
    if not isinstance(run, str) or not run.strip():
        raise InvalidQueryError(f"expected a Run, a run id or an id prefix, got {run!r}")
    ref = run.strip()
    found = session.get(Run, ref)
    if found is not None:
        return found
    if len(ref) >= MIN_PREFIX:
        matches = session.scalars(
            select(Run).where(Run.id.startswith(ref, autoescape=True)).limit(5)
        ).all()
        if len(matches) == 1:
            return matches[0]
        if matches:
            ids = ", ".join(m.id for m in matches)
            raise InvalidQueryError(f"run id prefix {ref!r} is ambiguous: {ids}")
    named = session.scalars(select(Run).where(Run.name == ref).limit(2)).all()
    if len(named) == 1:
        return named[0]
    if named:
        raise InvalidQueryError(f"more than one run is named {ref!r}; use its id")
    raise RecordNotFoundError(f"no run with id {ref!r} (nor an id starting with it)")


# The columns a CellRecord needs: plain rows load several times faster than Cell entities.
_CELL_COLUMNS = (
    Cell.id, Cell.run_id, Cell.seq, Cell.execution_count, Cell.depth, Cell.notebook_cell_id, Cell.status,
    Cell.error_type, Cell.error_message, Cell.outputs, SourceCode.code, Cell.source_code_id, Cell.duration_ms,
)


def load_cells(session: Session, run_id: str, *, top_level: bool = True) -> list[CellRecord]:
    """The cells of a run in execution order (only depth 0 when ``top_level``)."""
    stmt = (
        select(*_CELL_COLUMNS)
        .join(SourceCode, SourceCode.id == Cell.source_code_id)
        .where(Cell.run_id == run_id)
        .order_by(Cell.seq)
    )
    if top_level:
        stmt = stmt.where(Cell.depth == 0)
    return [_cell_record(row) for row in session.execute(stmt)]


def load_cell(session: Session, cell_id: str) -> CellRecord:
    """One recorded cell by id."""
    row = session.execute(
        select(*_CELL_COLUMNS)
        .join(SourceCode, SourceCode.id == Cell.source_code_id)
        .where(Cell.id == cell_id)
    ).first()
    if row is None:
        raise RecordNotFoundError(f"no cell with id {cell_id!r}")
    return _cell_record(row)


def _cell_record(row: Any) -> CellRecord:
    (cell_id, run_id, seq, execution_count, depth, notebook_cell_id, status, error_type, error_message,
     outputs, code, source_id, duration_ms) = row
    return CellRecord(
        id=cell_id, run_id=run_id, seq=seq, execution_count=execution_count, depth=depth,
        notebook_cell_id=notebook_cell_id, status=status, error_type=error_type, error_message=error_message,
        outputs=[o for o in outputs if isinstance(o, dict)] if isinstance(outputs, list) else [],
        source=code, source_id=source_id, duration_ms=duration_ms,
    )


def library_versions(session: Session, run_id: str) -> dict[str, str | None]:
    """Library name -> version loaded by a run."""
    rows = session.execute(
        select(Library.name, Library.version).where(Library.run_id == run_id).order_by(Library.name)
    ).all()
    return {name: version for name, version in rows}


def produced_artifacts(session: Session, run_id: str) -> dict[tuple[str, str], Artifact]:
    """(kind, name) -> the latest version of each artifact a run produced."""
    outputs = select(run_outputs.c.artifact_id).where(run_outputs.c.run_id == run_id)
    stmt = (
        select(Artifact)
        .where(or_(Artifact.run_id == run_id, Artifact.id.in_(outputs)))
        .order_by(Artifact.kind, Artifact.name, Artifact.version)
    )
    found: dict[tuple[str, str], Artifact] = {}
    for artifact in session.scalars(stmt).all():
        if artifact.kind == "file" and is_cache_path(artifact.path or artifact.name):
            continue
        found[(artifact.kind, artifact.name)] = artifact
    return found


def is_cache_path(path: str) -> bool:
    """True for files under a hidden directory or ``__pycache__``: caches, not results."""
    parts = [p for p in path.replace("\\", "/").split("/") if p]
    return any(p.startswith(".") and p not in (".", "..") for p in parts[:-1]) or any(
        p in _CACHE_PARTS for p in parts
    )


def input_files(session: Session, run_id: str) -> dict[str, Artifact]:
    """Path (or name) -> the file artifacts a run read."""
    inputs = select(run_inputs.c.artifact_id).where(run_inputs.c.run_id == run_id)
    stmt = (
        select(Artifact)
        .where(Artifact.id.in_(inputs), Artifact.kind == "file")
        .order_by(Artifact.name, Artifact.version)
    )
    return {
        (a.path or a.name): a for a in session.scalars(stmt).all() if not is_cache_path(a.path or a.name)
    }
