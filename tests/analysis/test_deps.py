"""Cross-cell dependencies: which earlier cells each cell execution depends on."""

from __future__ import annotations

from typing import Any

import pytest

from lineage_magic.analysis import CellDeps, DependencyTracker, EdgeInfo, analyze_cell


class C:
    """A cell in a case table, with the runtime facts the recorder would pass."""

    def __init__(self, source: str, **options: Any) -> None:
        self.source = source
        self.options = options


def run_cells(cells: list[str | C]) -> tuple[DependencyTracker, list[CellDeps]]:
    tracker = DependencyTracker()
    out = []
    for index, cell in enumerate(cells):
        cell = cell if isinstance(cell, C) else C(cell)
        out.append(tracker.process(index, analyze_cell(cell.source), **cell.options))
    return tracker, out


WRITEFILE = "get_ipython().run_cell_magic('writefile', 'script.py', 'x = 1\\n')"
RUN = "get_ipython().run_line_magic('run', 'script.py')"

CASES = [
    # plain reads
    pytest.param(["x = 1", "y = x"], [[], [0]], id="read"),
    pytest.param(["x = 1", "print(x)"], [[], [0]], id="read-in-call"),
    pytest.param(["x = 1", "y = 2"], [[], []], id="independent"),
    pytest.param(["print(len([]))"], [[]], id="builtins-only"),
    pytest.param(["a = 1", "b = 2", "c = a + b"], [[], [], [0, 1]], id="two-parents"),
    pytest.param(["a = 1", "b = a", "c = b"], [[], [0], [1]], id="chain-not-transitive"),
    pytest.param(["print(undefined)"], [[]], id="undefined-name"),
    pytest.param(["d = {}", "k = 'a'", "v = d.get(k)"], [[], [], [0, 1]], id="method-read"),
    # redefinition and re-runs
    pytest.param(["x = 1", "x = 2", "y = x"], [[], [], [1]], id="redefinition"),
    pytest.param(["x = 1", "x = x + 1", "y = x"], [[], [0], [1]], id="self-referencing"),
    pytest.param(["x = 0", "x = x + 1", "x = x + 1", "y = x"], [[], [0], [1], [2]], id="rerun-same-source"),
    pytest.param(
        ["a = 1", "b = a * 2", "a = 5", "b = a * 2", "print(b)"], [[], [0], [], [2], [3]], id="rerun-after-upstream"
    ),
    pytest.param(["x = 1\ny = x", "print(y)"], [[], [0]], id="intra-cell-read"),
    pytest.param(["x = 1", "x = 2\nprint(x)"], [[], []], id="intra-cell-shadows-earlier"),
    pytest.param(["a = 1\nb = 2", "a, b = b, a", "print(a)"], [[], [0], [1]], id="tuple-swap"),
    # mutation forms
    pytest.param(["lst = []", "lst.append(1)", "print(lst)"], [[], [0], [1]], id="append"),
    pytest.param(["d = {}", "d['k'] = 1", "v = d['k']"], [[], [0], [1]], id="setitem"),
    pytest.param(["class O: pass", "o = O()", "o.a = 1", "print(o.a)"], [[], [0], [1], [2]], id="setattr"),
    pytest.param(["d = {'k': 1}", "d['k'] += 1", "print(d)"], [[], [0], [1]], id="aug-subscript"),
    pytest.param(["x = [1]", "x += [2]", "print(x)"], [[], [0], [1]], id="augassign-list"),
    pytest.param(["d = {'a': 1}", "del d['a']", "print(d)"], [[], [0], [1]], id="del-item"),
    pytest.param(
        ["import types\nns = types.SimpleNamespace(a=1)", "del ns.a", "print(ns)"], [[], [0], [1]], id="del-attr"
    ),
    pytest.param(
        ["import pandas as pd", "df = pd.read_csv('a.csv')", "df.dropna(inplace=True)", "m = df.mean()"],
        [[], [0], [1], [2]],
        id="inplace-true",
    ),
    pytest.param(["s = set()", "s.add(1)", "n = len(s)"], [[], [0], [1]], id="set-add"),
    pytest.param(["xs = [3, 1]", "xs.sort()", "first = xs[0]"], [[], [0], [1]], id="sort"),
    pytest.param(["cfg = make()", "cfg.a.b[0] = 1", "print(cfg)"], [[], [0], [1]], id="nested-root"),
    pytest.param(["fh = open('f', 'w')", "fh.write('x')", "fh.close()"], [[], [0], [1]], id="file-write"),
    pytest.param(
        ["import random\nxs = [1, 2]", "random.shuffle(xs)", "print(xs)"], [[], [0], [1]], id="mutating-function"
    ),
    pytest.param(["a = []", "b = []", "a.append(1)", "print(b)"], [[], [], [0], [1]], id="unrelated-mutation"),
    pytest.param(["xs = [1]", "n = xs.count(1)", "print(xs)"], [[], [0], [0]], id="non-mutating-method"),
    pytest.param(
        ["import numpy as np\narr = np.zeros(3)", "arr.fill(1)", "arr[0] = 5", "s = arr.sum()"],
        [[], [0], [1], [2]],
        id="array-in-place",
    ),
    pytest.param(
        ["X, y = [[1]], [1]", "model = LinearRegression()", "model.fit(X, y)", "pred = model.predict(X)"],
        [[], [], [0, 1], [0, 2]],
        id="model-fit",
    ),
    pytest.param(["class O: pass\no = O()", "setattr(o, 'a', 1)", "print(o.a)"], [[], [0], [1]], id="setattr-builtin"),
    pytest.param(["out = open('log', 'w')", "print('hi', file=out)", "out.flush()"], [[], [0], [1]], id="print-file"),
    # aliasing
    pytest.param(["a = []", "b = a", "b.append(1)", "print(a)"], [[], [0], [0, 1], [2]], id="alias-name"),
    pytest.param(
        ["obj = make()", "sub = obj.items", "sub.append(1)", "print(obj)"], [[], [0], [0, 1], [2]], id="alias-attribute"
    ),
    pytest.param(
        ["rows = [[1], [2]]", "first = rows[0]", "first.append(3)", "print(rows)"],
        [[], [0], [0, 1], [2]],
        id="alias-subscript",
    ),
    pytest.param(
        ["a = []", "b = a", "b = []", "b.append(1)", "print(a)"], [[], [0], [], [2], [0]], id="alias-broken-by-rebind"
    ),
    pytest.param(
        ["rows = [[1], [2]]", "for r in rows:\n    r.append(0)", "print(rows)"], [[], [0], [1]], id="alias-loop-variable"
    ),
    pytest.param(
        ["a = []", "d = {}", "d['k'] = a", "d['k'].append(1)", "print(a)"],
        [[], [], [0, 1], [0, 2], [3]],
        id="alias-stored-in-container",
    ),
    pytest.param(
        ["a = []", "b = a", "c = b", "c.append(1)", "x = a"], [[], [0], [1], [0, 1, 2], [3]], id="alias-transitive"
    ),
    pytest.param(["x = y = []", "y.append(1)", "print(x)"], [[], [0], [1]], id="alias-chained-assignment"),
    pytest.param(
        ["pair = ([], [])", "left, right = pair", "left.append(1)", "print(pair)"],
        [[], [0], [0, 1], [2]],
        id="alias-unpacking",
    ),
    pytest.param(["a = [1]", "b = a", "b += [2]", "print(a)"], [[], [0], [0, 1], [2]], id="alias-augassign"),
    # functions and closures
    pytest.param(["k = 2", "def f(x):\n    return x * k", "y = f(3)"], [[], [], [0, 1]], id="function-reads-global"),
    pytest.param(["def f():\n    return k", "k = 1", "y = f()"], [[], [], [0, 1]], id="global-defined-after-def"),
    pytest.param(["def f(): return 1", "def f(): return 2", "y = f()"], [[], [], [1]], id="function-redefined"),
    pytest.param(
        ["count = 0", "def inc():\n    global count\n    count += 1", "inc()", "print(count)"],
        [[], [], [0, 1], [2]],
        id="function-writes-global",
    ),
    pytest.param(
        ["def add(l):\n    l.append(1)", "xs = []", "add(xs)", "print(xs)"],
        [[], [], [0, 1], [2]],
        id="function-mutates-argument",
    ),
    pytest.param(
        ["log = []", "def note(m):\n    log.append(m)", "note('hi')", "print(log)"],
        [[], [], [0, 1], [2]],
        id="function-mutates-global",
    ),
    pytest.param(
        ["def f(y):\n    y.append(1)", "def g(x):\n    f(x)", "xs = []", "g(xs)", "print(xs)"],
        [[], [], [], [0, 1, 2], [3]],
        id="mutation-forwarded-across-cells",
    ),
    pytest.param(
        ["def h():\n    return k", "def g():\n    return h()", "k = 5", "v = g()"],
        [[], [], [], [0, 1, 2]],
        id="transitive-reads",
    ),
    pytest.param(
        [
            "def make(n):\n    def add(x):\n        return x + n + offset\n    return add",
            "offset = 1",
            "adder = make(2)",
            "r = adder(3)",
        ],
        [[], [], [0, 1], [2]],
        id="closure",
    ),
    pytest.param(["k = 3", "f = lambda v: v * k", "y = f(2)"], [[], [], [0, 1]], id="named-lambda"),
    pytest.param(["def f():\n    return k", "g = f", "k = 1", "y = g()"], [[], [0], [], [1, 2]], id="function-alias"),
    pytest.param(
        ["def show(x):\n    print(x)", "xs = [1]", "show(xs)", "ys = xs"], [[], [], [0, 1], [1]], id="non-mutating-function"
    ),
    pytest.param(["def deco(f):\n    return f", "@deco\ndef g():\n    pass", "g()"], [[], [0], [1]], id="decorator"),
    pytest.param(
        ["k = 2", "xs = [1]", "ys = sorted(xs, key=lambda v: v * k)"], [[], [], [0, 1]], id="anonymous-lambda"
    ),
    # classes
    pytest.param(
        ["class A:\n    def get(self):\n        return scale", "a = A()", "scale = 3", "v = a.get()"],
        [[], [0], [], [1, 2]],
        id="method-reads-global",
    ),
    pytest.param(
        [
            "class Acc:\n    def __init__(self):\n        self.items = []\n    def push(self, v):\n        self.items.append(v)",
            "acc = Acc()",
            "acc.push(1)",
            "n = len(acc.items)",
        ],
        [[], [0], [1], [2]],
        id="method-mutates-self",
    ),
    pytest.param(
        ["class Sink:\n    def __init__(self, out):\n        out.append(1)", "buf = []", "Sink(buf)", "print(buf)"],
        [[], [], [0, 1], [2]],
        id="constructor-mutates-argument",
    ),
    pytest.param(["base = 10", "class C:\n    size = base * 2", "print(C.size)"], [[], [0], [1]], id="class-body-reads"),
    pytest.param(["class C:\n    x = 1", "class C:\n    x = 2", "print(C.x)"], [[], [], [1]], id="class-redefined"),
    pytest.param(
        ["class P:\n    def show(self):\n        return 1", "p = P()", "v = p.show()", "print(p)"],
        [[], [0], [1], [1]],
        id="method-not-mutating",
    ),
    # comprehensions
    pytest.param(["xs = [1, 2]", "ys = [x * 2 for x in xs]", "print(ys)"], [[], [0], [1]], id="listcomp"),
    pytest.param(["x = 5", "ys = [x for x in range(3)]", "print(x)"], [[], [], [0]], id="comprehension-no-leak"),
    pytest.param(["k = 3", "xs = [1]", "ys = [v * k for v in xs]"], [[], [], [0, 1]], id="comprehension-enclosing"),
    pytest.param(["keys = ['a']", "d = {k: len(k) for k in keys}", "print(d)"], [[], [0], [1]], id="dictcomp"),
    pytest.param(["n = 4", "total = sum(i for i in range(n))"], [[], [0]], id="generator"),
    pytest.param(
        ["rows = [[1]]", "[r.append(0) for r in rows]", "print(rows)"], [[], [0], [1]], id="comprehension-mutates"
    ),
    # del
    pytest.param(["x = 1", "del x", "print(x)"], [[], [0], []], id="del-name"),
    pytest.param(["x = 1", "del x", "x = 2", "print(x)"], [[], [0], [], [2]], id="del-then-redefine"),
    # opaque cells
    pytest.param(
        [C("from math import *", runtime_defined=["pi", "sqrt"]), "y = pi"], [[], [0]], id="star-import-runtime"
    ),
    pytest.param(["from math import *", "y = pi"], [[], []], id="star-import-without-runtime-facts"),
    pytest.param([C("exec('z = 1')", runtime_defined=["z"]), "print(z)"], [[], [0]], id="exec"),
    pytest.param(["x = 1", C("x = 2", runtime_defined=["x"]), "print(x)"], [[], [], [1]], id="runtime-and-static"),
    pytest.param(["x = 1", C("exec('del x')", runtime_deleted=["x"]), "print(x)"], [[], [], []], id="runtime-deleted"),
    # control flow
    pytest.param(
        ["s = '1'", "import json", "try:\n    data = json.loads(s)\nexcept ValueError as e:\n    data = None", "print(data)"],
        [[], [], [0, 1], [2]],
        id="try-except",
    ),
    pytest.param(
        ["try:\n    1/0\nexcept ZeroDivisionError as err:\n    msg = str(err)", "print(msg)"], [[], [0]], id="except-name"
    ),
    pytest.param(["total = 0", "for i in range(3):\n    total += i", "print(total)"], [[], [0], [1]], id="for-loop"),
    pytest.param(["n = 10", "while n > 1:\n    n //= 2", "print(n)"], [[], [0], [1]], id="while-loop"),
    pytest.param(["out = []", "for i in range(3):\n    out.append(i * i)", "print(out)"], [[], [0], [1]], id="loop-builds"),
    pytest.param(
        ["path = 'f.txt'", "with open(path) as fh:\n    text = fh.read()", "print(text)"], [[], [0], [1]], id="with"
    ),
    pytest.param(["flag = True", "if flag:\n    v = 1\nelse:\n    v = 2", "print(v)"], [[], [0], [1]], id="if-else"),
    # walrus and match
    pytest.param(["data = [1, 2]", "if (n := len(data)) > 1:\n    pass", "print(n)"], [[], [0], [1]], id="walrus"),
    pytest.param(
        ["vals = [1, 2]", "ys = [(last := v) for v in vals]", "print(last)"], [[], [0], [1]], id="walrus-in-comprehension"
    ),
    pytest.param(
        ["cmd = ['go', 'north']", "match cmd:\n    case [verb, obj]:\n        pass", "print(verb, obj)"],
        [[], [0], [1]],
        id="match-capture",
    ),
    pytest.param(
        ["class Color:\n    RED = 1", "c = 1", "match c:\n    case Color.RED:\n        hit = True", "print(hit)"],
        [[], [], [0, 1], [2]],
        id="match-value",
    ),
    # augmented assignment
    pytest.param(["x = 1", "x += 1", "x *= 3", "print(x)"], [[], [0], [1], [2]], id="augassign-chain"),
    # cells that raised
    pytest.param(
        [C("a = 1\nb = undefined_name\nc = 3", failed_at_line=2), "print(c)"], [[], []], id="failed-skips-rest"
    ),
    pytest.param([C("a = 1\nb = undefined_name", failed_at_line=2), "print(a)"], [[], [0]], id="failed-keeps-earlier"),
    pytest.param(
        ["x = 1", C("y = x + boom()", failed_at_line=1), "print(y)"], [[], [0], []], id="failed-statement-reads-only"
    ),
    pytest.param(
        ["lst = []", C("lst.append(1); 1/0", failed_at_line=1), "print(lst)"], [[], [0], [1]], id="failed-after-mutation"
    ),
    pytest.param(
        ["acc = []", C("for i in range(3):\n    acc.append(i)\n    if i == 1:\n        raise ValueError", failed_at_line=4),
         "print(acc)"],
        [[], [0], [1]],
        id="failed-loop-mutation-counts",
    ),
    # magics
    pytest.param([WRITEFILE, C(RUN, runtime_defined=["x"]), "print(x)"], [[], [0], [1]], id="writefile-run"),
    pytest.param([WRITEFILE, WRITEFILE, C(RUN, runtime_defined=["x"])], [[], [], [1]], id="run-latest-writefile"),
    pytest.param(
        ["x = 2", "get_ipython().run_cell_magic('time', '', 'y = x * 2\\n')", "print(y)"], [[], [0], [1]], id="time-magic"
    ),
    pytest.param(
        ["get_ipython().run_cell_magic('capture', 'out', 'print(1)\\n')", "out.show()"], [[], [0]], id="capture-magic"
    ),
    # imports
    pytest.param(["import math", "r = math.sqrt(2)"], [[], [0]], id="import"),
    pytest.param(["import numpy as np", "np = 3", "y = np"], [[], [], [1]], id="import-rebound"),
    pytest.param(["from collections import Counter", "c = Counter('ab')"], [[], [0]], id="from-import"),
    pytest.param(["global g\ng = 1", "print(g)"], [[], [0]], id="top-level-global"),
    pytest.param(
        ["import numpy as np", "a = np.zeros(2)", "b = np.append(a, 1)", "c = np.ones(1)"],
        [[], [0], [0, 1], [0]],
        id="module-function-leaves-module",
    ),
    pytest.param(["import random", "random.seed(0)", "x = random.random()"], [[], [0], [1]], id="module-state-seed"),
    pytest.param(["import sys", "sys.path.append('lib')", "p = sys.path"], [[], [0], [1]], id="module-attribute-mutated"),
]


