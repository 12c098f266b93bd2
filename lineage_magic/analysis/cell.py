"""Static analysis of one cell: the names it imports, binds, reads, mutates and calls.

The input is the cell's source after IPython's input transformation, so magics
appear as ``get_ipython().run_line_magic(...)`` / ``run_cell_magic(...)`` calls.

Node conventions (the contract with :mod:`lineage_magic.analysis.deps`):

* Nodes are listed in evaluation order: source order, except that an
  assignment's value comes before its targets (``x = x + 1`` reads ``x`` first).
* Every name read at top level is a ``lookup``, builtins included; the tracker
  ignores names that no cell has written.
* A call also reads its callee, so ``f(x)`` yields ``lookup f``, ``lookup x`` and
  ``call f``.  ``call.args`` holds the root names of the arguments and
  ``call.arg_positions`` where each one was passed (an ``int`` position, a
  keyword name, ``"*"`` for ``*args`` / after a starred argument, ``"**"``).
* ``definition.args`` and ``mutation.args`` hold the names the stored value may
  alias (``b = a`` → ``("a",)``, ``x += y`` → ``("x",)``, ``lst.append(a)`` →
  ``("a",)``), so the tracker can follow in-place changes through aliases.
* ``del x`` is a ``mutation`` with ``deleted=True``.
* Files are pseudo-names: ``%%writefile x.py`` defines ``"file:x.py"`` and
  ``%run x.py`` looks it up.
* Anonymous lambdas (not bound to a name) are assumed to run right away, so the
  names their bodies read are lookups; named functions' reads go into
  :class:`FunctionFacts` and become dependencies when they are called.
"""

from __future__ import annotations

import ast
import logging
import re
import shlex
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

__all__ = [
    "NodeKind",
    "NodeInfo",
    "FunctionFacts",
    "CellAnalysis",
    "analyze_cell",
    "close_facts",
    "FactsClosure",
    "positions_match",
    "MUTATING_METHODS",
]

logger = logging.getLogger(__name__)

NodeKind = Literal["import", "definition", "lookup", "mutation", "call", "global"]

Position = int | str

#: Method names that change their receiver in place.
MUTATING_METHODS: frozenset[str] = frozenset(
    {
        "append", "extend", "insert", "remove", "pop", "popitem", "clear", "update",
        "setdefault", "sort", "reverse", "add", "discard", "difference_update",
        "intersection_update", "symmetric_difference_update", "write", "writelines",
        "fill", "resize", "put", "itemset", "setflags", "appendleft", "extendleft",
        "popleft", "rotate", "move_to_end", "subtract", "partition", "truncate",
        "seek", "flush", "close", "send", "throw", "__setitem__", "__delitem__",
        "__iadd__", "fit", "partial_fit", "fit_transform", "train", "zero_grad",
        "step", "backward", "load_state_dict", "seed", "manual_seed", "set",
        "sort_values_inplace", "drop_duplicates_inplace", "acquire", "release",
    }
)
_MUTATING_PREFIXES = ("set_", "add_", "remove_", "update_", "del_")
# pandas methods that look mutating by prefix but return a new object.
_NON_MUTATING = frozenset({"set_index", "set_axis", "add_prefix", "add_suffix", "set_flags"})
# Methods that store their positional arguments inside the receiver.
_STORING_METHODS = frozenset(
    {"append", "extend", "insert", "add", "update", "setdefault", "appendleft",
     "extendleft", "put", "__setitem__", "set"}
)
# Free functions (by last dotted component) that change an argument in place.
_MUTATING_FUNCTIONS: Mapping[str, tuple[int, ...]] = MappingProxyType(
    {
        "shuffle": (0,), "heappush": (0,), "heappop": (0,), "heapify": (0,),
        "heapreplace": (0,), "heappushpop": (0,), "insort": (0,), "insort_left": (0,),
        "insort_right": (0,), "setattr": (0,), "delattr": (0,), "copyto": (0,),
        "fill_diagonal": (0,), "place": (0,), "putmask": (0,), "next": (0,),
        "dump": (1,),
    }
)
# Calls whose result iterates over (or holds) the elements of their arguments.
_ALIAS_FUNCTIONS = frozenset({"enumerate", "zip", "reversed", "iter", "sorted", "list", "tuple", "filter"})
_ALIAS_METHODS = frozenset({"items", "values", "get", "setdefault", "iterrows", "itertuples", "__getitem__"})
_OPAQUE_CALLS = frozenset({"exec", "eval"})
_NAMESPACE_CALLS = frozenset({"globals", "locals", "vars"})
# Magics whose argument is Python code run in the user namespace.
_CODE_LINE_MAGICS = frozenset({"time", "timeit", "prun"})
_CODE_CELL_MAGICS = frozenset({"time", "timeit", "prun", "capture"})
_MAGIC_OPTION = re.compile(r"^\s*(?:-[A-Za-z]+(?:\s+\d+)?\s+)*")
_IDENT = re.compile(r"[^\W\d]\w*")

#: Sources longer than this are not parsed: the cell is reported opaque instead.
MAX_SOURCE_CHARS = 2_000_000
#: Analyses of sources up to this long are kept, so that a cell run again is not analysed again.
CACHE_SOURCE_CHARS = 100_000
#: How many analyses are kept (the most recently used).
CACHE_SIZE = 1024


class NodeInfo(NamedTuple):
    """One lineage-relevant fact about a cell: an import, binding, read, change or call."""

    kind: str
    name: str
    lineno: int
    col_offset: int
    end_lineno: int
    end_col_offset: int
    stmt: int
    module: str | None = None
    args: tuple[str, ...] = ()
    arg_positions: tuple[Position, ...] = ()
    deleted: bool = False


class FunctionFacts(NamedTuple):
    """What calling a user function (or instantiating a user class) reads and changes."""

    reads_globals: frozenset[str] = frozenset()
    writes_globals: frozenset[str] = frozenset()
    mutates_params: frozenset[Position] = frozenset()
    mutates_globals: frozenset[str] = frozenset()
    params: tuple[str, ...] = ()
    calls: frozenset[str] = frozenset()
    forwards_params: frozenset[tuple[str, Position, tuple[Position, ...]]] = frozenset()
    forwards_globals: frozenset[tuple[str, Position, str]] = frozenset()
    opaque: bool = False


_NO_FUNCTIONS: Mapping[str, FunctionFacts] = MappingProxyType({})


class CellAnalysis(NamedTuple):
    """The static analysis of one cell's source.

    ``functions`` maps each user function or class whose last top-level binding in
    the cell is its ``def``/``class`` to its facts; methods appear as ``"Class.method"``.
    ``opaque`` means the cell may bind or read names invisible to the analysis (star
    import, exec/eval, globals()/vars()/locals(), magics, parse failure): the recorder
    should report what it saw bound at run time.
    """

    nodes: tuple[NodeInfo, ...]
    ok: bool
    error: str | None
    stmt_lines: tuple[tuple[int, int], ...]
    opaque: bool
    functions: Mapping[str, FunctionFacts] = _NO_FUNCTIONS
    files_written: tuple[str, ...] = ()
    files_read: tuple[str, ...] = ()
    defines: frozenset[str] = frozenset()
    reads: frozenset[str] = frozenset()
    mutates: frozenset[str] = frozenset()

    def __reduce__(self) -> tuple[Callable[..., CellAnalysis], tuple[Any, ...]]:
        # ``functions`` is a read-only view, which pickle cannot take: it travels as a dict.
        return _unpickle_analysis, (*self[:5], dict(self.functions), *self[6:])


