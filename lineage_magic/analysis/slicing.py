"""Program slicing: the smallest sequence of top-level statements that recomputes a variable."""

from __future__ import annotations

import ast
import builtins
from collections.abc import Hashable, Mapping, Sequence
from types import MappingProxyType

from lineage_magic.analysis.cell import analyze_cell
from lineage_magic.analysis.deps import DependencyTracker, failing_statement

__all__ = ["NameNotDefinedError", "slice_code"]

_NO_FAILURES: Mapping[Hashable, int] = MappingProxyType({})
_BUILTINS = frozenset(dir(builtins))


class NameNotDefinedError(KeyError):
    """The requested variable was never defined by the given cells (a ``LookupError``)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"no executed cell defines {self.name!r}"


def _statement_spans(source: str) -> list[tuple[int, int, int, int]]:
    """(line, col, end_line, end_col) of each top-level statement, decorators included."""
    spans = []
    for stmt in ast.parse(source).body:
        line, col = stmt.lineno, stmt.col_offset
        for dec in getattr(stmt, "decorator_list", ()):
            if (dec.lineno, dec.col_offset) < (line, col):
                # The '@' sits one column before the decorator expression.
                line, col = dec.lineno, max(dec.col_offset - 1, 0)
        spans.append((line, col, stmt.end_lineno or line, stmt.end_col_offset or 0))
    return spans


def _segment(lines: list[bytes], span: tuple[int, int, int, int]) -> str:
    line, col, end_line, end_col = span
    # ast columns are UTF-8 byte offsets.
    if line == end_line:
        return lines[line - 1][col:end_col].decode("utf-8")
    parts = [lines[line - 1][col:]]
    parts.extend(lines[line:end_line - 1])
    parts.append(lines[end_line - 1][:end_col])
    return b"\n".join(parts).decode("utf-8")


def slice_code(
    cells: Sequence[tuple[Hashable, str]],
    target: str,
    *,
    failed: Mapping[Hashable, int] = _NO_FAILURES,
) -> str:
    """Return the code, in execution order, that recomputes the final value of ``target``."""
    tracker = DependencyTracker()
    analyses = []
    incoming: dict[tuple[int, int], list[tuple[int, int]]] = {}
    stops: list[int | None] = []
    for index, (key, source) in enumerate(cells):
        analysis = analyze_cell(source)
        analyses.append(analysis)
        stop = failing_statement(analysis, failed.get(key))
        stops.append(stop)
        # Positions stand in for keys: a re-run may reuse a key, execution order never repeats.
        deps = tracker.process(index, analysis, failed_at_line=failed.get(key))
        for edge in deps.edges:
            incoming.setdefault((index, edge.target), []).append(edge.source)  # type: ignore[arg-type]
    start = tracker.last_writer(target)
    if start is None:
        raise NameNotDefinedError(target)

    nodes_of: dict[tuple[int, int], list[int]] = {}
    for index, analysis in enumerate(analyses):
        for node_index, node in enumerate(analysis.nodes):
            nodes_of.setdefault((index, node.stmt), []).append(node_index)

    def statements_of(ref: tuple[int, int]) -> list[tuple[int, int]]:
        cell, node_index = ref
        if node_index >= 0:
            return [(cell, analyses[cell].nodes[node_index].stmt)]
        # A name bound at run time by an opaque cell: any statement that ran may have bound it.
        last = stops[cell]
        count = len(analyses[cell].stmt_lines)
        return [(cell, s) for s in range(count if last is None else last + 1)]

    def opaque_before(cell: int, stmt: int) -> list[tuple[int, int]]:
        """Statements of opaque cells that ran before ``(cell, stmt)``: they may bind anything."""
        out: list[tuple[int, int]] = []
        for index in range(cell + 1):
            if analyses[index].opaque:
                out.extend(s for s in statements_of((index, -1)) if index < cell or s[1] < stmt)
        return out

    needed: set[tuple[int, int]] = set()
    work = statements_of(start)  # type: ignore[arg-type]
    while work:
        stmt = work.pop()
        if stmt in needed:
            continue
        needed.add(stmt)
        nodes = analyses[stmt[0]].nodes
        for node_index in nodes_of.get(stmt, ()):
            sources = incoming.get((stmt[0], node_index), ())
            for source in sources:
                work.extend(statements_of(source))
            node = nodes[node_index]
            if not sources and node.kind == "lookup" and node.name not in _BUILTINS and ":" not in node.name:
                # Read of a name no analysed statement wrote: an opaque cell may have bound it.
                work.extend(opaque_before(*stmt))

    chunks: list[str] = []
    for index, (_key, source) in enumerate(cells):
        wanted = sorted(s for c, s in needed if c == index and (stops[index] is None or s < stops[index]))
        if not wanted:
            continue
        spans = _statement_spans(source)
        lines = source.encode("utf-8").split(b"\n")
        chunks.extend(_segment(lines, spans[s]) for s in wanted)
    return "\n".join(chunks) + "\n" if chunks else ""