@pytest.mark.parametrize(("cells", "expected"), CASES)
def test_parents(cells: list[str | C], expected: list[list[int]]) -> None:
    _, deps = run_cells(cells)
    assert [sorted(d.parents) for d in deps] == expected


def test_case_table_is_large_enough() -> None:
    assert len(CASES) >= 70


# --------------------------------------------------------------------------- edges and writers


def test_edges_point_at_the_writing_node() -> None:
    tracker, deps = run_cells(["a = 1\nb = 2", "c = b"])
    assert deps[1].edges == (EdgeInfo(source=(0, 1), target=0),)
    assert tracker.last_writer("c") == (1, 1)


def test_intra_cell_edge_has_own_key_but_cell_is_not_its_parent() -> None:
    _, deps = run_cells(["x = 1\ny = x"])
    assert deps[0].parents == ()
    assert deps[0].edges == (EdgeInfo(source=(0, 0), target=1),)


def test_parents_ordered_by_first_appearance() -> None:
    _, deps = run_cells(["a = 1", "b = 2", "c = b + a"])
    assert deps[2].parents == (1, 0)


def test_last_writer_and_history_with_mutation() -> None:
    tracker, _ = run_cells(["lst = []", "lst.append(1)", "n = 1"])
    mutation = next(i for i, n in enumerate(analyze_cell("lst.append(1)").nodes) if n.kind == "mutation")
    assert tracker.last_writer("lst") == (1, mutation)
    assert tracker.writers("lst") == [(0, 0), (1, mutation)]
    assert tracker.last_writer("nothing") is None
    assert tracker.writers("nothing") == []