def _unpickle_analysis(*fields: Any) -> CellAnalysis:
    functions = fields[5]
    return CellAnalysis(*fields[:5], MappingProxyType(functions) if functions else _NO_FUNCTIONS, *fields[6:])


def _failed(error: str) -> CellAnalysis:
    return CellAnalysis(nodes=(), ok=False, error=error, stmt_lines=(), opaque=True)


# --------------------------------------------------------------------------- helpers


def _dedupe(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


def _display(expr: ast.expr) -> tuple[str | None, str]:
    """Root name and display text of a callee such as ``df["a"].fillna``."""
    parts: list[str] = []
    node = expr
    while True:
        t = type(node)
        if t is ast.Attribute:
            parts.append("." + node.attr)
            node = node.value
        elif t is ast.Subscript:
            parts.append("[]")
            node = node.value
        elif t is ast.Call:
            parts.append("()")
            node = node.func
        elif t is ast.Name:
            return node.id, node.id + "".join(reversed(parts))
        else:
            return None, "<expr>" + "".join(reversed(parts))


def _mut_root(expr: ast.expr) -> str | None:
    """The variable whose object graph an in-place change of ``expr`` touches."""
    node = expr
    while True:
        t = type(node)
        if t is ast.Name:
            return node.id
        if t is ast.Attribute or t is ast.Subscript or t is ast.Starred:
            node = node.value
        elif t is ast.Call and type(node.func) is ast.Attribute:
            # a.get_list().append(1) changes something reachable from a.
            node = node.func.value
        else:
            return None


def _alias_roots(expr: ast.expr | None) -> list[str]:
    """Raw names whose objects the value of ``expr`` may be (or contain)."""
    out: list[str] = []
    stack = [expr]
    while stack:
        node = stack.pop()
        t = type(node)
        if t is ast.Name:
            out.append(node.id)
        elif t is ast.Attribute or t is ast.Subscript or t is ast.Starred:
            stack.append(node.value)
        elif t is ast.Tuple or t is ast.List or t is ast.Set:
            stack.extend(reversed(node.elts))
        elif t is ast.Dict:
            stack.extend(v for v in reversed(node.values) if v is not None)
        elif t is ast.IfExp:
            stack.append(node.orelse)
            stack.append(node.body)
        elif t is ast.BoolOp:
            stack.extend(reversed(node.values))
        elif t is ast.NamedExpr:
            stack.append(node.value)
        elif t is ast.Call:
            func = node.func
            if type(func) is ast.Name and func.id in _ALIAS_FUNCTIONS:
                stack.extend(reversed(node.args))
            elif type(func) is ast.Attribute and func.attr in _ALIAS_METHODS:
                stack.append(func.value)
    return out


def positions_match(pos: Position, mutated: frozenset[Position] | set[Position]) -> bool:
    """Whether an argument passed at ``pos`` lands in one of the ``mutated`` parameter keys."""
    if not mutated:
        return False
    if pos in mutated:
        return True
    if pos == "*":
        return any(isinstance(k, int) for k in mutated) or "*" in mutated
    if pos == "**":
        return any(isinstance(k, str) and k not in ("*", "**") for k in mutated) or "**" in mutated
    if isinstance(pos, int):
        return "*" in mutated
    return "**" in mutated


def _magic_target(line: str) -> str | None:
    """The first non-option word of a magic's line (the file of %run / %%writefile)."""
    try:
        words = shlex.split(line)
    except ValueError:
        words = line.split()
    for word in words:
        if not word.startswith("-"):
            return word
    return None


def _const_str(node: ast.expr | None) -> str | None:
    if type(node) is ast.Constant and isinstance(node.value, str):
        return node.value
    return None


# --------------------------------------------------------------------------- function bodies


class _Scope:
    """Raw facts gathered from one function (or comprehension) scope."""

    __slots__ = ("reads", "binds", "gdecl", "ndecl", "alias", "muts", "calls", "fwd", "gwrites", "opaque", "outer")

    def __init__(self, outer: _Scope | None = None) -> None:
        self.reads: set[str] = set()
        self.binds: set[str] = set()
        self.gdecl: set[str] = set()
        self.ndecl: set[str] = set()
        self.alias: dict[str, set[str]] = {}
        self.muts: set[str] = set()
        self.calls: set[str] = set()
        self.fwd: set[tuple[str, Position, str]] = set()
        self.gwrites: set[str] = set()
        self.opaque = False
        # Walrus targets inside a comprehension bind in the enclosing function.
        self.outer = outer

    def bind(self, name: str, roots: Iterable[str] = ()) -> None:
        self.binds.add(name)
        if roots:
            self.alias.setdefault(name, set()).update(roots)


class _Closed:
    """A scope's facts expressed in terms of its parameters and free names only."""

    __slots__ = ("reads", "muts", "gwrites", "calls", "fwd", "opaque", "locals")

    def __init__(self, sc: _Scope, params: Iterable[str]) -> None:
        params = set(params)
        local = (sc.binds | params) - sc.gdecl - sc.ndecl
        self.locals = local
        cache: dict[str, set[str]] = {}

        def terminals(name: str) -> set[str]:
            if name not in local or name in params:
                return {name}
            if name in cache:
                return cache[name]
            found: set[str] = set()
            seen = {name}
            stack = [name]
            while stack:
                for nxt in sc.alias.get(stack.pop(), ()):
                    if nxt in seen:
                        continue
                    seen.add(nxt)
                    if nxt not in local or nxt in params:
                        found.add(nxt)
                    else:
                        stack.append(nxt)
            cache[name] = found
            return found

        self.reads = sc.reads - local
        self.muts = {t for m in sc.muts for t in terminals(m)}
        self.gwrites = sc.gwrites | (sc.gdecl & (sc.binds | self.muts))
        self.calls = {c for c in sc.calls if c.startswith(".") or c not in local}
        self.fwd = {(c, p, t) for c, p, n in sc.fwd if c.startswith(".") or c not in local for t in terminals(n)}
        self.opaque = sc.opaque


def _param_names(args: ast.arguments) -> tuple[list[str], str | None, list[str], str | None]:
    positional = [a.arg for a in args.posonlyargs] + [a.arg for a in args.args]
    vararg = args.vararg.arg if args.vararg else None
    kwonly = [a.arg for a in args.kwonlyargs]
    kwarg = args.kwarg.arg if args.kwarg else None
    return positional, vararg, kwonly, kwarg


def _param_keys(name: str, positional: list[str], vararg: str | None, kwarg: str | None) -> tuple[Position, ...]:
    if name == vararg:
        return ("*",)
    if name == kwarg:
        return ("**",)
    if name in positional:
        return (positional.index(name), name)
    return (name,)


class _FunctionScanner:
    """Collects :class:`FunctionFacts` of a ``def`` or ``lambda`` without running it."""

    def facts(self, fn: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> FunctionFacts:
        """Facts of one function, its nested scopes folded in."""
        positional, vararg, kwonly, kwarg = _param_names(fn.args)
        closed = self.closed(fn)
        all_params = set(positional) | set(kwonly) | {p for p in (vararg, kwarg) if p}
        mparams: set[Position] = set()
        mglobals: set[str] = set()
        for name in closed.muts:
            if name in all_params:
                mparams.update(_param_keys(name, positional, vararg, kwarg))
            elif name not in closed.gwrites:
                mglobals.add(name)
        fparams: set[tuple[str, Position, tuple[Position, ...]]] = set()
        fglobals: set[tuple[str, Position, str]] = set()
        for callee, pos, name in closed.fwd:
            if name in all_params:
                fparams.add((callee, pos, _param_keys(name, positional, vararg, kwarg)))
            else:
                fglobals.add((callee, pos, name))
        return FunctionFacts(
            reads_globals=frozenset(closed.reads),
            writes_globals=frozenset(closed.gwrites),
            mutates_params=frozenset(mparams),
            mutates_globals=frozenset(mglobals),
            params=tuple(positional),
            calls=frozenset(closed.calls),
            forwards_params=frozenset(fparams),
            forwards_globals=frozenset(fglobals),
            opaque=closed.opaque,
        )

    def closed(self, fn: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> _Closed:
        sc = _Scope()
        positional, vararg, kwonly, kwarg = _param_names(fn.args)
        params = positional + kwonly + [p for p in (vararg, kwarg) if p]
        if isinstance(fn, ast.Lambda):
            self.visit(fn.body, sc)
        else:
            for stmt in fn.body:
                self.visit(stmt, sc)
        return _Closed(sc, params)

    def merge(self, inner: _Closed, sc: _Scope) -> None:
        sc.reads |= inner.reads
        sc.muts |= inner.muts
        sc.gwrites |= inner.gwrites
        sc.calls |= inner.calls
        sc.fwd |= inner.fwd
        sc.opaque |= inner.opaque

    def visit(self, node: ast.AST, sc: _Scope) -> None:
        handler = _SCAN.get(type(node))
        if handler is not None:
            handler(self, node, sc)
            return
        for child in ast.iter_child_nodes(node):
            self.visit(child, sc)

    def _name(self, node: ast.Name, sc: _Scope) -> None:
        if type(node.ctx) is ast.Load:
            sc.reads.add(node.id)
        else:
            sc.binds.add(node.id)

    def _target(self, target: ast.expr, roots: list[str], sc: _Scope) -> None:
        t = type(target)
        if t is ast.Name:
            sc.bind(target.id, roots)
        elif t is ast.Tuple or t is ast.List:
            for elt in target.elts:
                self._target(elt, roots, sc)
        elif t is ast.Starred:
            self._target(target.value, roots, sc)
        else:
            self.visit(target, sc)
            root = _mut_root(target)
            if root is not None:
                sc.muts.add(root)
                if roots:
                    sc.alias.setdefault(root, set()).update(roots)

    def _assign(self, node: ast.Assign, sc: _Scope) -> None:
        self.visit(node.value, sc)
        roots = _alias_roots(node.value)
        for target in node.targets:
            self._target(target, roots, sc)

    def _annassign(self, node: ast.AnnAssign, sc: _Scope) -> None:
        if node.value is not None:
            self.visit(node.value, sc)
            self._target(node.target, _alias_roots(node.value), sc)
        elif type(node.target) is not ast.Name:
            self.visit(node.target, sc)

    def _augassign(self, node: ast.AugAssign, sc: _Scope) -> None:
        self.visit(node.value, sc)
        target = node.target
        if type(target) is ast.Name:
            sc.reads.add(target.id)
            sc.bind(target.id)
            # x += y on a list changes the object x names, which may be a parameter.
            sc.muts.add(target.id)
        else:
            self.visit(target, sc)
            root = _mut_root(target)
            if root is not None:
                sc.muts.add(root)

    def _delete(self, node: ast.Delete, sc: _Scope) -> None:
        for target in node.targets:
            if type(target) is ast.Name:
                sc.binds.add(target.id)
            else:
                self.visit(target, sc)
                root = _mut_root(target)
                if root is not None:
                    sc.muts.add(root)

    def _for(self, node: ast.For | ast.AsyncFor, sc: _Scope) -> None:
        self.visit(node.iter, sc)
        self._target(node.target, _alias_roots(node.iter), sc)
        for stmt in node.body:
            self.visit(stmt, sc)
        for stmt in node.orelse:
            self.visit(stmt, sc)

    def _with(self, node: ast.With | ast.AsyncWith, sc: _Scope) -> None:
        for item in node.items:
            self.visit(item.context_expr, sc)
            if item.optional_vars is not None:
                self._target(item.optional_vars, _alias_roots(item.context_expr), sc)
        for stmt in node.body:
            self.visit(stmt, sc)

    def _namedexpr(self, node: ast.NamedExpr, sc: _Scope) -> None:
        self.visit(node.value, sc)
        owner = sc.outer if sc.outer is not None else sc
        owner.bind(node.target.id, _alias_roots(node.value))

    def _global(self, node: ast.Global, sc: _Scope) -> None:
        sc.gdecl.update(node.names)

    def _nonlocal(self, node: ast.Nonlocal, sc: _Scope) -> None:
        sc.ndecl.update(node.names)

    def _import(self, node: ast.Import | ast.ImportFrom, sc: _Scope) -> None:
        for alias in node.names:
            if alias.name == "*":
                sc.opaque = True
            else:
                sc.binds.add(alias.asname or alias.name.partition(".")[0])

    def _handler(self, node: ast.ExceptHandler, sc: _Scope) -> None:
        if node.type is not None:
            self.visit(node.type, sc)
        if node.name:
            sc.binds.add(node.name)
        for stmt in node.body:
            self.visit(stmt, sc)

    def _pattern_name(self, node: ast.AST, sc: _Scope) -> None:
        name = getattr(node, "name", None) or getattr(node, "rest", None)
        if name:
            sc.binds.add(name)
        for child in ast.iter_child_nodes(node):
            self.visit(child, sc)

    def _def(self, node: ast.FunctionDef | ast.AsyncFunctionDef, sc: _Scope) -> None:
        self._signature(node, sc)
        sc.binds.add(node.name)
        self.merge(self.closed(node), sc)

    def _lambda(self, node: ast.Lambda, sc: _Scope) -> None:
        self._signature(node, sc)
        self.merge(self.closed(node), sc)

    def _signature(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, sc: _Scope) -> None:
        for dec in getattr(node, "decorator_list", ()):
            self.visit(dec, sc)
        for default in node.args.defaults:
            self.visit(default, sc)
        for default in node.args.kw_defaults:
            if default is not None:
                self.visit(default, sc)

    def _class(self, node: ast.ClassDef, sc: _Scope) -> None:
        for expr in (*node.decorator_list, *node.bases, *(k.value for k in node.keywords)):
            self.visit(expr, sc)
        sc.binds.add(node.name)
        body = _Scope()
        for stmt in node.body:
            self.visit(stmt, body)
        self.merge(_Closed(body, ()), sc)

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp, sc: _Scope) -> None:
        gens = node.generators
        self.visit(gens[0].iter, sc)
        inner = _Scope(outer=sc.outer if sc.outer is not None else sc)
        for k, gen in enumerate(gens):
            if k:
                self.visit(gen.iter, inner)
            self._target(gen.target, _alias_roots(gen.iter), inner)
            for cond in gen.ifs:
                self.visit(cond, inner)
        if type(node) is ast.DictComp:
            self.visit(node.key, inner)
            self.visit(node.value, inner)
        else:
            self.visit(node.elt, inner)
        self.merge(_Closed(inner, ()), sc)

    def _call(self, node: ast.Call, sc: _Scope) -> None:
        func = node.func
        self.visit(func, sc)
        for arg in node.args:
            self.visit(arg, sc)
        for kw in node.keywords:
            self.visit(kw.value, sc)
        ftype = type(func)
        if ftype is ast.Name:
            callee, shift, last = func.id, 0, func.id
            if last in _OPAQUE_CALLS or (last in _NAMESPACE_CALLS and not node.args):
                sc.opaque = True
        elif ftype is ast.Attribute:
            callee, shift, last = "." + func.attr, 1, func.attr
            receiver = _mut_root(func.value)
            if _is_mutating_method(func.attr, node):
                if receiver is not None:
                    sc.muts.add(receiver)
            if receiver is not None:
                sc.fwd.add((callee, 0, receiver))
            if _is_get_ipython(func.value) and func.attr not in ("system", "getoutput"):
                sc.opaque = True
        else:
            return
        sc.calls.add(callee)
        for pos, roots in _call_args(node):
            if isinstance(pos, int):
                pos += shift
            for root in roots:
                sc.fwd.add((callee, pos, root))
        for index in _MUTATING_FUNCTIONS.get(last, ()):
            if index < len(node.args):
                root = _mut_root(node.args[index])
                if root is not None:
                    sc.muts.add(root)
        for kw in node.keywords:
            if kw.arg == "file" and last == "print":
                root = _mut_root(kw.value)
                if root is not None:
                    sc.muts.add(root)


def _is_get_ipython(expr: ast.expr) -> bool:
    return type(expr) is ast.Call and type(expr.func) is ast.Name and expr.func.id == "get_ipython"


def _is_mutating_method(attr: str, call: ast.Call) -> bool:
    if attr in MUTATING_METHODS:
        return True
    if attr.endswith("_") and not attr.startswith("_"):
        return True  # torch-style in-place methods: x.add_(1), w.zero_()
    if attr.startswith(_MUTATING_PREFIXES) and attr not in _NON_MUTATING:
        return True
    for kw in call.keywords:
        if kw.arg == "inplace" and not (type(kw.value) is ast.Constant and not kw.value.value):
            return True
    return False


def _call_args(node: ast.Call) -> list[tuple[Position, list[str]]]:
    """Each argument's position and the raw names it may alias."""
    out: list[tuple[Position, list[str]]] = []
    starred = False
    for i, arg in enumerate(node.args):
        if type(arg) is ast.Starred:
            starred = True
            out.append(("*", _alias_roots(arg.value)))
        else:
            out.append(("*" if starred else i, _alias_roots(arg)))
    for kw in node.keywords:
        out.append((kw.arg if kw.arg is not None else "**", _alias_roots(kw.value)))
    return out


_SCAN: dict[type, Callable[[_FunctionScanner, ast.AST, _Scope], None]] = {
    ast.Name: _FunctionScanner._name,
    ast.Assign: _FunctionScanner._assign,
    ast.AnnAssign: _FunctionScanner._annassign,
    ast.AugAssign: _FunctionScanner._augassign,
    ast.Delete: _FunctionScanner._delete,
    ast.For: _FunctionScanner._for,
    ast.AsyncFor: _FunctionScanner._for,
    ast.With: _FunctionScanner._with,
    ast.AsyncWith: _FunctionScanner._with,
    ast.NamedExpr: _FunctionScanner._namedexpr,
    ast.Global: _FunctionScanner._global,
    ast.Nonlocal: _FunctionScanner._nonlocal,
    ast.Import: _FunctionScanner._import,
    ast.ImportFrom: _FunctionScanner._import,
    ast.ExceptHandler: _FunctionScanner._handler,
    ast.MatchAs: _FunctionScanner._pattern_name,
    ast.MatchStar: _FunctionScanner._pattern_name,
    ast.MatchMapping: _FunctionScanner._pattern_name,
    ast.FunctionDef: _FunctionScanner._def,
    ast.AsyncFunctionDef: _FunctionScanner._def,
    ast.Lambda: _FunctionScanner._lambda,
    ast.ClassDef: _FunctionScanner._class,
    ast.ListComp: _FunctionScanner._comprehension,
    ast.SetComp: _FunctionScanner._comprehension,
    ast.GeneratorExp: _FunctionScanner._comprehension,
    ast.DictComp: _FunctionScanner._comprehension,
    ast.Call: _FunctionScanner._call,
}


def _shift_keys(keys: Iterable[Position], self_name: str | None) -> set[Position]:
    """Parameter keys of a method as seen by a caller that does not pass ``self``."""
    out: set[Position] = set()
    for key in keys:
        if isinstance(key, int):
            if key >= 1:
                out.add(key - 1)
        elif key != self_name:
            out.add(key)
    return out


def _class_facts(methods: Mapping[str, FunctionFacts]) -> FunctionFacts:
    """Facts of instantiating a class: its ``__init__`` plus, to be safe, every method's reads."""
    init = methods.get("__init__")
    mparams: set[Position] = set()
    fparams: set[tuple[str, Position, tuple[Position, ...]]] = set()
    params: tuple[str, ...] = ()
    if init is not None:
        self_name = init.params[0] if init.params else None
        params = init.params[1:]
        mparams = _shift_keys(init.mutates_params, self_name)
        for callee, pos, keys in init.forwards_params:
            shifted = tuple(_shift_keys(keys, self_name))
            if shifted:
                fparams.add((callee, pos, shifted))
    return FunctionFacts(
        reads_globals=frozenset().union(*(m.reads_globals for m in methods.values())),
        writes_globals=frozenset().union(*(m.writes_globals for m in methods.values())),
        mutates_params=frozenset(mparams),
        mutates_globals=frozenset().union(*(m.mutates_globals for m in methods.values())),
        params=params,
        calls=frozenset().union(*(m.calls for m in methods.values())),
        forwards_params=frozenset(fparams),
        forwards_globals=frozenset().union(*(m.forwards_globals for m in methods.values())),
        opaque=any(m.opaque for m in methods.values()),
    )


class FactsClosure:
    """Closes function facts over one fixed table of user functions and methods.

    Calling ``f`` may run every function reachable from it, so its reads and global
    writes are the union over that reachable set; a parameter of ``f`` is mutated when
    ``f`` passes it to a callee that mutates the matching parameter (a fixpoint).
    Work is shared between calls and grows with the part of the table actually used.
    """

    def __init__(
        self, functions: Mapping[str, FunctionFacts], methods: Mapping[str, Sequence[FunctionFacts]]
    ) -> None:
        self._functions = functions
        self._methods = methods
        self._order: list[FunctionFacts] = []
        self._index: dict[int, int] = {}
        self._resolved: dict[str, tuple[int, ...]] = {}
        self._calls: list[tuple[int, ...]] = []
        self._fparams: list[list[tuple[tuple[int, ...], Position, tuple[Position, ...]]]] = []
        self._fglobals: list[list[tuple[tuple[int, ...], Position, str]]] = []
        self._mparams: list[set[Position]] = []
        # target -> (caller, entry) forwarding entries that have not fired yet
        self._waiting: dict[int, list[tuple[int, int]]] = {}
        self._fired: list[set[int]] = []
        self._matched: dict[int, frozenset[str]] = {}
        self._results: dict[int, FunctionFacts] = {}
        self._pending: list[int] = []

    def close(self, facts: FunctionFacts) -> FunctionFacts:
        """``facts`` with the effects of everything it may call folded in."""
        done = self._results.get(id(facts))
        if done is not None:
            return done
        root = self._add(facts)
        self._discover()
        self._propagate()
        seen = {root}
        stack = [root]
        while stack:
            for g in self._calls[stack.pop()]:
                if g not in seen:
                    seen.add(g)
                    stack.append(g)
        if len(seen) == 1 and not self._fparams[root] and not self._fglobals[root]:
            self._results[id(facts)] = facts
            return facts
        reads: set[str] = set()
        writes: set[str] = set()
        mglobals: set[str] = set()
        for k in seen:
            f = self._order[k]
            reads |= f.reads_globals
            writes |= f.writes_globals
            mglobals |= f.mutates_globals
            mglobals |= self._matched_globals(k)
        result = facts._replace(
            reads_globals=frozenset(reads),
            writes_globals=frozenset(writes),
            mutates_globals=frozenset(mglobals - writes),
            mutates_params=frozenset(self._mparams[root]),
        )
        self._results[id(facts)] = result
        return result

    def depends_on(self, name: str) -> bool:
        """Whether a result may change when ``name`` (``".m"`` for methods) is rebound."""
        return name in self._resolved

    def _add(self, facts: FunctionFacts) -> int:
        k = self._index.get(id(facts))
        if k is None:
            k = self._index[id(facts)] = len(self._order)
            self._order.append(facts)
            self._mparams.append(set(facts.mutates_params))
            self._fired.append(set())
            if facts.mutates_params:
                self._pending.append(k)
        return k

    def _targets(self, name: str) -> tuple[int, ...]:
        found = self._resolved.get(name)
        if found is None:
            if name.startswith("."):
                candidates: Sequence[FunctionFacts] = self._methods.get(name[1:], ())
            else:
                one = self._functions.get(name)
                candidates = (one,) if one is not None else ()
            found = self._resolved[name] = tuple(self._add(g) for g in candidates)
        return found

    def _discover(self) -> None:
        """Resolve the callees of every node added since the last call."""
        while len(self._calls) < len(self._order):
            k = len(self._calls)
            facts = self._order[k]
            self._calls.append(tuple({g for name in facts.calls for g in self._targets(name)} - {k}))
            entries = [(t, pos, keys) for c, pos, keys in facts.forwards_params if (t := self._targets(c))]
            self._fparams.append(entries)
            self._fglobals.append(
                [(t, pos, name) for c, pos, name in facts.forwards_globals if (t := self._targets(c))]
            )
            for e, (t, pos, keys) in enumerate(entries):
                for g in t:
                    self._waiting.setdefault(g, []).append((k, e))
                    if g < k and self._mparams[g] and positions_match(pos, self._mparams[g]):
                        self._fire(k, e)

    def _fire(self, k: int, e: int) -> None:
        if e in self._fired[k]:
            return
        self._fired[k].add(e)
        before = len(self._mparams[k])
        self._mparams[k].update(self._fparams[k][e][2])
        if len(self._mparams[k]) != before:
            self._pending.append(k)

    def _propagate(self) -> None:
        """Worklist: when a node's mutated parameters grow, re-check entries that forward to it."""
        while self._pending:
            g = self._pending.pop()
            for k, e in self._waiting.get(g, ()):
                if e not in self._fired[k] and positions_match(self._fparams[k][e][1], self._mparams[g]):
                    self._fire(k, e)

    def _matched_globals(self, k: int) -> frozenset[str]:
        found = self._matched.get(k)
        if found is None:
            found = frozenset(
                name
                for t, pos, name in self._fglobals[k]
                if any(self._mparams[g] and positions_match(pos, self._mparams[g]) for g in t)
            )
            self._matched[k] = found
        return found


def close_facts(
    root: FunctionFacts,
    functions: Mapping[str, FunctionFacts],
    methods: Mapping[str, Sequence[FunctionFacts]],
) -> FunctionFacts:
    """Fold into ``root`` the reads and changes of the user functions and methods it calls."""
    return FactsClosure(functions, methods).close(root)


# --------------------------------------------------------------------------- top level


class _ClassScope(dict):
    """Names bound in a class body (they shadow top-level names inside it)."""

    def __init__(self) -> None:
        super().__init__()
        self.methods: dict[str, FunctionFacts] = {}


class _CompScope(dict):
    """Names bound by comprehension targets, mapped to the top-level names they alias."""


_TOP: Mapping[str, tuple[str, ...]] = MappingProxyType({})
_Local = Mapping[str, tuple[str, ...]]


class _CellWalker:
    """Walks a cell's top-level code in evaluation order and emits :class:`NodeInfo`."""

    def __init__(self) -> None:
        self.nodes: list[NodeInfo] = []
        self.stmt = 0
        self.opaque = False
        self.files_written: list[str] = []
        self.files_read: list[str] = []
        self.defs: dict[str, tuple[FunctionFacts, dict[str, FunctionFacts]]] = {}
        self.scanner = _FunctionScanner()

    def run(self, tree: ast.Module) -> CellAnalysis:
        stmt_lines = []
        for index, stmt in enumerate(tree.body):
            self.stmt = index
            start = stmt.lineno
            for dec in getattr(stmt, "decorator_list", ()):
                start = min(start, dec.lineno)
            stmt_lines.append((start, stmt.end_lineno or stmt.lineno))
            self.statement(stmt, _TOP)
        return self.result(tuple(stmt_lines))

    def result(self, stmt_lines: tuple[tuple[int, int], ...]) -> CellAnalysis:
        functions: dict[str, FunctionFacts] = {}
        methods: dict[str, list[FunctionFacts]] = {}
        for name, (facts, own) in self.defs.items():
            functions[name] = facts
            for mname, mfacts in own.items():
                functions[f"{name}.{mname}"] = mfacts
                methods.setdefault(mname, []).append(mfacts)
        closure = FactsClosure(functions, methods)
        closed = {name: closure.close(f) for name, f in functions.items()}
        nodes = tuple(self.nodes)
        return CellAnalysis(
            nodes=nodes,
            ok=True,
            error=None,
            stmt_lines=stmt_lines,
            opaque=self.opaque,
            functions=MappingProxyType(closed),
            files_written=_dedupe(self.files_written),
            files_read=_dedupe(self.files_read),
            defines=frozenset(n.name for n in nodes if n.kind in ("definition", "import")),
            reads=frozenset(n.name for n in nodes if n.kind == "lookup"),
            mutates=frozenset(n.name for n in nodes if n.kind == "mutation"),
        )

    # -- emission

    def emit(
        self,
        kind: str,
        name: str,
        pos: ast.AST,
        module: str | None = None,
        args: tuple[str, ...] = (),
        arg_positions: tuple[Position, ...] = (),
        deleted: bool = False,
    ) -> None:
        lineno = pos.lineno
        col = pos.col_offset
        end_lineno = pos.end_lineno
        end_col = pos.end_col_offset
        self.nodes.append(
            NodeInfo(
                kind, name, lineno, col,
                end_lineno if end_lineno is not None else lineno,
                end_col if end_col is not None else col,
                self.stmt, module, args, arg_positions, deleted,
            )
        )

    def define(self, name: str, roots: Iterable[str], pos: ast.AST) -> None:
        self.defs.pop(name, None)
        self.emit("definition", name, pos, args=_dedupe(roots))

    def resolve(self, names: Iterable[str], local: _Local) -> list[str]:
        """Map raw names to top-level names (comprehension and class locals to what they alias)."""
        out: list[str] = []
        for name in names:
            if name in local:
                out.extend(local[name])
            else:
                out.append(name)
        return out

    def mutate(self, root: str | None, pos: ast.AST, local: _Local, roots: Iterable[str] = ()) -> None:
        if root is None:
            return
        stored = _dedupe(self.resolve(roots, local))
        for name in _dedupe(self.resolve((root,), local)):
            self.emit("mutation", name, pos, args=stored)

    def bind_name(self, name: str, roots: list[str], pos: ast.AST, local: _Local) -> None:
        resolved = self.resolve(roots, local)
        if isinstance(local, _ClassScope):
            local[name] = tuple(resolved)
        else:
            self.define(name, resolved, pos)

    # -- statements

    def statement(self, node: ast.stmt, local: _Local) -> None:
        handler = _STMT.get(type(node))
        if handler is not None:
            handler(self, node, local)
        else:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    self.statement(child, local)
                else:
                    self.expr(child, local)

    def body(self, stmts: list[ast.stmt], local: _Local) -> None:
        for stmt in stmts:
            self.statement(stmt, local)

    def target(self, target: ast.expr, roots: list[str], local: _Local) -> None:
        t = type(target)
        if t is ast.Name:
            self.bind_name(target.id, roots, target, local)
        elif t is ast.Tuple or t is ast.List:
            for elt in target.elts:
                self.target(elt, roots, local)
        elif t is ast.Starred:
            self.target(target.value, roots, local)
        elif t is ast.Attribute or t is ast.Subscript:
            self.mutate(self.chain_inner(target, local), target, local, roots)
        else:
            self.expr(target, local)

    def chain_inner(self, expr: ast.expr, local: _Local) -> str | None:
        """Visit the parts of ``a[i].b(c)`` other than its root name; return that root."""
        node = expr
        while True:
            t = type(node)
            if t is ast.Attribute:
                node = node.value
            elif t is ast.Subscript:
                self.expr(node.slice, local)
                node = node.value
            elif t is ast.Call and type(node.func) is ast.Attribute:
                self.call_arguments(node, local)
                node = node.func.value
            elif t is ast.Name:
                return node.id
            else:
                self.expr(node, local)
                return _mut_root(node)

    def _s_expr(self, node: ast.Expr, local: _Local) -> None:
        self.expr(node.value, local)

    def _s_assign(self, node: ast.Assign, local: _Local) -> None:
        value = node.value
        named_lambda = type(value) is ast.Lambda and len(node.targets) == 1 and type(node.targets[0]) is ast.Name
        if named_lambda:
            self.signature(value, local)  # its body runs when called, like a def's
        else:
            self.expr(value, local)
        roots = _alias_roots(value)
        for target in node.targets:
            self.target(target, roots, local)
            if len(node.targets) > 1:
                # a = b = [] : later targets name the same object as earlier ones.
                roots = roots + _alias_roots(target)
        if named_lambda:
            facts = self.scanner.facts(value)
            if isinstance(local, _ClassScope):
                local.methods[node.targets[0].id] = facts
            elif local is _TOP:
                self.defs[node.targets[0].id] = (facts, {})

    def _s_annassign(self, node: ast.AnnAssign, local: _Local) -> None:
        self.expr(node.annotation, local)
        if node.value is not None:
            self.expr(node.value, local)
            self.target(node.target, _alias_roots(node.value), local)
        elif type(node.target) is not ast.Name:
            self.expr(node.target, local)

    def _s_augassign(self, node: ast.AugAssign, local: _Local) -> None:
        target = node.target
        if type(target) is ast.Name:
            name = target.id
            if isinstance(local, _ClassScope) and name in local:
                self.mutate(name, target, local)
                self.expr(node.value, local)
                return
            # x += v reads x, may change its object in place, and rebinds x.
            self.emit("mutation", name, target)
            self.expr(node.value, local)
            if isinstance(local, _ClassScope):
                local[name] = (name,)
            else:
                self.define(name, (name,), target)
        else:
            root = self.chain_inner(target, local)
            self.expr(node.value, local)
            self.mutate(root, target, local, _alias_roots(node.value))

    def _s_delete(self, node: ast.Delete, local: _Local) -> None:
        for target in node.targets:
            self._delete_target(target, local)

    def _delete_target(self, target: ast.expr, local: _Local) -> None:
        t = type(target)
        if t is ast.Name:
            if isinstance(local, _ClassScope):
                local.pop(target.id, None)
            else:
                self.defs.pop(target.id, None)
                self.emit("mutation", target.id, target, deleted=True)
        elif t is ast.Tuple or t is ast.List:
            for elt in target.elts:
                self._delete_target(elt, local)
        else:
            self.mutate(self.chain_inner(target, local), target, local)

    def _s_import(self, node: ast.Import, local: _Local) -> None:
        for alias in node.names:
            name = alias.asname or alias.name.partition(".")[0]
            if isinstance(local, _ClassScope):
                local[name] = ()
                continue
            self.defs.pop(name, None)
            self.emit("import", name, alias, module=alias.name)

    def _s_importfrom(self, node: ast.ImportFrom, local: _Local) -> None:
        module = "." * node.level + (node.module or "")
        for alias in node.names:
            if alias.name == "*":
                self.opaque = True
                self.emit("import", "*", alias, module=module)
                continue
            name = alias.asname or alias.name
            if isinstance(local, _ClassScope):
                local[name] = ()
                continue
            self.defs.pop(name, None)
            self.emit("import", name, alias, module=module)

    def signature(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, local: _Local) -> None:
        for dec in getattr(node, "decorator_list", ()):
            self.expr(dec, local)
        args = node.args
        for default in args.defaults:
            self.expr(default, local)
        for default in args.kw_defaults:
            if default is not None:
                self.expr(default, local)
        if isinstance(node, ast.Lambda):
            return
        # Annotations are evaluated when the def runs (unless postponed; reading them is harmless).
        for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
            if arg is not None and arg.annotation is not None:
                self.expr(arg.annotation, local)
        if node.returns is not None:
            self.expr(node.returns, local)

    def _s_def(self, node: ast.FunctionDef | ast.AsyncFunctionDef, local: _Local) -> None:
        self.signature(node, local)
        facts = self.scanner.facts(node)
        if isinstance(local, _ClassScope):
            local[node.name] = ()
            local.methods[node.name] = _method_facts(node, facts)
            return
        self.define(node.name, (), node)
        self.defs[node.name] = (facts, {})

    def _s_class(self, node: ast.ClassDef, local: _Local) -> None:
        for expr in (*node.decorator_list, *node.bases):
            self.expr(expr, local)
        for kw in node.keywords:
            self.expr(kw.value, local)
        scope = _ClassScope()
        self.body(node.body, scope)
        if isinstance(local, _ClassScope):
            local[node.name] = ()
            return
        self.define(node.name, (), node)
        self.defs[node.name] = (_class_facts(scope.methods), scope.methods)

    def _s_for(self, node: ast.For | ast.AsyncFor, local: _Local) -> None:
        self.expr(node.iter, local)
        self.target(node.target, _alias_roots(node.iter), local)
        self.body(node.body, local)
        self.body(node.orelse, local)

    def _s_while(self, node: ast.While, local: _Local) -> None:
        self.expr(node.test, local)
        self.body(node.body, local)
        self.body(node.orelse, local)

    def _s_if(self, node: ast.If, local: _Local) -> None:
        self.expr(node.test, local)
        self.body(node.body, local)
        self.body(node.orelse, local)

    def _s_with(self, node: ast.With | ast.AsyncWith, local: _Local) -> None:
        for item in node.items:
            self.expr(item.context_expr, local)
            if item.optional_vars is not None:
                self.target(item.optional_vars, _alias_roots(item.context_expr), local)
        self.body(node.body, local)

    def _s_try(self, node: ast.Try, local: _Local) -> None:
        self.body(node.body, local)
        for handler in node.handlers:
            if handler.type is not None:
                self.expr(handler.type, local)
            if handler.name:
                self.bind_name(handler.name, [], handler, local)
            self.body(handler.body, local)
        self.body(node.orelse, local)
        self.body(node.finalbody, local)

    def _s_global(self, node: ast.Global, local: _Local) -> None:
        if local is _TOP:
            for name in node.names:
                self.emit("global", name, node)

    def _s_match(self, node: ast.Match, local: _Local) -> None:
        self.expr(node.subject, local)
        roots = _alias_roots(node.subject)
        for case in node.cases:
            self.pattern(case.pattern, roots, local)
            if case.guard is not None:
                self.expr(case.guard, local)
            self.body(case.body, local)

    def pattern(self, node: ast.pattern, roots: list[str], local: _Local) -> None:
        t = type(node)
        if t is ast.MatchValue:
            self.expr(node.value, local)
            return
        if t is ast.MatchClass:
            self.expr(node.cls, local)
        elif t is ast.MatchMapping:
            for key in node.keys:
                self.expr(key, local)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.pattern):
                self.pattern(child, roots, local)
        name = getattr(node, "name", None) if t in (ast.MatchAs, ast.MatchStar) else getattr(node, "rest", None)
        if name:
            self.bind_name(name, roots, node, local)

    def _s_typealias(self, node: ast.AST, local: _Local) -> None:
        self.expr(node.value, local)  # type: ignore[attr-defined]
        name = node.name  # type: ignore[attr-defined]
        if type(name) is ast.Name:
            self.bind_name(name.id, [], name, local)

    # -- expressions

    def expr(self, node: ast.AST, local: _Local) -> None:
        handler = _EXPR.get(type(node))
        if handler is not None:
            handler(self, node, local)
            return
        for child in ast.iter_child_nodes(node):
            self.expr(child, local)

    def _e_name(self, node: ast.Name, local: _Local) -> None:
        if type(node.ctx) is ast.Load and node.id not in local:
            self.emit("lookup", node.id, node)

    def _e_nothing(self, node: ast.AST, local: _Local) -> None:
        return

    def _e_attribute(self, node: ast.Attribute, local: _Local) -> None:
        self.expr(node.value, local)

    def _e_subscript(self, node: ast.Subscript, local: _Local) -> None:
        self.expr(node.value, local)
        self.expr(node.slice, local)

    def _e_binop(self, node: ast.BinOp, local: _Local) -> None:
        self.expr(node.left, local)
        self.expr(node.right, local)

    def _e_elts(self, node: ast.Tuple | ast.List | ast.Set, local: _Local) -> None:
        for elt in node.elts:
            self.expr(elt, local)

    def _e_namedexpr(self, node: ast.NamedExpr, local: _Local) -> None:
        self.expr(node.value, local)
        roots = self.resolve(_alias_roots(node.value), local)
        if isinstance(local, _ClassScope):
            local[node.target.id] = tuple(roots)
        else:
            # Inside a comprehension the walrus still binds at top level.
            self.define(node.target.id, roots, node.target)

    def _e_lambda(self, node: ast.Lambda, local: _Local) -> None:
        self.signature(node, local)
        # An anonymous lambda is usually called right away (key=, apply, map).
        for name in sorted(self.scanner.closed(node).reads):
            if name not in local:
                self.emit("lookup", name, node)

    def _e_comprehension(
        self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp, local: _Local
    ) -> None:
        gens = node.generators
        self.expr(gens[0].iter, local)
        # Class-body names are invisible inside a comprehension; enclosing comprehension names are not.
        inner = _CompScope(local) if isinstance(local, _CompScope) else _CompScope()
        for k, gen in enumerate(gens):
            outer = local if k == 0 else inner
            if k:
                self.expr(gen.iter, inner)
            roots = tuple(self.resolve(_alias_roots(gen.iter), outer))
            self._comp_target(gen.target, roots, inner)
            for cond in gen.ifs:
                self.expr(cond, inner)
        if type(node) is ast.DictComp:
            self.expr(node.key, inner)
            self.expr(node.value, inner)
        else:
            self.expr(node.elt, inner)

    def _comp_target(self, target: ast.expr, roots: tuple[str, ...], inner: _CompScope) -> None:
        t = type(target)
        if t is ast.Name:
            inner[target.id] = roots
        elif t is ast.Tuple or t is ast.List:
            for elt in target.elts:
                self._comp_target(elt, roots, inner)
        elif t is ast.Starred:
            self._comp_target(target.value, roots, inner)
        else:
            self.target(target, list(roots), inner)

    def call_arguments(self, node: ast.Call, local: _Local) -> None:
        for arg in node.args:
            self.expr(arg, local)
        for kw in node.keywords:
            self.expr(kw.value, local)

    def _e_call(self, node: ast.Call, local: _Local) -> None:
        func = node.func
        if type(func) is ast.Attribute and _is_get_ipython(func.value):
            self.call_arguments(node, local)
            self.magic(node, func.attr, local)
            return
        self.expr(func, local)
        self.call_arguments(node, local)
        names: list[str] = []
        positions: list[Position] = []
        for pos, raw in _call_args(node):
            for name in _dedupe(self.resolve(raw, local)):
                names.append(name)
                positions.append(pos)
        _, display = _display(func)
        self.emit("call", display, node, args=tuple(names), arg_positions=tuple(positions))
        ftype = type(func)
        if ftype is ast.Attribute:
            last = func.attr
            if _is_mutating_method(last, node):
                stored: list[str] = []
                if last in _STORING_METHODS:
                    for arg in node.args:
                        stored.extend(_alias_roots(arg))
                self.mutate(_mut_root(func.value), node, local, stored)
        elif ftype is ast.Name:
            last = func.id
            if last in _OPAQUE_CALLS or (last in _NAMESPACE_CALLS and not node.args):
                self.opaque = True
        else:
            return
        for index in _MUTATING_FUNCTIONS.get(last, ()):
            if index < len(node.args):
                self.mutate(_mut_root(node.args[index]), node, local)
        if last == "print":
            for kw in node.keywords:
                if kw.arg == "file":
                    self.mutate(_mut_root(kw.value), node, local)

    def magic(self, node: ast.Call, method: str, local: _Local) -> None:
        """Record a transformed magic: ``get_ipython().run_line_magic('run', 'x.py')``."""
        if method in ("system", "getoutput", "set_next_input"):
            self.emit("call", f"get_ipython().{method}", node)
            return
        self.opaque = True
        args = node.args
        name = _const_str(args[0]) if args else None
        line = _const_str(args[1]) if len(args) > 1 else None
        if method == "run_line_magic" and name is not None:
            self.emit("call", "%" + name, node)
            if name == "run" and line is not None:
                path = _magic_target(line)
                if path is not None:
                    self.files_read.append(path)
                    self.emit("lookup", "file:" + path, node)
            elif name in _CODE_LINE_MAGICS and line is not None:
                code = _MAGIC_OPTION.sub("", line, count=1) if name == "timeit" else line
                self.nested(code, node)
        elif method == "run_cell_magic" and name is not None:
            self.emit("call", "%%" + name, node)
            body = _const_str(args[2]) if len(args) > 2 else None
            if name == "writefile" and line is not None:
                path = _magic_target(line)
                if path is not None:
                    self.files_written.append(path)
                    self.define("file:" + path, (), node)
            elif name in _CODE_CELL_MAGICS and body is not None:
                if name == "capture" and line is not None:
                    target = _magic_target(line)
                    if target is not None and target.isidentifier():
                        self.define(target, (), node)
                elif name == "timeit" and line:
                    self.nested(_MAGIC_OPTION.sub("", line, count=1), node)
                self.nested(body, node)
        else:
            self.emit("call", f"get_ipython().{method}", node)

    def nested(self, code: str, at: ast.AST) -> None:
        """Fold in the analysis of Python code that a magic runs in the user namespace."""
        inner = analyze_cell(code)
        if not inner.ok:
            return
        self.opaque |= inner.opaque
        self.files_read.extend(inner.files_read)
        self.files_written.extend(inner.files_written)
        for n in inner.nodes:
            if n.kind in ("definition", "import") or (n.kind == "mutation" and n.deleted):
                self.defs.pop(n.name, None)
            self.emit(n.kind, n.name, at, n.module, n.args, n.arg_positions, n.deleted)
        for name, facts in inner.functions.items():
            if "." not in name:
                methods = {k.partition(".")[2]: v for k, v in inner.functions.items() if k.startswith(name + ".")}
                self.defs[name] = (facts, methods)


def _method_facts(node: ast.FunctionDef | ast.AsyncFunctionDef, facts: FunctionFacts) -> FunctionFacts:
    """Facts of a method as called on an instance: static methods get no ``self`` slot."""
    for dec in node.decorator_list:
        if type(dec) is ast.Name and dec.id == "staticmethod":
            return facts._replace(
                params=("",) + facts.params,
                mutates_params=frozenset(k + 1 if isinstance(k, int) else k for k in facts.mutates_params),
            )
    return facts


_STMT: dict[type, Callable[[_CellWalker, ast.AST, _Local], None]] = {
    ast.Expr: _CellWalker._s_expr,
    ast.Assign: _CellWalker._s_assign,
    ast.AnnAssign: _CellWalker._s_annassign,
    ast.AugAssign: _CellWalker._s_augassign,
    ast.Delete: _CellWalker._s_delete,
    ast.Import: _CellWalker._s_import,
    ast.ImportFrom: _CellWalker._s_importfrom,
    ast.FunctionDef: _CellWalker._s_def,
    ast.AsyncFunctionDef: _CellWalker._s_def,
    ast.ClassDef: _CellWalker._s_class,
    ast.For: _CellWalker._s_for,
    ast.AsyncFor: _CellWalker._s_for,
    ast.While: _CellWalker._s_while,
    ast.If: _CellWalker._s_if,
    ast.With: _CellWalker._s_with,
    ast.AsyncWith: _CellWalker._s_with,
    ast.Try: _CellWalker._s_try,
    ast.Global: _CellWalker._s_global,
    ast.Match: _CellWalker._s_match,
}
for _name in ("TryStar",):
    if hasattr(ast, _name):
        _STMT[getattr(ast, _name)] = _CellWalker._s_try
if hasattr(ast, "TypeAlias"):
    _STMT[ast.TypeAlias] = _CellWalker._s_typealias

_EXPR: dict[type, Callable[[_CellWalker, ast.AST, _Local], None]] = {
    ast.Name: _CellWalker._e_name,
    ast.Constant: _CellWalker._e_nothing,
    ast.Attribute: _CellWalker._e_attribute,
    ast.Subscript: _CellWalker._e_subscript,
    ast.BinOp: _CellWalker._e_binop,
    ast.Tuple: _CellWalker._e_elts,
    ast.List: _CellWalker._e_elts,
    ast.Set: _CellWalker._e_elts,
    ast.Call: _CellWalker._e_call,
    ast.NamedExpr: _CellWalker._e_namedexpr,
    ast.Lambda: _CellWalker._e_lambda,
    ast.ListComp: _CellWalker._e_comprehension,
    ast.SetComp: _CellWalker._e_comprehension,
    ast.GeneratorExp: _CellWalker._e_comprehension,
    ast.DictComp: _CellWalker._e_comprehension,
    ast.Load: _CellWalker._e_nothing,
    ast.Store: _CellWalker._e_nothing,
}


# --------------------------------------------------------------------------- entry point


def _analyze(source: str, tree: ast.Module | None) -> CellAnalysis:
    if len(source) > MAX_SOURCE_CHARS:
        return _failed(f"source too large to analyse ({len(source)} characters)")
    if tree is None:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError) as err:
            return _failed(f"{type(err).__name__}: {err}")
    try:
        return _CellWalker().run(tree)
    except RecursionError:
        return _failed("RecursionError: the code is nested too deeply to analyse")


