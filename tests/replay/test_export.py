"""export_notebook: a recorded run rebuilt as a valid v4.5 notebook, in execution order."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

import lineage_magic as lm
from lineage_magic.exceptions import InvalidQueryError, RecordNotFoundError
from lineage_magic.replay import export_notebook
from lineage_magic.replay._client import LineageClient
from lineage_magic.replay.replay import kernel_arguments
from lineage_magic.store.engine import Store

from replay_helpers import record, write_notebook

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, list[str]]:
    """One run, recorded once for the module: cell 1 is executed twice, then an error."""
    home = tmp_path_factory.mktemp("export")
    url = f"sqlite:///{home / 'lineage.db'}"
    store = Store(url)
    path = write_notebook(home / "analysis.ipynb", ["x = 1", "x += 1\nprint(x)", "x * 10", "1 / 0"])
    nb = nbformat.read(str(path), as_version=4)
    args, env = kernel_arguments(store, notebook_path=str(path), run_name="reexecuted")
    client = LineageClient(nb, kernel_name="python3", timeout=60, allow_errors=True, extra_arguments=args,
                           resources={"metadata": {"path": str(home)}})
    with client.setup_kernel(env=env):
        for index in (0, 1, 1, 2, 3):
            client.execute_cell(nb.cells[index], index)
    with store.session() as session:
        run_id = session.scalars(lm.select(lm.Run, name="reexecuted")._statement()).one().id
    store.dispose()
    return url, run_id, [cell.id for cell in nb.cells]


@pytest.fixture
def exported(recorded: tuple[str, str, list[str]], tmp_path: Path) -> tuple[nbformat.NotebookNode, str, list[str]]:
    url, run_id, ids = recorded
    lm.connect(url)
    path = export_notebook(run_id, tmp_path / "out.ipynb")
    return nbformat.read(str(path), as_version=4), run_id, ids


def test_export_is_a_valid_v45_notebook(exported: tuple[nbformat.NotebookNode, str, list[str]]) -> None:
    nb, run_id, _ = exported
    nbformat.validate(nb)
    assert (nb.nbformat, nb.nbformat_minor) >= (4, 5)
    assert nb.metadata["lineage"]["run"] == run_id


def test_cells_in_execution_order_with_reexecutions(exported: tuple[nbformat.NotebookNode, str, list[str]]) -> None:
    nb, run_id, ids = exported
    assert [c.source for c in nb.cells] == ["x = 1", "x += 1\nprint(x)", "x += 1\nprint(x)", "x * 10", "1 / 0"]
    assert [c.execution_count for c in nb.cells] == [1, 2, 3, 4, 5]
    cell_ids = [c.id for c in nb.cells]
    assert len(set(cell_ids)) == 5
    assert cell_ids[0] == ids[0] and cell_ids[1] == ids[1] and cell_ids[3] == ids[2] and cell_ids[4] == ids[3]
    assert cell_ids[2].startswith(ids[1] + "-")  # the re-execution: recognisable, unique


def test_outputs_and_metadata_as_recorded(exported: tuple[nbformat.NotebookNode, str, list[str]]) -> None:
    nb, run_id, _ = exported
    assert nb.cells[0].outputs == []
    assert [(o.output_type, o.name, o.text) for o in nb.cells[1].outputs] == [("stream", "stdout", "2\n")]
    assert [(o.output_type, o.name, o.text) for o in nb.cells[2].outputs] == [("stream", "stdout", "3\n")]
    result = nb.cells[3].outputs[0]
    assert result.output_type == "execute_result" and result.data["text/plain"] == "30"
    assert result.execution_count == 4
    error = nb.cells[4].outputs[-1]
    assert (error.output_type, error.ename) == ("error", "ZeroDivisionError")
    recorded = lm.select(lm.Cell, run_id=run_id).order_by(lm.Cell.seq).all()
    assert [c.metadata["lineage"]["cell"] for c in nb.cells] == [c.id for c in recorded]
    assert {c.metadata["lineage"]["run"] for c in nb.cells} == {run_id}
    assert [c.metadata["lineage"]["status"] for c in nb.cells] == ["ok"] * 4 + ["error"]


def test_upto_execution_count_and_cell_id(recorded: tuple[str, str, list[str]], tmp_path: Path) -> None:
    url, run_id, _ = recorded
    lm.connect(url)
    nb = nbformat.read(str(export_notebook(run_id, tmp_path / "a.ipynb", upto=3)), as_version=4)
    assert [c.execution_count for c in nb.cells] == [1, 2, 3]
    third = lm.select(lm.Cell, run_id=run_id, seq=3).one()
    nb = nbformat.read(str(export_notebook(run_id, tmp_path / "b.ipynb", upto=third.id)), as_version=4)
    assert [c.execution_count for c in nb.cells] == [1, 2, 3, 4]


def test_only_given_cells_for_slices(recorded: tuple[str, str, list[str]], tmp_path: Path) -> None:
    url, run_id, _ = recorded
    lm.connect(url)
    first = lm.select(lm.Cell, run_id=run_id, seq=0).one()
    nb = nbformat.read(str(export_notebook(run_id, tmp_path / "s.ipynb", cells=[first, 3])), as_version=4)
    assert [c.source for c in nb.cells] == ["x = 1", "x * 10"]


def test_run_by_unique_prefix_and_by_name(recorded: tuple[str, str, list[str]], tmp_path: Path) -> None:
    url, run_id, _ = recorded
    lm.connect(url)
    assert export_notebook(run_id[:6], tmp_path / "p.ipynb").exists()
    assert export_notebook("reexecuted", tmp_path / "n.ipynb").exists()
    run = lm.select(lm.Run, id=run_id).one()
    assert export_notebook(run, tmp_path / "r.ipynb").exists()


def test_bad_input_is_a_named_error_and_writes_nothing(recorded: tuple[str, str, list[str]], tmp_path: Path) -> None:
    url, run_id, _ = recorded
    lm.connect(url)
    with pytest.raises(RecordNotFoundError, match="no run"):
        export_notebook("zzzzzzzz", tmp_path / "x.ipynb")
    with pytest.raises(InvalidQueryError, match="upto"):
        export_notebook(run_id, tmp_path / "x.ipynb", upto="not-a-cell")
    with pytest.raises(InvalidQueryError, match="not top-level cells"):
        export_notebook(run_id, tmp_path / "x.ipynb", cells=["nope"])
    with pytest.raises(InvalidQueryError, match="does not exist"):
        export_notebook(run_id, tmp_path / "missing" / "x.ipynb")
    assert not (tmp_path / "x.ipynb").exists()


def test_notebook_cell_ids_are_recorded_through_nbclient(store: Store, tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "ids.ipynb", ["a = 1", "a + 1"])
    run_id = record(path, store)
    ids = [c.id for c in nbformat.read(str(path), as_version=4).cells]
    cells = lm.select(lm.Cell, run_id=run_id).order_by(lm.Cell.seq).all()
    assert [c.notebook_cell_id for c in cells] == ids
