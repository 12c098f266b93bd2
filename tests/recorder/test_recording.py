"""Every cell execution is recorded, with its facts, by a real shell."""

from __future__ import annotations

import ast

import lineage_magic as lm
from lineage_magic.recorder import find_recorder


def test_each_cell_recorded_in_order_with_source_and_status(ipshell) -> None:  # noqa: ANN001
    ipshell.run("x = 1")
    ipshell.run("print(x + 1)")
    ipshell.run("1 / 0", ok=False)
    cells = ipshell.cells()
    sources = [c.source_code_id for c in cells]
    assert len(sources) == 4  # the %load_ext cell is recorded too
    with lm.Session() as ss:
        recorded = [(c.source_code.code, c.status, c.error_type) for c in ss.select(lm.Cell, run_id=ipshell.recorder.run_id).order_by(lm.Cell.seq).all()]
    assert recorded[1:] == [("x = 1", "ok", None), ("print(x + 1)", "ok", None), ("1 / 0", "error", "ZeroDivisionError")]
    assert [c.seq for c in cells] == [0, 1, 2, 3]
    assert cells[-1].error_message == "division by zero"
    assert all(c.duration_ms is not None and c.duration_ms >= 0 for c in cells)
    assert [c.execution_count for c in cells[1:]] == [2, 3, 4]


def test_outputs_summarized(ipshell) -> None:  # noqa: ANN001
    ipshell.run("print('hello')")
    ipshell.run("21 * 2")
    cells = ipshell.cells()
    stream, result = cells[-2].outputs, cells[-1].outputs
    assert stream[0]["output_type"] == "stream" and stream[0]["text"] == "hello\n"
    assert result[0]["output_type"] == "execute_result" and result[0]["text"] == "42"
    assert "text/plain" in result[0]["mime"]


def test_identical_sources_stored_once(ipshell) -> None:  # noqa: ANN001
    for _ in range(3):
        ipshell.run("y = 2")
    cells = ipshell.cells()[-3:]
    assert len({c.source_code_id for c in cells}) == 1
    assert len(lm.select(lm.SourceCode, id=cells[0].source_code_id).all()) == 1


def test_empty_and_silent_cells_are_not_recorded(ipshell) -> None:  # noqa: ANN001
    before = len(ipshell.cells())
    ipshell.shell.run_cell("   \n", store_history=True)
    ipshell.shell.run_cell("z = 3", silent=True)
    assert len(ipshell.cells()) == before


def test_nodes_with_value_summaries_and_library_versions(ipshell) -> None:  # noqa: ANN001
    ipshell.run("import sqlalchemy as sa\nimport json\nitems = [1, 2, 3]\nitems.append(4)")
    cell = ipshell.cells()[-1]
    nodes = lm.select(lm.Node, cell_id=cell.id).order_by(lm.Node.position).all()
    kinds = [(type(n).__name__, n.name) for n in nodes]
    assert ("ImportNode", "sa") in kinds and ("ImportNode", "json") in kinds
    assert ("DefinitionNode", "items") in kinds and ("MutationNode", "items") in kinds
    sa_node = next(n for n in nodes if n.name == "sa")
    import sqlalchemy

    assert sa_node.module == "sqlalchemy" and sa_node.library_version == sqlalchemy.__version__
    mutation = next(n for n in nodes if isinstance(n, lm.MutationNode))
    assert mutation.value_type == "list" and mutation.value_repr == "[1, 2, 3, 4]" and mutation.value_len == 4
    libraries = {(lib.name, lib.version) for lib in lm.select(lm.Library, run_id=ipshell.recorder.run_id).all()}
    assert ("sqlalchemy", sqlalchemy.__version__) in libraries
    assert not any(name == "json" for name, _ in libraries)


def test_dependencies_across_cells(ipshell) -> None:  # noqa: ANN001
    ipshell.run("a = [1]")
    ipshell.run("b = 10")
    ipshell.run("a.append(b)")
    ipshell.run("total = sum(a)")
    assert ipshell.parents_of("a.append(b)") == ["a = [1]", "b = 10"]
    assert ipshell.parents_of("total = sum(a)") == ["a.append(b)"]
    upstream = [c.seq for c in lm.upstream("total")]
    assert upstream == [c.seq for c in ipshell.cells()[1:5]]
    downstream_of_b = lm.downstream(ipshell.cell_for("b = 10"))
    assert [c.id for c in downstream_of_b] == [ipshell.cell_for(s).id for s in ("a.append(b)", "total = sum(a)")]


def test_rerun_and_redefinition_are_truthful(ipshell) -> None:  # noqa: ANN001
    ipshell.run("n = 1")
    ipshell.run("m = n * 2")
    ipshell.run("n = 5")
    ipshell.run("m = n * 2")
    cells = ipshell.cells()
    with lm.Session() as ss:
        second_m = ss.get(lm.Cell, cells[-1].id)
        assert [p.id for p in second_m.parents] == [cells[-2].id]
        first_m = ss.get(lm.Cell, cells[-3].id)
        assert [p.id for p in first_m.parents] == [cells[-4].id]


def test_cell_that_raised_halfway_defines_only_what_ran(ipshell) -> None:  # noqa: ANN001
    ipshell.run("p = 1\nraise ValueError('stop')\nq = 2", ok=False)
    ipshell.run("print(p)")
    assert ipshell.parents_of("print(p)") == ["p = 1\nraise ValueError('stop')\nq = 2"]
    cell = ipshell.cell_for("p = 1\nraise ValueError('stop')\nq = 2")
    assert cell.status == "error" and cell.error_type == "ValueError"
    assert "q" not in ipshell.shell.user_ns


