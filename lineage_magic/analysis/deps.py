"""Cross-cell dependency tracking: which node last wrote each name, and who read it.

Choices worth knowing:

* Aliases are kept as undirected groups of names (``b = a``, ``b = a.x``,
  ``b = a[0]``, ``for r in rows``, ``d[k] = a``, ``lst.append(a)``): an in-place
  change through any member counts as a change of every member.  This
  over-approximates (a false dependency only makes a slice larger).
* ``obj.m(...)`` where ``obj`` is not a module or a user function/class is
  resolved against every user class method named ``m`` seen so far: the call
  reads those methods' globals and mutates ``obj`` (and arguments) when some
  such method mutates ``self`` (or the parameter).  Unknown methods are reads,
  unless their name is in :data:`~lineage_magic.analysis.cell.MUTATING_METHODS`
  (handled by the cell analysis).
* Names no cell wrote (builtins, names from outside the recorded session) get
  no edges.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from typing import NamedTuple

from lineage_magic.analysis.cell import CellAnalysis, FactsClosure, FunctionFacts, NodeInfo, positions_match

__all__ = ["EdgeInfo", "CellDeps", "DependencyTracker"]

NodeRef = tuple[Hashable, int]

_ROOT = re.compile(r"[^\W\d]\w*")
_MODULE_STATE_CALLS = frozenset({"seed", "manual_seed", "use", "update", "clear"})
_METHOD_CALL = re.compile(r"([^\W\d]\w*)(?:\.[^\W\d]\w*)*\.([^\W\d]\w*)")


class EdgeInfo(NamedTuple):
    """A dependency of node ``target`` of this cell on an upstream ``(cell_key, node_index)``."""

    source: NodeRef
    target: int


class CellDeps(NamedTuple):
    """What one cell execution depended on and which names it wrote."""

    parents: tuple[Hashable, ...]
    edges: tuple[EdgeInfo, ...]
    defined: frozenset[str]
    mutated: frozenset[str]
    deleted: frozenset[str] = frozenset()


def _module_function(nodes: tuple[NodeInfo, ...], index: int) -> bool:
    """Whether mutation ``index`` comes from ``module.func(...)``, which leaves the module alone.

    ``np.append(a, 1)`` or ``os.remove(p)`` look like mutating method calls; ``random.seed(0)``
    and ``module.set_option(...)`` really change module state.
    """
    if index == 0:
        return False
    call, mutation = nodes[index - 1], nodes[index]
    if call.kind != "call" or (call.lineno, call.col_offset) != (mutation.lineno, mutation.col_offset):
        return False
    module, dot, attr = call.name.partition(".")
    if module != mutation.name or not dot or "." in attr or not attr.isidentifier():
        return False
    return attr not in _MODULE_STATE_CALLS and not attr.startswith("set_")


def failing_statement(analysis: CellAnalysis, failed_at_line: int | None) -> int | None:
    """Index of the top-level statement that contains ``failed_at_line`` (None: all ran)."""
    if failed_at_line is None:
        return None
    found = 0
    for index, (start, _end) in enumerate(analysis.stmt_lines):
        if start <= failed_at_line:
            found = index
        else:
            break
    return found


class _CellRun:
    """Bookkeeping for one :meth:`DependencyTracker.process` call."""

    __slots__ = ("key", "edges", "seen", "defined", "mutated", "deleted")

    def __init__(self, key: Hashable) -> None:
        self.key = key
        self.edges: list[EdgeInfo] = []
        self.seen: set[tuple[NodeRef, int]] = set()
        self.defined: set[str] = set()
        self.mutated: set[str] = set()
        self.deleted: set[str] = set()

    def edge(self, source: NodeRef | None, target: int) -> None:
        if source is None or source == (self.key, target):
            return
        if (source, target) not in self.seen:
            self.seen.add((source, target))
            self.edges.append(EdgeInfo(source, target))


class _MethodTable(Mapping[str, Sequence[FunctionFacts]]):
    """Read-only view: method name -> the facts of every user class method so named."""

    def __init__(self, owners: dict[str, dict[str, FunctionFacts]]) -> None:
        self._owners = owners

    def __getitem__(self, name: str) -> Sequence[FunctionFacts]:
        return tuple(self._owners[name].values())

    def __iter__(self) -> Iterator[str]:
        return iter(self._owners)

    def __len__(self) -> int:
        return len(self._owners)


class DependencyTracker:
    """Holds the lineage state of one kernel session: which node last defined or mutated each name."""

    def __init__(self) -> None:
        self._clear()

    def _clear(self) -> None:
        self._history: dict[str, list[NodeRef]] = {}
        self._deleted: set[str] = set()
        self._groups: dict[str, set[str]] = {}
        self._functions: dict[str, FunctionFacts] = {}
        self._methods: dict[str, dict[str, FunctionFacts]] = {}
        self._class_methods: dict[str, list[str]] = {}
        self._modules: set[str] = set()
        self._closure: FactsClosure | None = None

    # -- queries

    def last_writer(self, name: str) -> NodeRef | None:
        """The ``(cell_key, node_index)`` that last defined or mutated ``name``, or None."""
        if name in self._deleted:
            return None
        history = self._history.get(name)
        return history[-1] if history else None

    def writers(self, name: str) -> list[NodeRef]:
        """Every node that defined or mutated ``name``, oldest first."""
        return list(self._history.get(name, ()))

    def functions(self) -> dict[str, FunctionFacts]:
        """The user functions and classes currently bound, by name."""
        return dict(self._functions)

    def reset(self) -> None:
        """Forget everything (a kernel restart)."""
        self._clear()

    # -- processing

    def process(
        self,
        cell_key: Hashable,
        analysis: CellAnalysis,
        *,
        failed_at_line: int | None = None,
        runtime_defined: Iterable[str] = (),
        runtime_deleted: Iterable[str] = (),
    ) -> CellDeps:
        """Link one executed cell to the nodes it depends on and record what it wrote."""
        run = _CellRun(cell_key)
        stop = failing_statement(analysis, failed_at_line)
        for index, node in enumerate(analysis.nodes):
            if stop is not None and node.stmt > stop:
                break
            ref = (cell_key, index)
            kind = node.kind
            if kind == "lookup":
                run.edge(self.last_writer(node.name), index)
            elif kind == "definition" or kind == "import":
                if stop is not None and node.stmt == stop:
                    continue
                self._define(node, ref, analysis, run)
            elif kind == "mutation":
                if node.deleted:
                    if stop is not None and node.stmt == stop:
                        continue
                    run.edge(self.last_writer(node.name), index)
                    self._delete(node.name)
                    run.deleted.add(node.name)
                elif node.name in self._modules and _module_function(analysis.nodes, index):
                    run.edge(self.last_writer(node.name), index)
                else:
                    self._mutate(node.name, ref, run, node.args)
            elif kind == "call":
                self._call(node, ref, run)
        static = run.defined | run.mutated
        for name in runtime_defined:
            if name in static:
                continue
            self._write(name, (cell_key, -1))
            self._leave_group(name)
            self._forget_function(name)
            run.defined.add(name)
        for name in runtime_deleted:
            self._delete(name)
            run.deleted.add(name)
            run.defined.discard(name)
        parents = tuple(dict.fromkeys(e.source[0] for e in run.edges if e.source[0] != cell_key))
        return CellDeps(
            parents=parents,
            edges=tuple(run.edges),
            defined=frozenset(run.defined),
            mutated=frozenset(run.mutated),
            deleted=frozenset(run.deleted),
        )

    # -- state changes

    def _write(self, name: str, ref: NodeRef) -> None:
        self._history.setdefault(name, []).append(ref)
        self._deleted.discard(name)

    def _leave_group(self, name: str) -> None:
        group = self._groups.pop(name, None)
        if group is not None:
            group.discard(name)

    def _join(self, name: str, others: Iterable[str]) -> None:
        group = self._groups.get(name)
        if group is None:
            group = self._groups[name] = {name}
        for other in others:
            if other == name or other in group:
                continue
            theirs = self._groups.get(other)
            if theirs is None:
                group.add(other)
                self._groups[other] = group
                continue
            if len(theirs) > len(group):
                group, theirs = theirs, group
            group |= theirs
            for member in theirs:
                self._groups[member] = group

    def _invalidate(self, name: str, methods: Iterable[str] = ()) -> None:
        """Drop cached closures that resolved ``name`` or one of the ``methods``."""
        closure = self._closure
        if closure is not None and (closure.depends_on(name) or any(closure.depends_on("." + m) for m in methods)):
            self._closure = None

    def _forget_function(self, name: str) -> None:
        if self._functions.pop(name, None) is None:
            return
        self._invalidate(name, self._class_methods.get(name, ()))
        for method in self._class_methods.pop(name, ()):
            self._functions.pop(f"{name}.{method}", None)
            owners = self._methods.get(method)
            if owners is not None:
                owners.pop(name, None)

    def _define(self, node: NodeInfo, ref: NodeRef, analysis: CellAnalysis, run: _CellRun) -> None:
        name = node.name
        if name == "*":
            return
        self._write(name, ref)
        run.defined.add(name)
        if node.kind == "import":
            self._leave_group(name)
            self._forget_function(name)
            self._modules.add(name)
            return
        self._modules.discard(name)
        roots = node.args
        if name not in roots:
            self._leave_group(name)
        known = [r for r in roots if r in self._functions and r != name]
        self._forget_function(name)
        facts = analysis.functions.get(name)
        if facts is not None:
            self._register(name, facts, analysis)
        elif known and len(known) == len(roots):
            self._functions[name] = self._functions[known[0]]
            self._invalidate(name)
        live = [r for r in roots if r in self._history and r not in self._deleted]
        if live:
            self._join(name, live)

    def _register(self, name: str, facts: FunctionFacts, analysis: CellAnalysis) -> None:
        self._functions[name] = facts
        prefix = name + "."
        own = []
        for key, method in analysis.functions.items():
            if key.startswith(prefix):
                method_name = key[len(prefix):]
                own.append(method_name)
                self._functions[key] = method
                self._methods.setdefault(method_name, {})[name] = method
        if own:
            self._class_methods[name] = own
        self._invalidate(name, own)

    def _delete(self, name: str) -> None:
        self._leave_group(name)
        self._forget_function(name)
        self._modules.discard(name)
        self._deleted.add(name)

    def _mutate(self, name: str, ref: NodeRef, run: _CellRun, stored: Iterable[str] = ()) -> None:
        group = self._groups.get(name)
        members = [name] + sorted(group - {name}) if group else [name]
        for member in members:
            # The new value of every alias depends on its old value.
            run.edge(self.last_writer(member), ref[1])
        for member in members:
            self._write(member, ref)
            run.mutated.add(member)
        live = [s for s in stored if s in self._history and s not in self._deleted]
        if live:
            self._join(name, live)

    def _close(self, facts: FunctionFacts) -> FunctionFacts:
        if self._closure is None:
            self._closure = FactsClosure(self._functions, _MethodTable(self._methods))
        return self._closure.close(facts)

    def _call(self, node: NodeInfo, ref: NodeRef, run: _CellRun) -> None:
        name = node.name
        match = _ROOT.match(name)
        if match is None:
            return
        root = match.group()
        receiver: str | None = None
        candidates: list[tuple[str, FunctionFacts]] = []
        if name in self._functions:
            candidates.append((name, self._functions[name]))
            # Calling a user function depends on its current definition.
            run.edge(self.last_writer(root), ref[1])
        elif root not in self._modules and root not in self._functions:
            method = _METHOD_CALL.fullmatch(name)
            if method is not None:
                owners = self._methods.get(method.group(2), {})
                candidates.extend((f"{owner}.{method.group(2)}", facts) for owner, facts in owners.items())
                receiver = root
        if not candidates:
            return
        shift = 1 if receiver is not None else 0
        changed: list[str] = []
        for key, facts in candidates:
            closed = self._close(facts)
            for read in sorted(closed.reads_globals):
                run.edge(self.last_writer(read), ref[1])
            params = closed.mutates_params
            if receiver is not None and (0 in params or (closed.params and closed.params[0] in params)):
                changed.append(receiver)
            for arg, pos in zip(node.args, node.arg_positions):
                if isinstance(pos, int):
                    pos += shift
                if positions_match(pos, params):
                    changed.append(arg)
            changed.extend(sorted(closed.mutates_globals | closed.writes_globals))
        for target in dict.fromkeys(changed):
            self._mutate(target, ref, run)
