"""Rebuild a recorded run as a v4.5 notebook: cells in the order they ran, with outputs."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import context
from ..exceptions import InvalidQueryError
from ..store.engine import Store
from ..store.models import Cell, new_id
from .records import CellRecord, RunRef, load_cells, resolve_run

_VALID_CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")

CellRef = Any  # a Cell record, a cell id, or a seq number


@dataclass(frozen=True, slots=True)
class ExportedRun:
    """What an export produced: the run, its transform path and the cells, with ids."""

    run_id: str
    transform_path: str | None
    transform_name: str | None
    cells: list[CellRecord]
    cell_ids: list[str]


def select_cells(cells: list[CellRecord], *, upto: Any = None, cells_filter: Iterable[CellRef] | None = None) -> list[CellRecord]:
    """Top-level cells up to ``upto`` (an execution count, or a Cell / cell id), or only ``cells_filter``."""
    chosen = list(cells)
    if upto is not None:
        chosen = _upto(chosen, upto)
    if cells_filter is not None:
        wanted_ids: set[str] = set()
        wanted_seqs: set[int] = set()
        for ref in cells_filter:
            if isinstance(ref, Cell):
                wanted_ids.add(ref.id)
            elif isinstance(ref, CellRecord):
                wanted_ids.add(ref.id)
            elif isinstance(ref, bool) or not isinstance(ref, (int, str)):
                raise InvalidQueryError(f"cells= takes Cell records, cell ids or seq numbers, got {ref!r}")
            elif isinstance(ref, int):
                wanted_seqs.add(ref)
            else:
                wanted_ids.add(ref)
        known_ids = {c.id for c in cells}
        unknown = sorted(wanted_ids - known_ids)
        if unknown:
            raise InvalidQueryError(f"cells {', '.join(map(repr, unknown))} are not top-level cells of this run")
        chosen = [c for c in chosen if c.id in wanted_ids or c.seq in wanted_seqs]
    return chosen


def _upto(cells: list[CellRecord], upto: Any) -> list[CellRecord]:
    if isinstance(upto, (Cell, CellRecord)):
        upto = upto.id
    if isinstance(upto, bool):
        raise InvalidQueryError(f"upto takes an execution count or a cell id, got {upto!r}")
    if isinstance(upto, int):
        if upto < 0:
            raise InvalidQueryError(f"upto must be a non-negative execution count, got {upto}")
        return [c for c in cells if (c.execution_count if c.execution_count is not None else c.seq) <= upto]
    if isinstance(upto, str):
        for index, cell in enumerate(cells):
            if cell.id == upto:
                return cells[: index + 1]
        raise InvalidQueryError(f"upto: {upto!r} is not a top-level cell of this run")
    raise InvalidQueryError(f"upto takes an execution count or a cell id, got {upto!r}")


def collect(run: RunRef, *, upto: Any = None, cells: Iterable[CellRef] | None = None,
            store: Store | None = None) -> ExportedRun:
    """The cells of a run that an export would contain, with the notebook cell ids to use."""
    context.flush_pending()
    store = store or context.get_store()
    with store.session() as session:
        record = resolve_run(session, run)
        run_id = record.id
        transform = record.transform
        path = transform.path if transform is not None else None
        name = transform.name if transform is not None else None
        recorded = load_cells(session, run_id, top_level=True)
    chosen = select_cells(recorded, upto=upto, cells_filter=cells)
    return ExportedRun(run_id, path, name, chosen, _cell_ids(chosen))


def _cell_ids(cells: list[CellRecord]) -> list[str]:
    """Original notebook cell ids where valid and unused; otherwise new, unique ones."""
    used: set[str] = set()
    ids: list[str] = []
    for cell in cells:
        original = cell.notebook_cell_id or ""
        candidate = original if _VALID_CELL_ID.match(original) else ""
        if candidate and candidate in used:
            # A re-execution of the same notebook cell: keep the original recognisable.
            candidate = f"{original[:50]}-{cell.seq}"
        while not candidate or candidate in used or not _VALID_CELL_ID.match(candidate):
            candidate = new_id(8).lower()
        used.add(candidate)
        ids.append(candidate)
    return ids


def build_notebook(exported: ExportedRun, *, validate: bool = True) -> Any:
    """An nbformat v4.5 NotebookNode of the exported cells with their recorded outputs."""
    import nbformat
    from nbformat import v4

    nb = v4.new_notebook()
    nb.nbformat_minor = max(nb.nbformat_minor, 5)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["lineage"] = {
        "run": exported.run_id,
        "transform": exported.transform_name,
        "path": exported.transform_path,
    }
    # Plain dicts, validated once below (or by the caller): nbformat's new_* helpers
    # validate every cell and output, which cost more than the export itself.
    for cell, cell_id in zip(exported.cells, exported.cell_ids):
        nb.cells.append(nbformat.from_dict({
            "id": cell_id,
            "cell_type": "code",
            "source": cell.source,
            "execution_count": cell.execution_count,
            "outputs": _outputs(cell),
            "metadata": {"lineage": {"cell": cell.id, "run": cell.run_id, "status": cell.status}},
        }))
    if validate:
        nbformat.validate(nb)
    return nb


def _outputs(cell: CellRecord) -> list[dict[str, Any]]:
    outputs: list[dict[str, Any]] = []
    for out in cell.outputs:
        kind = out.get("output_type")
        text = out.get("text")
        text = text if isinstance(text, str) else ""
        if kind == "stream":
            name = out.get("name") if out.get("name") in ("stdout", "stderr") else "stdout"
            outputs.append({"output_type": "stream", "name": name, "text": text})
        elif kind == "execute_result":
            outputs.append({"output_type": "execute_result", "data": {"text/plain": text},
                            "metadata": {}, "execution_count": cell.execution_count})
        elif kind == "display_data":
            outputs.append({"output_type": "display_data", "data": {"text/plain": text}, "metadata": {}})
    if cell.status in ("error", "interrupted"):
        ename = cell.error_type or ("KeyboardInterrupt" if cell.status == "interrupted" else "Error")
        evalue = cell.error_message or ""
        outputs.append({"output_type": "error", "ename": ename, "evalue": evalue,
                        "traceback": [f"{ename}: {evalue}"]})
    return outputs


def write_notebook(nb: Any, path: str | os.PathLike[str]) -> Path:
    """Write a notebook atomically (a temp file beside it, then rename)."""
    import nbformat

    target = Path(path).expanduser()
    if target.is_dir():
        raise InvalidQueryError(f"{str(target)!r} is a directory; give a file name ending in .ipynb")
    if not target.parent.exists():
        raise InvalidQueryError(f"directory {str(target.parent)!r} does not exist")
    tmp = target.with_name(f".{target.name}.{new_id(6)}.tmp")
    try:
        nbformat.write(nb, str(tmp))
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def export_notebook(run: RunRef, path: str | os.PathLike[str], *, upto: Any = None,
                    cells: Iterable[CellRef] | None = None, store: Store | None = None) -> Path:
    """Write a recorded run as a v4.5 notebook; returns the path written."""
    exported = collect(run, upto=upto, cells=cells, store=store)
    return write_notebook(build_notebook(exported), path)
