"""Program slices: exact code expected, and executing it reproduces the variable's value."""

from __future__ import annotations

import textwrap
import types
from typing import Any

import pytest

from lineage_magic.analysis import NameNotDefinedError, slice_code


class _Shell:
    """Stands in for get_ipython() where a magic only needs to be a no-op."""

    def run_line_magic(self, name: str, line: str) -> None:
        return None

    def run_cell_magic(self, name: str, line: str, cell: str) -> None:
        return None


def execute(cells: list[tuple[Any, str]]) -> tuple[dict[str, Any], dict[Any, int]]:
    """Run cells in order like a kernel would; return the namespace and the failing lines."""
    shell = _Shell()
    ns: dict[str, Any] = {"get_ipython": lambda: shell}
    failed: dict[Any, int] = {}
    for key, source in cells:
        filename = f"<cell {key}>"
        try:
            exec(compile(source, filename, "exec"), ns)
        except Exception as err:  # a cell that raised, as in a notebook
            tb = err.__traceback__
            line = None
            while tb is not None:
                if tb.tb_frame.f_code.co_filename == filename:
                    line = tb.tb_lineno
                tb = tb.tb_next
            assert line is not None
            failed[key] = line
    return ns, failed


def comparable(value: Any) -> Any:
    """A value that compares equal across two independent executions."""
    if isinstance(value, (types.FunctionType, type)):
        return value.__qualname__
    if hasattr(value, "__dict__") and not isinstance(value, types.ModuleType):
        return type(value).__name__, {k: comparable(v) for k, v in vars(value).items()}
    return value


def D(code: str) -> str:
    return textwrap.dedent(code).lstrip("\n")


