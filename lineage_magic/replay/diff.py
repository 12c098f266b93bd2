"""What changed between two recorded runs: cells added, removed, changed; outputs; libraries.

Cells are aligned by their sequence of sources (``difflib.SequenceMatcher``
over source hashes), so inserting one cell does not make every later cell
look changed.
"""

from __future__ import annotations

import difflib
import html
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .. import context
from ..store.engine import Store
from .compare import DEFAULT_MASKS, Mask, apply_masks, check_masks, output_diff, render_outputs, source_diff
from .records import CellRecord, RunRef, library_versions, load_cells, resolve_run
from .replay import VersionChange, version_changes


@dataclass(frozen=True, slots=True)
class CellRef:
    """A cell in a diff: which run, its position, and its first line."""

    cell_id: str
    seq: int
    execution_count: int | None
    source: str

    @property
    def first_line(self) -> str:
        """The first non-blank line of the source."""
        return next((line.strip() for line in self.source.splitlines() if line.strip()), "")


@dataclass(frozen=True, slots=True)
class CellChange:
    """A pair of aligned cells whose source (or outputs) differ, with a unified diff."""

    a: CellRef
    b: CellRef
    diff: str


@dataclass
class RunDiff:
    """Differences between run ``a`` and run ``b``."""

    run_a: str
    run_b: str
    added: list[CellRef] = field(default_factory=list)
    removed: list[CellRef] = field(default_factory=list)
    changed: list[CellChange] = field(default_factory=list)
    outputs_changed: list[CellChange] = field(default_factory=list)
    libraries: list[VersionChange] = field(default_factory=list)
    unchanged: int = 0

    @property
    def identical(self) -> bool:
        """True when no cell, output or library differs."""
        return not (self.added or self.removed or self.changed or self.outputs_changed or self.libraries)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        data = asdict(self)
        data["identical"] = self.identical
        return data

    def summary_lines(self) -> list[str]:
        """The diff as lines of text, without the unified diffs."""
        lines = [f"diff of run {self.run_a} -> run {self.run_b}: "
                 + ("identical" if self.identical else
                    f"{len(self.added)} added, {len(self.removed)} removed, {len(self.changed)} changed, "
                    f"{len(self.outputs_changed)} with changed outputs, {self.unchanged} unchanged")]
        lines += [f"+ added   seq {c.seq}: {c.first_line}" for c in self.added]
        lines += [f"- removed seq {c.seq}: {c.first_line}" for c in self.removed]
        lines += [f"~ changed seq {c.a.seq} -> {c.b.seq}: {c.b.first_line}" for c in self.changed]
        lines += [f"~ outputs seq {c.a.seq} -> {c.b.seq}: {c.b.first_line}" for c in self.outputs_changed]
        lines += [f"library {v.name}: {v.before or '-'} -> {v.after or '-'}" for v in self.libraries]
        return lines

    def __str__(self) -> str:
        parts = self.summary_lines()
        for change in [*self.changed, *self.outputs_changed]:
            parts.append("")
            parts.append(change.diff)
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        summary = "<br>".join(html.escape(line) for line in self.summary_lines())
        diffs = "".join(f"<pre>{html.escape(c.diff)}</pre>" for c in [*self.changed, *self.outputs_changed])
        return f"<div class='lineage-diff'><p>{summary}</p>{diffs}</div>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/plain": str(self), "text/html": self._repr_html_()}


def _ref(cell: CellRecord) -> CellRef:
    return CellRef(cell.id, cell.seq, cell.execution_count, cell.source)


def _rendered(cell: CellRecord, masks: Sequence[Mask]) -> str:
    return apply_masks(render_outputs(cell.outputs, cell.status, cell.error_type, cell.error_message), masks)


def diff_cells(run_a: str, run_b: str, cells_a: list[CellRecord], cells_b: list[CellRecord],
               masks: Sequence[Mask] = DEFAULT_MASKS) -> RunDiff:
    """Align two runs' cells by source and classify every difference."""
    result = RunDiff(run_a, run_b)
    matcher = difflib.SequenceMatcher(None, [c.source_id for c in cells_a], [c.source_id for c in cells_b],
                                      autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            for a, b in zip(cells_a[i1:i2], cells_b[j1:j2]):
                diff = output_diff(_rendered(a, masks), _rendered(b, masks), labels=(f"a seq {a.seq}", f"b seq {b.seq}"))
                if diff:
                    result.outputs_changed.append(CellChange(_ref(a), _ref(b), diff))
                else:
                    result.unchanged += 1
            continue
        olds, news = cells_a[i1:i2], cells_b[j1:j2]
        pairs = _pair_similar(olds, news) if op == "replace" else []
        for a, b in pairs:
            diff = source_diff(a.source, b.source, (f"a seq {a.seq}", f"b seq {b.seq}"))
            result.changed.append(CellChange(_ref(a), _ref(b), diff))
        paired_a = {a.id for a, _ in pairs}
        paired_b = {b.id for _, b in pairs}
        result.removed.extend(_ref(c) for c in olds if c.id not in paired_a)
        result.added.extend(_ref(c) for c in news if c.id not in paired_b)
    return result


def _pair_similar(olds: list[CellRecord], news: list[CellRecord], cutoff: float = 0.5) -> list[tuple[CellRecord, CellRecord]]:
    """Pair replaced cells with the most similar later source, in order; the rest are added/removed."""
    if len(olds) == len(news) == 1:
        return [(olds[0], news[0])]  # one cell edited in place
    pairs = []
    start = 0
    for a in olds:
        best, best_ratio = None, cutoff
        for index in range(start, len(news)):
            ratio = difflib.SequenceMatcher(None, a.source, news[index].source).ratio()
            if ratio >= best_ratio and (best is None or ratio > best_ratio):
                best, best_ratio = index, ratio
        if best is not None:
            pairs.append((a, news[best]))
            start = best + 1
    return pairs


def diff(run_a: RunRef, run_b: RunRef, *, masks: Sequence[Mask] = DEFAULT_MASKS,
         store: Store | None = None) -> RunDiff:
    """What changed from run ``a`` to run ``b``: cells, outputs and library versions."""
    masks = check_masks(masks)
    context.flush_pending()
    store = store or context.get_store()
    with store.session() as session:
        a = resolve_run(session, run_a).id
        b = resolve_run(session, run_b).id
        cells_a = load_cells(session, a)
        cells_b = load_cells(session, b)
        libs = version_changes(library_versions(session, a), library_versions(session, b))
    result = diff_cells(a, b, cells_a, cells_b, masks)
    result.libraries = libs
    return result