def test_mutation_through_alias_updates_every_member() -> None:
    tracker, deps = run_cells(["a = []", "b = a", "b.append(1)"])
    assert deps[2].mutated == {"a", "b"}
    assert tracker.last_writer("a") == tracker.last_writer("b")
    assert tracker.last_writer("a")[0] == 2  # type: ignore[index]


def test_defined_and_mutated_from_function_call() -> None:
    _, deps = run_cells(["count = 0\nitems = []", "def f(x):\n    global count\n    count = 1\n    x.append(1)", "f(items)"])
    assert deps[2].mutated == {"count", "items"}
    assert deps[2].defined == set()


def test_runtime_defined_uses_synthetic_node() -> None:
    tracker, deps = run_cells([C(RUN, runtime_defined=["x", "helper"])])
    assert tracker.last_writer("x") == (0, -1)
    assert deps[0].defined == {"x", "helper"}


def test_failed_cell_defines_only_what_ran() -> None:
    _, deps = run_cells([C("a = 1\nb = c\nd = 4", failed_at_line=2)])
    assert deps[0].defined == {"a"}


def test_del_is_reported_and_clears_writer() -> None:
    tracker, deps = run_cells(["x = 1", "del x"])
    assert deps[1].deleted == {"x"}
    assert tracker.last_writer("x") is None
    assert tracker.writers("x") == [(0, 0)]


def test_run_depends_on_writefile_node() -> None:
    _, deps = run_cells([WRITEFILE, RUN])
    write_node = next(i for i, n in enumerate(analyze_cell(WRITEFILE).nodes) if n.name == "file:script.py")
    assert any(e.source == (0, write_node) for e in deps[1].edges)


def test_reset_forgets_everything() -> None:
    tracker, _ = run_cells(["def f():\n    return k", "k = 1"])
    tracker.reset()
    deps = tracker.process("again", analyze_cell("y = f()"))
    assert deps.parents == ()
    assert tracker.last_writer("k") is None


def test_hashable_keys_of_any_kind() -> None:
    tracker = DependencyTracker()
    tracker.process(("run-1", 1), analyze_cell("x = 1"))
    deps = tracker.process(("run-1", 2), analyze_cell("y = x"))
    assert deps.parents == (("run-1", 1),)


def test_unparseable_cell_depends_on_nothing_but_runtime_names_count() -> None:
    tracker = DependencyTracker()
    deps = tracker.process(0, analyze_cell("x = ("), runtime_defined=["x"])
    assert deps.parents == () and deps.defined == {"x"}
    assert tracker.process(1, analyze_cell("print(x)")).parents == (0,)