def test_writefile_and_run_link_cells(ipshell, tmp_path) -> None:  # noqa: ANN001
    script = tmp_path / "script.py"
    writer = f"%%writefile {script}\nfrom_script = 41\n"
    ipshell.run(writer)
    runner = f"%run {script}"
    ipshell.run(runner)
    ipshell.run("answer = from_script + 1")
    assert ipshell.parents_of(runner) == [writer]
    assert ipshell.parents_of("answer = from_script + 1") == [runner]


def test_syntax_error_and_ipython_syntax_still_recorded(ipshell) -> None:  # noqa: ANN001
    ipshell.run("def broken(:\n    pass", ok=False)
    ipshell.run("files = !echo hi")
    ipshell.run("%time w = 1")
    cells = ipshell.cells()[-3:]
    assert [c.status for c in cells] == ["error", "ok", "ok"]
    assert cells[0].error_type == "SyntaxError"


def _recorded_nodes(ipshell, source: str) -> list[tuple[str, str]]:  # noqa: ANN001
    cell = ipshell.cell_for(source)
    return [(n.kind, n.name) for n in lm.select(lm.Node, cell_id=cell.id).order_by(lm.Node.position).all()]


def test_the_cell_is_analysed_from_ipythons_own_parse(ipshell) -> None:  # noqa: ANN001
    shell = ipshell.shell
    assert "ast_parse" in vars(shell.compile)
    flags = shell.compile.flags
    try:
        # Only IPython's parse, which keeps the cell's __future__ flags, accepts this.
        ipshell.run("from __future__ import barry_as_FLUFL")
        ipshell.run("differs = 1 <> 2")
    finally:
        shell.compile.flags = flags
    assert _recorded_nodes(ipshell, "differs = 1 <> 2") == [("definition", "differs")]


def test_what_ipython_adds_to_or_changes_in_its_tree_is_not_recorded(ipshell) -> None:  # noqa: ANN001
    shell = ipshell.shell
    # This mode appends an expression statement "shown" to IPython's tree.
    shell.ast_node_interactivity = "last_expr_or_assign"
    try:
        ipshell.run("shown = 41 + 1")
    finally:
        shell.ast_node_interactivity = "last_expr"
    assert _recorded_nodes(ipshell, "shown = 41 + 1") == [("definition", "shown")]

    class Rename(ast.NodeTransformer):  # edits the tree in place, as transformers do
        def visit_Name(self, node: ast.Name) -> ast.Name:
            node.id = {"source_name": "renamed"}.get(node.id, node.id)
            return node

    shell.ast_transformers.append(Rename())
    try:
        ipshell.run("source_name = 1")
    finally:
        shell.ast_transformers.pop()
    assert "renamed" in shell.user_ns
    assert _recorded_nodes(ipshell, "source_name = 1") == [("definition", "source_name")]


def test_unload_removes_hooks_and_magics_and_prints_nothing(ipshell, capsys) -> None:  # noqa: ANN001
    shell = ipshell.shell
    recorder = ipshell.recorder
    run_id = recorder.run_id
    ipshell.run("%load_ext lineage_magic")  # loading twice is harmless
    assert find_recorder(shell) is recorder
    shell.run_cell("%unload_ext lineage_magic")
    assert find_recorder(shell) is None
    assert "lineage" not in shell.magics_manager.magics["line"]
    assert recorder.post_run_cell not in shell.events.callbacks["post_run_cell"]
    assert "ast_parse" not in vars(shell.compile)  # IPython's own parse again
    run = lm.select(lm.Run, id=run_id).one()
    assert run.status == "finished" and run.finished_at is not None
    count = len(lm.select(lm.Cell, run_id=run_id).all())
    capsys.readouterr()
    shell.run_cell("after_unload = 1", store_history=True)
    assert capsys.readouterr().out == ""
    assert len(lm.select(lm.Cell, run_id=run_id).all()) == count
    shell.run_cell("%load_ext lineage_magic")  # the fixture unloads again


def test_current_run_and_transform(ipshell) -> None:  # noqa: ANN001
    run = lm.current_run()
    assert run is not None and run.id == ipshell.recorder.run_id
    assert run.status == "running" and run.transform.name == "ipython-session"
    assert run.python_version and run.host and run.pid


def test_paused_cells_are_not_recorded(ipshell) -> None:  # noqa: ANN001
    ipshell.run("%lineage pause")
    ipshell.run("hidden = 1")
    ipshell.run("%lineage resume")
    ipshell.run("shown = 1")
    with lm.Session() as ss:
        codes = [c.source_code.code for c in ss.select(lm.Cell, run_id=ipshell.recorder.run_id).all()]
    assert "hidden = 1" not in codes and "shown = 1" in codes


def test_hook_failure_is_contained_and_reported_once(ipshell, capsys) -> None:  # noqa: ANN001
    recorder = ipshell.recorder

    class Broken:
        def process(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("analysis exploded")

        def reset(self) -> None:
            pass

    recorder.tracker = Broken()
    capsys.readouterr()
    results = [ipshell.shell.run_cell(f"v{i} = {i}", store_history=True) for i in range(4)]
    assert all(r.success for r in results)
    assert ipshell.shell.user_ns["v3"] == 3
    err = capsys.readouterr().err
    assert err.count("recording problem") == 1
    assert "switched off" in err and "Traceback" not in err
    assert recorder.paused and recorder.hook_failures == 3