# Analyses of recent sources, oldest first: a cell run again is not analysed again.
_cache: dict[str, CellAnalysis] = {}
_cache_lock = threading.Lock()


def remember_analyses(analyses: Mapping[str, CellAnalysis]) -> None:
    """Keep analyses made elsewhere of sources about to run (a launcher's, of a notebook's cells).

    An analysis depends on nothing but the source's text, so one made by
    another process of the same Python and the same ``lineage_magic`` is the
    one ``analyze_cell`` would make: it answers from them.
    """
    taken = 0
    with _cache_lock:
        for source, analysis in analyses.items():
            if taken == CACHE_SIZE:
                break  # the first cells are the ones needed first
            if (isinstance(source, str) and len(source) <= CACHE_SOURCE_CHARS
                    and type(analysis) is CellAnalysis and source not in _cache):
                _cache[source] = analysis
                taken += 1
        while len(_cache) > CACHE_SIZE:
            del _cache[next(iter(_cache))]


def analyze_cell(source: str, tree: ast.Module | None = None, *, keep: bool = True) -> CellAnalysis:
    """Analyse one cell's (IPython-transformed) source; never raises.

    ``tree``: ``source`` already parsed (IPython's own parse of the cell), so
    that it is not parsed twice. It is only read, never changed. ``keep``:
    look the source up in this process's cache and keep the analysis there;
    False for analyses made for another process (``recorder.ahead``).
    """
    if not isinstance(source, str):
        return _failed(f"TypeError: source must be str, not {type(source).__name__}")
    try:
        if not keep or len(source) > CACHE_SOURCE_CHARS:
            return _analyze(source, tree)
        with _cache_lock:
            found = _cache.pop(source, None)
        if found is None:
            found = _analyze(source, tree)
        with _cache_lock:
            _cache[source] = found  # the most recent last
            if len(_cache) > CACHE_SIZE:
                del _cache[next(iter(_cache))]
        return found
    except Exception as err:  # the recorder must never break a cell: report, don't raise
        logger.warning("lineage analysis failed: %s: %s", type(err).__name__, err, exc_info=True)
        return _failed(f"{type(err).__name__}: {err}")
