"""Node kinds, names and positions produced by analyze_cell, and its never-raise promise."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lineage_magic.analysis import CellAnalysis, NodeInfo, analyze_cell


def facts(source: str) -> list[tuple[str, str]]:
    """(kind, name) of every node, in order."""
    return [(n.kind, n.name) for n in analyze_cell(textwrap.dedent(source)).nodes]


def of_kind(source: str, kind: str) -> list[str]:
    return [n.name for n in analyze_cell(textwrap.dedent(source)).nodes if n.kind == kind]


# --------------------------------------------------------------------------- imports


def test_import_nodes_bind_alias_or_top_package() -> None:
    a = analyze_cell("import os.path as p, numpy\nimport a.b.c\nfrom x import y as z, w\nfrom . import rel")
    imports = [(n.name, n.module, n.stmt) for n in a.nodes if n.kind == "import"]
    assert imports == [
        ("p", "os.path", 0),
        ("numpy", "numpy", 0),
        ("a", "a.b.c", 1),
        ("z", "x", 2),
        ("w", "x", 2),
        ("rel", ".", 3),
    ]
    assert not a.opaque
    assert a.defines == {"p", "numpy", "a", "z", "w", "rel"}


def test_star_import_is_opaque() -> None:
    a = analyze_cell("from math import *")
    assert a.opaque
    assert [(n.kind, n.name, n.module) for n in a.nodes] == [("import", "*", "math")]


def test_import_positions() -> None:
    a = analyze_cell("x = 1\nimport json as j")
    node = a.nodes[-1]
    assert (node.lineno, node.col_offset, node.end_lineno, node.end_col_offset) == (2, 7, 2, 16)
    assert node.stmt == 1


# --------------------------------------------------------------------------- definitions


@pytest.mark.parametrize(
    ("source", "defined"),
    [
        pytest.param("x = 1", ["x"], id="assign"),
        pytest.param("a = b = 1", ["a", "b"], id="chained"),
        pytest.param("a, (b, *c) = t", ["a", "b", "c"], id="tuple-starred"),
        pytest.param("[a, b] = t", ["a", "b"], id="list-target"),
        pytest.param("x: int = 1", ["x"], id="annotated"),
        pytest.param("x: int", [], id="annotation-only"),
        pytest.param("def f(): pass", ["f"], id="def"),
        pytest.param("async def f(): pass", ["f"], id="async-def"),
        pytest.param("class C: pass", ["C"], id="class"),
        pytest.param("for i, j in pairs: pass", ["i", "j"], id="for-target"),
        pytest.param("with open(p) as fh, lock: pass", ["fh"], id="with-target"),
        pytest.param("try:\n    pass\nexcept ValueError as err:\n    pass", ["err"], id="except-as"),
        pytest.param("if (n := 10) > 5: pass", ["n"], id="walrus"),
        pytest.param("ys = [(y := v) for v in vs]", ["y", "ys"], id="walrus-in-comprehension"),
        pytest.param("while True:\n    total = 1\n    break", ["total"], id="in-while"),
        pytest.param("if c:\n    a = 1\nelse:\n    b = 2", ["a", "b"], id="in-if"),
        pytest.param(
            "match p:\n    case [a, *rest]: pass\n    case {'k': v, **kw}: pass\n    case P(x=xx) as whole: pass",
            ["a", "rest", "v", "kw", "xx", "whole"],
            id="match-captures",
        ),
    ],
)
def test_definitions(source: str, defined: list[str]) -> None:
    assert of_kind(source, "definition") == defined


def test_def_node_spans_the_statement() -> None:
    a = analyze_cell("@dec\ndef f(x):\n    return x\n")
    node = next(n for n in a.nodes if n.kind == "definition")
    assert (node.lineno, node.end_lineno) == (2, 3)
    assert a.stmt_lines == ((1, 3),)  # decorators belong to the statement


def test_augmented_assignment_is_mutation_then_definition() -> None:
    assert facts("x += y") == [("mutation", "x"), ("lookup", "y"), ("definition", "x")]
    node = analyze_cell("x += y").nodes[-1]
    assert node.args == ("x",)  # x keeps its aliases


def test_alias_roots_recorded_on_definitions() -> None:
    a = analyze_cell("b = a\nc = a.x\nd = a[0]\ne = f(a)\ng = [a, h]\nk = p if q else r")
    roots = {n.name: n.args for n in a.nodes if n.kind == "definition"}
    assert roots == {"b": ("a",), "c": ("a",), "d": ("a",), "e": (), "g": ("a", "h"), "k": ("p", "r")}


# --------------------------------------------------------------------------- lookups


def test_read_before_and_after_local_definition_both_emitted() -> None:
    assert facts("y = x\nx = 2\nz = x") == [
        ("lookup", "x"),
        ("definition", "y"),
        ("definition", "x"),
        ("lookup", "x"),
        ("definition", "z"),
    ]


def test_value_read_before_target_bound() -> None:
    assert facts("x = x + 1") == [("lookup", "x"), ("definition", "x")]


def test_builtins_are_emitted_as_lookups() -> None:
    assert of_kind("print(len(xs))", "lookup") == ["print", "len", "xs"]


def test_function_body_reads_are_not_lookups() -> None:
    a = analyze_cell("def f(a, b=default):\n    return a + g + helper(b)\n")
    assert of_kind("def f(a, b=default):\n    return a + g + helper(b)\n", "lookup") == ["default"]
    assert a.functions["f"].reads_globals == {"g", "helper"}


def test_named_lambda_is_a_function_anonymous_lambda_reads_now() -> None:
    a = analyze_cell("f = lambda v: v * k\nys = sorted(xs, key=lambda v: w[v])")
    assert a.functions["f"].reads_globals == {"k"}
    lookups = [n.name for n in a.nodes if n.kind == "lookup"]
    assert "k" not in lookups
    assert "w" in lookups


def test_comprehension_variables_do_not_leak() -> None:
    source = "ys = [x * k for x in xs if x > lo]\nd = {a: b for a, b in pairs}\ng = (i for i in range(n))"
    lookups = of_kind(source, "lookup")
    assert lookups == ["xs", "lo", "k", "pairs", "range", "n"]  # conditions run before the element
    assert of_kind(source, "definition") == ["ys", "d", "g"]


def test_nested_comprehension_sees_outer_variable() -> None:
    assert of_kind("m = [[c * row[0] for c in row] for row in grid]", "lookup") == ["grid"]


def test_class_body_reads_are_lookups_but_class_locals_are_not() -> None:
    source = "class C(Base):\n    n = 1\n    m = n + q\n    def meth(self):\n        return z\n"
    assert facts(source) == [("lookup", "Base"), ("lookup", "q"), ("definition", "C")]
    a = analyze_cell(source)
    assert a.functions["C.meth"].reads_globals == {"z"}


def test_decorators_and_defaults_are_read_at_definition() -> None:
    assert of_kind("@deco(arg)\ndef f(x=dflt, *, y=kw): pass", "lookup") == ["deco", "arg", "dflt", "kw"]


# --------------------------------------------------------------------------- mutations


@pytest.mark.parametrize(
    ("source", "mutated"),
    [
        pytest.param("lst.append(1)", ["lst"], id="append"),
        pytest.param("s.add(1); s.discard(2)", ["s", "s"], id="set-methods"),
        pytest.param("d.update(e)", ["d"], id="update"),
        pytest.param("d.setdefault(k, []).append(v)", ["d", "d"], id="setdefault-chain"),
        pytest.param("df.drop(columns=['a'], inplace=True)", ["df"], id="inplace"),
        pytest.param("df.drop(columns=['a'], inplace=False)", [], id="inplace-false"),
        pytest.param("x[k] = v", ["x"], id="setitem"),
        pytest.param("x.a = v", ["x"], id="setattr"),
        pytest.param("a.b.c[0] = 1", ["a"], id="nested-root"),
        pytest.param("x[k] += v", ["x"], id="aug-subscript"),
        pytest.param("del x[k]", ["x"], id="del-item"),
        pytest.param("del x.a", ["x"], id="del-attr"),
        pytest.param("fh.write('s')", ["fh"], id="write"),
        pytest.param("arr.fill(0)", ["arr"], id="fill"),
        pytest.param("random.shuffle(xs)", ["xs"], id="shuffle-arg"),
        pytest.param("heapq.heappush(h, 1)", ["h"], id="heappush-arg"),
        pytest.param("setattr(obj, 'a', 1)", ["obj"], id="setattr-builtin"),
        pytest.param("print(x, file=out)", ["out"], id="print-file"),
        pytest.param("model.fit(X, y)", ["model"], id="fit"),
        pytest.param("w.add_(1)", ["w"], id="trailing-underscore"),
        pytest.param("df.set_index('a')", [], id="set-index-not-inplace"),
        pytest.param("[r.append(0) for r in rows]", ["rows"], id="through-comprehension-var"),
        pytest.param("lst.count(1)", [], id="non-mutating-method"),
    ],
)
def test_mutations(source: str, mutated: list[str]) -> None:
    assert of_kind(source, "mutation") == mutated


def test_del_name_is_a_deleted_mutation() -> None:
    a = analyze_cell("del x, y[0]")
    assert [(n.kind, n.name, n.deleted) for n in a.nodes] == [
        ("mutation", "x", True),
        ("mutation", "y", False),
    ]


def test_storing_into_container_records_stored_names() -> None:
    a = analyze_cell("d[k] = a\nlst.append(b)\nlst.remove(c)")
    muts = [(n.name, n.args) for n in a.nodes if n.kind == "mutation"]
    assert muts == [("d", ("a",)), ("lst", ("b",)), ("lst", ())]


def test_mutation_position_is_the_call() -> None:
    a = analyze_cell("x = 1\nlst.append(x)")
    node = next(n for n in a.nodes if n.kind == "mutation")
    assert (node.lineno, node.col_offset, node.end_lineno, node.end_col_offset, node.stmt) == (2, 0, 2, 13, 1)


# --------------------------------------------------------------------------- calls and globals


def test_call_nodes_with_names_and_positions() -> None:
    a = analyze_cell("f(a, 1, b.c, *rest, key=k, **opts)")
    call = next(n for n in a.nodes if n.kind == "call")
    assert call.name == "f"
    assert call.args == ("a", "b", "rest", "k", "opts")
    assert call.arg_positions == (0, 2, "*", "key", "**")


def test_dotted_callee_names() -> None:
    assert of_kind("df.drop('a')\nnp.linalg.norm(v)\nd['k'].strip()\n(a + b).sum()", "call") == [
        "df.drop",
        "np.linalg.norm",
        "d[].strip",
        "<expr>.sum",
    ]


def test_top_level_global_statement() -> None:
    assert facts("global g, h") == [("global", "g"), ("global", "h")]


def test_lookup_position() -> None:
    node = analyze_cell("y = 1\nz = foo + y").nodes[1]
    assert node == NodeInfo("lookup", "foo", 2, 4, 2, 7, 1)


# --------------------------------------------------------------------------- function facts


def test_function_facts_globals_and_params() -> None:
    source = """
    def f(a, b, *rest, key=None, **kw):
        global counter
        counter += 1
        a.append(1)
        kw['x'] = 1
        log.append(b)
        return total
    """
    f = analyze_cell(textwrap.dedent(source)).functions["f"]
    assert f.reads_globals >= {"counter", "log", "total"}
    assert f.writes_globals == {"counter"}
    assert f.mutates_params == {0, "a", "**"}
    assert f.mutates_globals == {"log"}


def test_function_facts_local_alias_of_param() -> None:
    f = analyze_cell("def f(df):\n    d = df\n    d['a'] = 1\n").functions["f"]
    assert f.mutates_params == {0, "df"}
    assert f.reads_globals == set()


def test_function_facts_forwarding_to_mutating_function() -> None:
    a = analyze_cell("def g(x):\n    f(x)\ndef f(y):\n    y.append(1)\n")
    assert a.functions["g"].mutates_params == {0, "x"}


def test_function_facts_nested_function_free_names() -> None:
    f = analyze_cell("def f():\n    def g(x):\n        return x + y\n    return g(1) + x\n").functions["f"]
    assert f.reads_globals == {"y", "x"}


def test_class_facts_shift_self() -> None:
    source = "class C:\n    def __init__(self, data):\n        data.clear()\n    def push(self, v):\n        self.items.append(v)\n"
    a = analyze_cell(source)
    assert a.functions["C"].mutates_params == {0, "data"}
    assert a.functions["C.push"].mutates_params == {0, "self"}


def test_redefinition_with_non_function_drops_facts() -> None:
    a = analyze_cell("def f(): pass\nf = 3")
    assert "f" not in a.functions


# --------------------------------------------------------------------------- opacity and magics


@pytest.mark.parametrize(
    "source",
    [
        "exec('x = 1')",
        "eval('x')",
        "globals()['x'] = 1",
        "vars().update(a=1)",
        "get_ipython().run_line_magic('load_ext', 'autoreload')",
        "from os import *",
    ],
)
def test_opaque(source: str) -> None:
    assert analyze_cell(source).opaque


@pytest.mark.parametrize("source", ["x = 1", "vars(obj)", "get_ipython().system('ls')"])
def test_not_opaque(source: str) -> None:
    assert not analyze_cell(source).opaque


def test_writefile_and_run_magics() -> None:
    w = analyze_cell("get_ipython().run_cell_magic('writefile', '-a script.py', 'x = 1\\n')")
    assert w.files_written == ("script.py",)
    assert ("definition", "file:script.py") in [(n.kind, n.name) for n in w.nodes]
    r = analyze_cell("get_ipython().run_line_magic('run', 'script.py --flag')")
    assert r.files_read == ("script.py",)
    assert r.opaque
    assert ("lookup", "file:script.py") in [(n.kind, n.name) for n in r.nodes]


def test_code_running_magics_are_analysed() -> None:
    a = analyze_cell("get_ipython().run_cell_magic('time', '', 'y = f(x)\\n')")
    assert ("definition", "y") in [(n.kind, n.name) for n in a.nodes]
    assert a.reads >= {"f", "x"}
    b = analyze_cell("get_ipython().run_line_magic('timeit', '-n 10 g(z)')")
    assert "z" in b.reads
    c = analyze_cell("get_ipython().run_cell_magic('capture', 'out', 'print(v)\\n')")
    assert "out" in c.defines and "v" in c.reads


# --------------------------------------------------------------------------- syntax coverage


def test_modern_syntax() -> None:
    source = """
    async def main():
        async with s as c:
            return [v async for v in c]
    await main()
    x = (y := 3) + 1
    match command.split():
        case [action, obj] if obj in allowed:
            go(action, obj)
        case Point(x=0):
            pass
    """
    a = analyze_cell(textwrap.dedent(source))
    assert a.ok, a.error
    assert {"main", "y", "x", "action", "obj"} <= a.defines
    assert {"command", "allowed", "go", "Point"} <= a.reads


@pytest.mark.skipif(sys.version_info < (3, 11), reason="except* is Python 3.11 syntax")
def test_exception_groups() -> None:
    a = analyze_cell("try:\n    run()\nexcept* ValueError as group:\n    errors = group.exceptions")
    assert a.ok, a.error
    assert {"group", "errors"} <= a.defines and "run" in a.reads


@pytest.mark.skipif(sys.version_info < (3, 12), reason="type statement is Python 3.12 syntax")
def test_type_alias() -> None:
    a = analyze_cell("type Vec = list[Num]")
    assert "Vec" in a.defines and "Num" in a.reads


# --------------------------------------------------------------------------- robustness


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("x = (", id="invalid-syntax"),
        pytest.param("x = 1\x00", id="null-byte"),
        pytest.param("x = '\udcff'", id="lone-surrogate"),
        pytest.param("\udcff = 1", id="surrogate-name"),
        pytest.param("(" * 5000, id="deep-parens"),
        pytest.param("[" * 5000 + "]" * 5000, id="deep-brackets"),
        pytest.param("-" * 100_000 + "1", id="deep-unary"),
        pytest.param("a" + ".b" * 100_000, id="deep-attribute"),
        pytest.param("1" + "+1" * 100_000, id="long-binop"),
        pytest.param("def f(:\n", id="bad-def"),
    ],
)
def test_never_raises_on_bad_input(source: str) -> None:
    a = analyze_cell(source)
    assert isinstance(a, CellAnalysis)
    if not a.ok:
        assert a.error
        assert a.nodes == ()
        assert a.opaque


def test_deep_but_valid_nesting_reports_instead_of_raising() -> None:
    a = analyze_cell("x = " + "f(" * 300 + ")" * 300)
    assert isinstance(a, CellAnalysis)
    assert a.ok or a.error


def test_ten_megabyte_source_is_not_parsed() -> None:
    a = analyze_cell("x = 1\n" * (10 * 1024 * 1024 // 6))
    assert not a.ok and a.opaque and "too large" in (a.error or "")


def test_large_valid_source_is_analysed() -> None:
    a = analyze_cell("".join(f"v{i} = v{i - 1} + 1\n" for i in range(1, 5000)))
    assert a.ok
    assert len(a.stmt_lines) == 4999


def test_non_string_input() -> None:
    a = analyze_cell(b"x = 1")  # type: ignore[arg-type]
    assert not a.ok and a.error


def test_parse_failure_shape() -> None:
    a = analyze_cell("x = = 2")
    assert (a.ok, a.nodes, a.opaque) == (False, (), True)
    assert "SyntaxError" in (a.error or "")


def test_cached_and_a_given_tree_is_used_as_it_is() -> None:
    source = "y = f(x)\nlst.append(y)\nz = [v * 2 for v in lst]"
    first = analyze_cell(source)
    assert analyze_cell(source) is first
    # The caller's parse of the source (IPython's) is walked, not parsed again.
    given = analyze_cell("a = b  # not parsed", ast.parse("a = c"))
    assert [(n.kind, n.name) for n in given.nodes] == [("lookup", "c"), ("definition", "a")]
    assert analyze_cell("a = b  # not parsed") is given


def test_an_analysis_crosses_processes_whole_and_a_remembered_one_is_used() -> None:
    """Launchers analyse a notebook's cells ahead and hand the kernel the analyses (recorder.ahead)."""
    import pickle

    from lineage_magic.analysis.cell import remember_analyses

    source = "def grow(items, n):\n    items.append(n)\n    return total\ngrow(data, 3)\n# ahead\n"
    made = analyze_cell(source)
    assert made.functions and made.nodes  # a function's facts travel too
    copy = pickle.loads(pickle.dumps(made, protocol=pickle.HIGHEST_PROTOCOL))
    assert copy == made and copy is not made
    assert dict(copy.functions) == dict(made.functions)
    with pytest.raises(TypeError):
        copy.functions["other"] = copy.functions["grow"]  # still read-only
    plain = analyze_cell("x = 1  # ahead")
    assert pickle.loads(pickle.dumps(plain)).functions == {}

    fresh = "q = grow(data, 4)  # analysed elsewhere\n"
    made_elsewhere = subprocess.run(
        [sys.executable, "-c", "import pickle, sys\nfrom lineage_magic.analysis import analyze_cell\n"
         f"sys.stdout.buffer.write(pickle.dumps(analyze_cell({fresh!r})))"],
        capture_output=True, check=True, timeout=60,
    ).stdout
    ahead = pickle.loads(made_elsewhere)
    other = "r = 2  # analysed elsewhere\n"
    remember_analyses({fresh: ahead, other: "not an analysis", 3: ahead})  # type: ignore[dict-item]
    assert analyze_cell(fresh) is ahead
    assert analyze_cell(other) is not ahead and analyze_cell(other).ok


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(st.characters(exclude_categories=()), max_size=200))
def test_fuzz_arbitrary_text_never_raises(source: str) -> None:
    assert isinstance(analyze_cell(source), CellAnalysis)


_TOKENS = st.sampled_from(
    ["x", "y", "=", "(", ")", "[", "]", ":", "\n", "    ", "for", "in", "lambda", "def", "class",
     ".append", ",", "*", "+=", "del", "if", "else", ":=", "match", "case", "1", "'s'", "{", "}",
     "import", "from", "global", "yield", "async", "await", "with", "as", "try", "except"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_TOKENS, max_size=40).map(" ".join))
def test_fuzz_python_like_tokens_never_raise(source: str) -> None:
    assert isinstance(analyze_cell(source), CellAnalysis)
