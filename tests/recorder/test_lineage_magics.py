"""%lineage subcommands and %%lineage sessions in a real shell."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError
from sqlalchemy import func, select
from sqlalchemy.orm.exc import DetachedInstanceError

import lineage_magic as lm
from lineage_magic.store import tables


def _row_counts(url: str) -> dict[str, int]:
    with lm.Session(url) as ss:
        return {name: ss.orm.scalar(select(func.count()).select_from(t)) for name, t in tables.metadata.tables.items()}


def test_seed_session_flow_through_lineage_cells(ipshell) -> None:  # noqa: ANN001
    ipshell.run(
        "import lineage_magic as lm\n"
        "transform = lm.Transform(name='Transform A')\n"
        "run = lm.Run(name='Solve Problem X', transform=transform)"
    )
    ipshell.run("%%lineage\nss.add(run)")
    ipshell.run("run_queried = lm.select(lm.Run, name='Solve Problem X').first()")
    ns = ipshell.shell.user_ns
    assert ns["run_queried"].transform.name == "Transform A"
    with pytest.raises(DetachedInstanceError):
        ns["run_queried"].inputs
    ipshell.run("%%lineage ss2\nrun_session = ss2.select(lm.Run, name='Solve Problem X').first()\nloaded = run_session.inputs")
    assert ns["loaded"] == [] and ns["run_session"].inputs == []
    assert ns["ss2"].closed
    with pytest.raises(DetachedInstanceError):
        ns["run_session"].outputs
    # Records created in a %%lineage cell remember it.
    cell = ipshell.cell_for("%%lineage\nss.add(run)")
    assert lm.select(lm.Run, name="Solve Problem X").one().created_by_cell_id == cell.id


def test_lineage_cell_rolls_back_on_error_and_with_rollback(ipshell) -> None:  # noqa: ANN001
    ipshell.run("import lineage_magic as lm")
    ipshell.run("%%lineage\nss.add(lm.Transform(name='kept'))")
    ipshell.run("%%lineage --rollback\nss.add(lm.Transform(name='rolled back'))\nss.flush()")
    result = ipshell.run("%%lineage\nss.add(lm.Transform(name='failed'))\nss.flush()\nraise ValueError('no')", ok=False)
    assert isinstance(result.error_in_exec, ValueError)
    ipshell.run("%%lineage\nwith ss.begin_nested() as sp:\n    ss.add(lm.Transform(name='savepoint'))")
    names = {t.name for t in lm.select(lm.Transform).all()}
    assert {"kept", "savepoint"} <= names
    assert not names & {"rolled back", "failed"}


def test_save_and_load_link_values_to_cells_and_runs(ipshell) -> None:  # noqa: ANN001
    ipshell.run("import lineage_magic as lm")
    ipshell.run("data = [3, 1, 2]")
    ipshell.run("data.sort()")
    ipshell.run("%lineage save data")
    ipshell.run("total = sum(data)\nlm.save(total, 'total')")
    ipshell.run("lm.save(total + 1, 'total')")
    ipshell.run("%lineage load total@0 --as first_total")
    ipshell.run("%lineage flush")
    ns = ipshell.shell.user_ns
    assert ns["first_total"] == 6
    run_id = ipshell.recorder.run_id
    data = lm.select(lm.Artifact, name="data").one()
    assert data.run_id == run_id and data.cell_id == ipshell.cell_for("data.sort()").id
    assert lm.select(lm.Node, id=data.node_id).one().name == "data"
    totals = lm.select(lm.Artifact, name="total").order_by(lm.Artifact.version).all()
    assert [t.version for t in totals] == [0, 1]
    # Saved in the cell that computed it: linked once that cell was written.
    assert totals[0].cell_id == ipshell.cell_for("total = sum(data)\nlm.save(total, 'total')").id
    with lm.Session() as ss:
        run = ss.get(lm.Run, run_id)
        assert sorted((a.name, a.version) for a in run.outputs) == [("data", 0), ("total", 0), ("total", 1)]
        assert [(a.name, a.version) for a in run.inputs] == [("total", 0)]


def test_slice_reproduces_variable_and_artifact(ipshell) -> None:  # noqa: ANN001
    ipshell.run("import lineage_magic as lm\nimport math")
    ipshell.run("base = [4, 9, 16]\nnoise = 'unrelated'")
    ipshell.run("roots = [math.sqrt(x) for x in base]")
    ipshell.run("print(noise)")
    ipshell.run("roots.append(5.0)")
    ipshell.run("lm.save(roots, 'roots')")
    ipshell.run("roots.append(6.0)")
    variable_slice = lm.slice("roots")
    artifact_slice = lm.slice("roots@0")
    assert "noise" not in variable_slice and "print" not in variable_slice
    assert "roots.append(6.0)" in variable_slice and "roots.append(6.0)" not in artifact_slice
    for code, expected in ((variable_slice, [2.0, 3.0, 4.0, 5.0, 6.0]), (artifact_slice, [2.0, 3.0, 4.0, 5.0])):
        namespace: dict[str, object] = {}
        exec(code, namespace)  # noqa: S102 - the point of the test: the slice runs alone
        assert namespace["roots"] == expected


def test_stale_lists_cells_whose_inputs_changed(ipshell) -> None:  # noqa: ANN001
    ipshell.run("a = 1")
    ipshell.run("b = a + 1")
    assert lm.stale() == []
    ipshell.run("a = 5")
    report = lm.stale()
    assert [r["source"] for r in report] == ["b = a + 1"]
    assert list(report[0]["changed"]) == ["a"]
    ipshell.run("b = a + 1")
    assert lm.stale() == []


@pytest.mark.parametrize("line, message", [
    ("", None),
    ("bogus", "unknown subcommand"),
    ("status extra", "takes no arguments"),
    ("runs -n 0", "positive"),
    ("runs -n x", "positive"),
    ("cells nosuchrun", "no run with id"),
    ("deps", "required"),
    ("deps never_defined_name", "neither a name"),
    ("save", "required"),
    ("save 'bad name' 1x", "not a variable name"),
    ("save art missing_var", "no variable"),
    ("save 'a@b' x_var", "'@'"),
    ("load", "required"),
    ("load nope", "no saved value"),
    ("load x_var@notanumber", "version"),
    ("load x_var --as 1bad", "not a valid variable name"),
    ("slice", "required"),
    ("slice never_defined_name", "neither a variable"),
    ("stale now", "takes no arguments"),
    ("connect", "one URL"),
    ("connect 'oracle://bob:s3cret@h/x'", "unsupported database"),
    ("show nosuchid", "no"),
    ("pause now", "takes no arguments"),
    ('save "unterminated', "cannot parse"),
])
def test_bad_arguments_raise_usage_error_and_write_nothing(ipshell, line: str, message: str | None) -> None:  # noqa: ANN001
    ipshell.run("x_var = 1")
    ipshell.run("%lineage flush")
    before = _row_counts(ipshell.url)
    if message is None:
        # No subcommand means status: not an error.
        assert "run:" in repr(ipshell.shell.run_line_magic("lineage", line))
        return
    with pytest.raises(UsageError) as info:
        ipshell.shell.run_line_magic("lineage", line)
    assert message in str(info.value)
    assert "s3cret" not in str(info.value)
    ipshell.recorder.flush()
    assert _row_counts(ipshell.url) == before


def test_help_documents_every_subcommand(ipshell) -> None:  # noqa: ANN001
    from lineage_magic.magics import core

    doc = core.LineageMagics.lineage.__doc__
    for name in core._commands():
        assert f"\n  {name}" in doc or f" {name} " in doc, name
    assert "%%lineage [NAME] [--rollback]" in doc


def test_connect_to_unreachable_store_keeps_recording_where_it_was(ipshell) -> None:  # noqa: ANN001
    run_id = ipshell.recorder.run_id
    with pytest.raises(UsageError, match="cannot connect") as info:
        ipshell.shell.run_line_magic("lineage", "connect postgresql://bob:s3cret@127.0.0.1:1/x")
    assert "s3cret" not in str(info.value)
    assert ipshell.recorder.run_id == run_id
    ipshell.run("still = 'recorded'")
    assert "still = 'recorded'" in [c.source for c in _cells_with_source(ipshell)]


def test_connect_switches_store_and_finishes_the_run(ipshell, tmp_path) -> None:  # noqa: ANN001
    old_run = ipshell.recorder.run_id
    other = f"sqlite:///{tmp_path / 'other.db'}"
    ipshell.run(f"%lineage connect {other}")
    ipshell.run("moved = 1")
    ipshell.recorder.flush()
    with lm.Session(ipshell.url) as ss:
        assert ss.get(lm.Run, old_run).status == "finished"
    with lm.Session(other) as ss:
        cells = ss.select(lm.Cell, run_id=ipshell.recorder.run_id).all()
        assert "moved = 1" in [c.source for c in cells]
    ipshell.run(f"%lineage connect {ipshell.url}")


def _cells_with_source(ipshell) -> list[lm.Cell]:  # noqa: ANN001
    ipshell.recorder.flush()
    with lm.Session() as ss:
        cells = ss.select(lm.Cell, run_id=ipshell.recorder.run_id).all()
        for cell in cells:
            _ = cell.source
        return cells


def test_deps_of_a_path_lists_its_versions_and_runs(ipshell, tmp_path) -> None:  # noqa: ANN001
    target = tmp_path / "data.csv"
    ipshell.run(f"import pathlib\npathlib.Path({str(target)!r}).write_text('a,b\\n1,2\\n')")
    ipshell.run(f"rows = pathlib.Path({str(target)!r}).read_text().splitlines()")
    ipshell.recorder.flush()
    table = ipshell.shell.run_line_magic("lineage", f"deps {target}")
    assert table.rows and table.rows[0][3] == ipshell.recorder.run_id
    assert ipshell.recorder.run_id in table.rows[0][4]
    with pytest.raises(UsageError, match="no recorded run"):
        ipshell.shell.run_line_magic("lineage", f"deps {tmp_path / 'never.csv'}")
