"""``lm.slice``: the minimal code that recomputes a variable or an artifact, and ``lm.stale``."""

from __future__ import annotations

from typing import Any

from . import context
from .exceptions import InvalidQueryError, NoActiveRunError, RecordNotFoundError
from .lineage import _shell_recorder


def _transform(source: str) -> str:
    """IPython syntax (magics, shell escapes) as the Python IPython would run."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        return TransformerManager().transform_cell(source)
    except (SyntaxError, ValueError):
        return source


def _run_cells(session: Any, run_id: str, upto_seq: int | None) -> tuple[list[tuple[str, str]], dict[str, int]]:
    from sqlalchemy import select

    from .store.models import Cell, SourceCode

    stmt = (select(Cell.id, Cell.status, Cell.error_line, SourceCode.code)
            .join(SourceCode, SourceCode.id == Cell.source_code_id)
            .where(Cell.run_id == run_id, Cell.depth == 0).order_by(Cell.seq))
    if upto_seq is not None:
        stmt = stmt.where(Cell.seq <= upto_seq)
    cells, failed = [], {}
    for cell_id, status, error_line, code in session.execute(stmt):
        cells.append((cell_id, _transform(code)))
        if status != "ok":
            # Without a known line (an interrupt), assume nothing after the first line ran.
            failed[cell_id] = error_line if error_line is not None else 1
    return cells, failed


def slice(target: Any) -> str:  # noqa: A001 - the public name users expect: lm.slice
    """Minimal code, across cells in execution order, that recomputes ``target``.

    ``target`` is a variable name of the run being recorded here, an Artifact,
    or an artifact reference ``name`` / ``name@version``.
    """
    from .analysis import NameNotDefinedError, slice_code
    from .store.models import Cell

    context.flush_pending()
    recorder = _shell_recorder()
    store = context.get_store()
    with store.session() as session:
        run_id, upto, variable = _resolve(session, target, recorder)
        last = session.get(Cell, upto) if upto is not None else None
        upto_seq = last.seq if last is not None else None
        cells, failed = _run_cells(session, run_id, upto_seq)
    try:
        return slice_code(cells, variable, failed=failed)
    except NameNotDefinedError as err:
        raise RecordNotFoundError(f"no recorded cell of run {run_id} defines {variable!r}") from err


def _resolve(session: Any, target: Any, recorder: Any) -> tuple[str, str | None, str]:
    """(run id, last cell to consider, variable name) for a slice target."""
    from sqlalchemy import select

    from .store.models import Artifact, Node
    from .values import parse_artifact_ref

    if isinstance(target, str) and target.isidentifier() and recorder is not None and recorder.run_id:
        if recorder.tracker.last_writer(target) is not None:
            return recorder.run_id, None, target
    if isinstance(target, str):
        name, version = parse_artifact_ref(target)
        stmt = select(Artifact).where(Artifact.kind == "value", Artifact.name == name)
        stmt = stmt.where(Artifact.version == version) if version is not None else stmt.order_by(Artifact.version.desc())
        artifact = session.scalars(stmt.limit(1)).first()
        if artifact is None:
            where = " in the current run" if recorder is not None and recorder.run_id else ""
            raise RecordNotFoundError(f"{target!r} is neither a variable defined{where} nor a saved artifact")
    elif isinstance(target, Artifact):
        artifact = session.get(Artifact, target.id)
    else:
        raise InvalidQueryError(f"slice takes a variable name or an artifact, got {type(target).__name__}")
    if artifact is None or artifact.run_id is None:
        raise RecordNotFoundError(f"artifact {target!r} has no recorded run to slice")
    variable = artifact.name
    if artifact.node_id is not None:
        node = session.get(Node, artifact.node_id)
        variable = node.name if node is not None else variable
    return artifact.run_id, artifact.cell_id, variable


def stale() -> list[dict[str, Any]]:
    """Cells whose inputs were redefined or mutated after they ran, and what changed."""
    from sqlalchemy import select

    from .store.models import Cell, SourceCode

    recorder = _shell_recorder()
    if recorder is None or recorder.run_id is None:
        raise NoActiveRunError("no run is being recorded here: run %load_ext lineage_magic first")
    found = recorder.staleness.stale()
    if not found:
        return []
    recorder.flush()
    ids = {f.cell_id for f in found} | {c for f in found for c in f.changed.values()}
    with context.get_store().session() as session:
        rows = session.execute(
            select(Cell.id, Cell.seq, Cell.execution_count, SourceCode.code)
            .join(SourceCode, SourceCode.id == Cell.source_code_id).where(Cell.id.in_(ids))
        ).all()
    info = {row.id: row for row in rows}
    report = []
    for item in sorted(found, key=lambda f: info[f.cell_id].seq if f.cell_id in info else 0):
        row = info.get(item.cell_id)
        report.append({
            "cell_id": item.cell_id,
            "execution_count": row.execution_count if row else None,
            "source": row.code if row else "",
            "changed": {name: (info[c].execution_count if c in info else c) for name, c in item.changed.items()},
        })
    return report
