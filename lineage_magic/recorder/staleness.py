"""Which executed cells read a name that has changed since they ran."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, NamedTuple

from ..analysis import CellAnalysis, CellDeps, DependencyTracker

NodeRef = tuple[Hashable, int]


class StaleCell(NamedTuple):
    """A cell whose inputs changed after it ran: name -> the cell that changed it."""

    cell_id: str
    changed: dict[str, str]


class Staleness:
    """Remembers what the latest execution of each notebook cell read."""

    def __init__(self, tracker: DependencyTracker) -> None:
        self._tracker = tracker
        self._reads: dict[str, dict[str, NodeRef]] = {}
        self._latest: dict[str, str] = {}  # notebook cell id (or source hash) -> cell key

    def reset(self) -> None:
        """Forget everything (a new run)."""
        self._reads.clear()
        self._latest.clear()

    def observe(self, cell_key: str, identity: str, analysis: CellAnalysis, deps: CellDeps) -> None:
        """Note the names a cell read from earlier cells (not the ones it wrote itself)."""
        wrote = deps.defined | deps.mutated
        reads: dict[str, NodeRef] = {}
        for edge in deps.edges:
            if edge.source[0] == cell_key or edge.target >= len(analysis.nodes):
                continue
            name = analysis.nodes[edge.target].name
            if name not in wrote:
                reads.setdefault(name, edge.source)
        previous = self._latest.get(identity)
        if previous is not None:
            self._reads.pop(previous, None)
        self._latest[identity] = cell_key
        if reads:
            self._reads[cell_key] = reads

    def stale(self) -> list[StaleCell]:
        """Cells (latest executions) whose inputs were redefined or mutated since."""
        found = []
        for cell_key, reads in self._reads.items():
            changed: dict[str, Any] = {}
            for name, ref in reads.items():
                now = self._tracker.last_writer(name)
                if now != ref:
                    changed[name] = now[0] if now is not None else "deleted"
            if changed:
                found.append(StaleCell(cell_key, changed))
        return found