CASES = [
    pytest.param(["a = 1", "b = 2", "c = a + 1"], "c", "a = 1\nc = a + 1\n", id="simple"),
    pytest.param(
        ["x = 0", "x = x + 1", "x = x + 1", "y = 5"], "x", "x = 0\nx = x + 1\nx = x + 1\n", id="rerun-accumulates"
    ),
    pytest.param(["x = 1", "y = x", "x = 10", "z = x * 2"], "z", "x = 10\nz = x * 2\n", id="redefinition"),
    pytest.param(["a = 1", "b = a * 2", "a = 5", "b = a * 2"], "b", "a = 5\nb = a * 2\n", id="rerun-after-upstream"),
    pytest.param(["x = 1", "print(x)", "y = x"], "y", "x = 1\ny = x\n", id="prints-excluded"),
    pytest.param(["a = 1; b = 2; c = 3", "d = b + 1"], "d", "b = 2\nd = b + 1\n", id="shared-line"),
    pytest.param(["a, b = 1, 2", "c = b * 2"], "c", "a, b = 1, 2\nc = b * 2\n", id="tuple-unpack"),
    pytest.param(["x = y = []", "y.append(1)"], "x", "x = y = []\ny.append(1)\n", id="chained-assignment"),
    # mutations and aliases
    pytest.param(
        ["lst = []", "lst.append(1)", "n = len(lst)", "lst.append(2)"],
        "n",
        "lst = []\nlst.append(1)\nn = len(lst)\n",
        id="append-before-read",
    ),
    pytest.param(
        ["lst = []", "lst.append(1)", "n = len(lst)", "lst.append(2)"],
        "lst",
        "lst = []\nlst.append(1)\nlst.append(2)\n",
        id="all-appends",
    ),
    pytest.param(["a = []", "b = a", "b.append(1)", "c = 3"], "a", "a = []\nb = a\nb.append(1)\n", id="alias-mutation"),
    pytest.param(["a = []", "b = a", "a.append(2)"], "b", "a = []\nb = a\na.append(2)\n", id="alias-read-other-name"),
    pytest.param(
        ["a = []", "d = {}", "d['k'] = a", "d['k'].append(1)"],
        "a",
        "a = []\nd = {}\nd['k'] = a\nd['k'].append(1)\n",
        id="alias-in-container",
    ),
    pytest.param(
        ["rows = [[1], [2]]", "for r in rows:\n    r.append(0)", "n = 0"],
        "rows",
        "rows = [[1], [2]]\nfor r in rows:\n    r.append(0)\n",
        id="alias-loop-variable",
    ),
    pytest.param(["x = [1]", "x += [2]", "y = 0"], "x", "x = [1]\nx += [2]\n", id="augassign"),
    pytest.param(
        ["d = {'a': 1, 'b': 2}", "del d['a']", "e = 1"], "d", "d = {'a': 1, 'b': 2}\ndel d['a']\n", id="del-item"
    ),
    pytest.param(["x = 1", "del x", "x = 5", "y = x"], "y", "x = 5\ny = x\n", id="del-name-redefined"),
    pytest.param(
        ["xs = [3, 1, 2]", "ys = sorted(xs)", "xs.sort()"],
        "xs",
        "xs = [3, 1, 2]\nys = sorted(xs)\nxs.sort()\n",
        id="sorted-over-approximates",
    ),
    pytest.param(
        ["from collections import deque", "q = deque()", "q.append(1)", "q.appendleft(0)", "x = 1"],
        "q",
        "from collections import deque\nq = deque()\nq.append(1)\nq.appendleft(0)\n",
        id="deque",
    ),
    pytest.param(
        ["class O:\n    pass", "o = O()", "o.a = 1", "setattr(o, 'b', 2)", "z = 0"],
        "o",
        "class O:\n    pass\no = O()\no.a = 1\nsetattr(o, 'b', 2)\n",
        id="attribute-writes",
    ),
    # functions
    pytest.param(
        ["k = 2", "def f(x):\n    return x * k", "unused = 0", "y = f(3)"],
        "y",
        "k = 2\ndef f(x):\n    return x * k\ny = f(3)\n",
        id="function-reads-global",
    ),
    pytest.param(
        ["def f():\n    return k", "k = 1", "k = 7", "y = f()"],
        "y",
        "def f():\n    return k\nk = 7\ny = f()\n",
        id="global-read-at-call-time",
    ),
    pytest.param(
        ["def h():\n    return k", "def g():\n    return h() + 1", "k = 5", "v = g()"],
        "v",
        "def h():\n    return k\ndef g():\n    return h() + 1\nk = 5\nv = g()\n",
        id="transitive-functions",
    ),
    pytest.param(
        ["offset = 1", "def make(n):\n    def add(x):\n        return x + n + offset\n    return add",
         "adder = make(2)", "r = adder(3)"],
        "r",
        "offset = 1\ndef make(n):\n    def add(x):\n        return x + n + offset\n    return add\n"
        "adder = make(2)\nr = adder(3)\n",
        id="closure",
    ),
    pytest.param(["k = 3", "f = lambda v: v * k", "y = f(2)"], "y", "k = 3\nf = lambda v: v * k\ny = f(2)\n", id="lambda"),
    pytest.param(
        ["def add(l, v):\n    l.append(v)", "xs = []", "add(xs, 1)", "add(xs, 2)", "other = 1"],
        "xs",
        "def add(l, v):\n    l.append(v)\nxs = []\nadd(xs, 1)\nadd(xs, 2)\n",
        id="function-mutates-argument",
    ),
    pytest.param(
        ["count = 0", "def inc():\n    global count\n    count += 1", "inc()", "inc()", "x = 5"],
        "count",
        "count = 0\ndef inc():\n    global count\n    count += 1\ninc()\ninc()\n",
        id="global-side-effect",
    ),
    pytest.param(
        ["log = []", "def note(m):\n    log.append(m)", "note('a')", "note('b')", "k = 0"],
        "log",
        "log = []\ndef note(m):\n    log.append(m)\nnote('a')\nnote('b')\n",
        id="function-mutates-global",
    ),
    pytest.param(
        ["def deco(f):\n    f.tag = 1\n    return f", "@deco\ndef g():\n    return 4", "v = g()"],
        "v",
        "def deco(f):\n    f.tag = 1\n    return f\n@deco\ndef g():\n    return 4\nv = g()\n",
        id="decorated",
    ),
    # classes
    pytest.param(
        ["base = 10", "class C:\n    size = base * 2", "s = C.size"],
        "s",
        "base = 10\nclass C:\n    size = base * 2\ns = C.size\n",
        id="class-body",
    ),
    pytest.param(
        ["class C:\n    x = 1", "c1 = C.x", "class C:\n    x = 2", "c2 = C.x"],
        "c2",
        "class C:\n    x = 2\nc2 = C.x\n",
        id="class-redefined",
    ),
    pytest.param(
        [D("""
            class Acc:
                def __init__(self):
                    self.items = []
                def push(self, v):
                    self.items.append(v)
            """), "acc = Acc()", "acc.push(1)", "acc.push(2)", "n = 0"],
        "acc",
        D("""
            class Acc:
                def __init__(self):
                    self.items = []
                def push(self, v):
                    self.items.append(v)
            acc = Acc()
            acc.push(1)
            acc.push(2)
            """),
        id="method-mutates-self",
    ),
    pytest.param(
        ["class Sink:\n    def __init__(self, out):\n        out.append(1)", "buf = []", "s = Sink(buf)", "t = 2"],
        "buf",
        "class Sink:\n    def __init__(self, out):\n        out.append(1)\nbuf = []\ns = Sink(buf)\n",
        id="constructor-mutates-argument",
    ),
    pytest.param(
        ["class P:\n    def __init__(self, v):\n        self.v = v\n    def value(self):\n        return self.v * scale",
         "scale = 3", "p = P(2)", "out = p.value()"],
        "out",
        "class P:\n    def __init__(self, v):\n        self.v = v\n    def value(self):\n        return self.v * scale\n"
        "scale = 3\np = P(2)\nout = p.value()\n",
        id="method-reads-global",
    ),
    # loops, comprehensions, control flow
    pytest.param(
        ["out = []", "for i in range(4):\n    out.append(i * i)", "print(out)"],
        "out",
        "out = []\nfor i in range(4):\n    out.append(i * i)\n",
        id="loop-builds-list",
    ),
    pytest.param(
        ["total = 0", "for i in range(5):\n    if i % 2:\n        total += i", "total2 = total"],
        "total2",
        "total = 0\nfor i in range(5):\n    if i % 2:\n        total += i\ntotal2 = total\n",
        id="loop-accumulates",
    ),
    pytest.param(
        ["n = 100", "steps = 0", "while n > 1:\n    n //= 2\n    steps += 1", "m = 0"],
        "steps",
        "n = 100\nsteps = 0\nwhile n > 1:\n    n //= 2\n    steps += 1\n",
        id="while-loop",
    ),
    pytest.param(
        ["k = 3", "xs = [1, 2]", "ys = [v * k for v in xs]", "zs = [0]"],
        "ys",
        "k = 3\nxs = [1, 2]\nys = [v * k for v in xs]\n",
        id="comprehension",
    ),
    pytest.param(
        ["v = 'unused'", "keys = ['a', 'bb']", "d = {v: len(v) for v in keys}"],
        "d",
        "keys = ['a', 'bb']\nd = {v: len(v) for v in keys}\n",
        id="comprehension-variable-no-leak",
    ),
    pytest.param(
        ["s = 'bad'", "import json", "try:\n    data = json.loads(s)\nexcept ValueError:\n    data = None"],
        "data",
        "s = 'bad'\nimport json\ntry:\n    data = json.loads(s)\nexcept ValueError:\n    data = None\n",
        id="try-except",
    ),
    pytest.param(
        ["import io", "buf = io.StringIO('hello')", "with buf as fh:\n    text = fh.read()"],
        "text",
        "import io\nbuf = io.StringIO('hello')\nwith buf as fh:\n    text = fh.read()\n",
        id="with",
    ),
    pytest.param(
        ["data = [1, 2, 3]", "if (n := len(data)) > 1:\n    big = True", "z = 0"],
        "n",
        "data = [1, 2, 3]\nif (n := len(data)) > 1:\n    big = True\n",
        id="walrus",
    ),
    pytest.param(
        ["cmd = ['go', 'north']", "match cmd:\n    case [verb, obj]:\n        action = verb + ' ' + obj"],
        "action",
        "cmd = ['go', 'north']\nmatch cmd:\n    case [verb, obj]:\n        action = verb + ' ' + obj\n",
        id="match",
    ),
    # imports
    pytest.param(["import math", "import json", "r = math.sqrt(16)"], "r", "import math\nr = math.sqrt(16)\n", id="import"),
    pytest.param(
        ["import math", "r = 2", "area = math.pi * r ** 2", "r = 3"],
        "area",
        "import math\nr = 2\narea = math.pi * r ** 2\n",
        id="import-and-old-value",
    ),
    pytest.param(
        ["from collections import Counter", "c = Counter('abca')", "c.update('aa')"],
        "c",
        "from collections import Counter\nc = Counter('abca')\nc.update('aa')\n",
        id="from-import",
    ),
    pytest.param(
        ["import json", "s = json.dumps({'a': 1})", "d = json.loads(s)"],
        "d",
        "import json\ns = json.dumps({'a': 1})\nd = json.loads(s)\n",
        id="json",
    ),
    pytest.param(
        ["import random", "random.seed(3)", "x = random.random()"],
        "x",
        "import random\nrandom.seed(3)\nx = random.random()\n",
        id="seeded-module-state",
    ),
    pytest.param(["from math import *", "y = sqrt(16)"], "y", "from math import *\ny = sqrt(16)\n", id="star-import"),
    pytest.param(["exec('z = 41')", "w = z + 1"], "w", "exec('z = 41')\nw = z + 1\n", id="exec"),
    # cells that raised
    pytest.param(
        ["a = 1", "b = 2\nc = undefined_name\nd = 4", "e = a + b"], "e", "a = 1\nb = 2\ne = a + b\n", id="error-midway"
    ),
    pytest.param(["x = 1\ny = x + 1\nz = 1 / 0\nw = 2"], "y", "x = 1\ny = x + 1\n", id="error-same-cell"),
    pytest.param(["a = 2", "b = a * undefined", "b = a * 3"], "b", "a = 2\nb = a * 3\n", id="error-then-fixed"),
    pytest.param(
        ["lst = []", "lst.append(1); lst.append(undefined)", "n = len(lst)"],
        "n",
        "lst = []\nlst.append(1)\nn = len(lst)\n",
        id="error-after-mutation",
    ),
    pytest.param(
        ["acc = []", "for i in range(3):\n    acc.append(i)\nboom()", "n = 0"],
        "acc",
        "acc = []\nfor i in range(3):\n    acc.append(i)\n",
        id="error-after-loop",
    ),
    # magics
    pytest.param(
        ["x = 3", "get_ipython().run_line_magic('matplotlib', 'inline')", "y = x + 1"],
        "y",
        "x = 3\ny = x + 1\n",
        id="magic-excluded",
    ),
]


@pytest.mark.parametrize(("sources", "target", "expected"), CASES)
def test_slice(sources: list[str], target: str, expected: str) -> None:
    cells = [(f"c{i}", source) for i, source in enumerate(sources)]
    full, failed = execute(cells)
    code = slice_code(cells, target, failed=failed)
    assert code == expected
    fresh: dict[str, Any] = {}
    exec(compile(code, "<slice>", "exec"), fresh)
    assert comparable(fresh[target]) == comparable(full[target])


def test_case_table_is_large_enough() -> None:
    assert len(CASES) >= 45


def test_undefined_target_raises_named_error() -> None:
    with pytest.raises(NameNotDefinedError) as info:
        slice_code([("a", "x = 1")], "y")
    assert isinstance(info.value, LookupError)
    assert "'y'" in str(info.value)


def test_target_defined_only_after_failure_is_undefined() -> None:
    with pytest.raises(NameNotDefinedError):
        slice_code([("a", "x = 1 / 0\ny = 2")], "y", failed={"a": 1})


def test_deleted_target_is_undefined() -> None:
    with pytest.raises(NameNotDefinedError):
        slice_code([("a", "x = 1"), ("b", "del x")], "x")


def test_needed_magics_are_kept() -> None:
    writefile = "get_ipython().run_cell_magic('writefile', 'script.py', 'x = 1\\n')"
    run = "get_ipython().run_line_magic('run', 'script.py')"
    code = slice_code([("w", writefile), ("r", run), ("p", "y = x + 1")], "y")
    assert code == f"{writefile}\n{run}\ny = x + 1\n"


def test_repeated_keys_are_told_apart_by_position() -> None:
    cells = [("same", "x = 1"), ("same", "x = x + 1"), ("other", "y = x")]
    assert slice_code(cells, "y") == "x = 1\nx = x + 1\ny = x\n"


def test_unicode_source_columns() -> None:
    cells = [("a", "s = 'héllo'; t = 'ünïcode'"), ("b", "u = t.upper()")]
    code = slice_code(cells, "u")
    assert code == "t = 'ünïcode'\nu = t.upper()\n"
