"""Runs linked through files, end to end: notebooks executed in real kernels with nbclient."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from sqlalchemy import select

import lineage_magic as lm
from lineage_magic import context, files

pytestmark = pytest.mark.kernel


def _run_notebook(sources: list[str], workdir: Path, url: str) -> lm.Run:
    """Execute a notebook of these cells in a fresh kernel with lineage_magic; its run."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    before = _run_ids(url)
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(workdir)}},
        extra_arguments=["--ext=lineage_magic", f"--LineageMagic.db_url={url}", "--LineageMagic.quiet=True"],
    )
    client.execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
    (new,) = set(_run_ids(url)) - set(before)
    with context.open_store(url).session() as session:
        return session.get(lm.Run, new)


def _run_ids(url: str) -> list[str]:
    with context.open_store(url).session() as session:
        return list(session.scalars(select(lm.Run.id)))


WRITE = "import pathlib\npathlib.Path('data.csv').write_text('a,b\\n1,2\\n')"
READ = "with open('data.csv') as f:\n    rows = f.read().splitlines()\nlen(rows)"


def test_reader_run_depends_on_writer_run_and_external_inputs_are_flagged(sqlite_url: str, tmp_path: Path) -> None:
    (tmp_path / "given.txt").write_text("from outside")
    store = context.open_store(sqlite_url)
    writer = _run_notebook([WRITE], tmp_path, sqlite_url)
    reader = _run_notebook([READ, "with open('given.txt') as f:\n    given = f.read()"], tmp_path, sqlite_url)

    assert [r.id for r in files.run_upstream(reader, store)] == [writer.id]
    assert [r.id for r in files.run_downstream(writer, store)] == [reader.id]
    read = {Path(f.path).name: f for f in files.run_files(reader, store)}
    assert set(read) == {"data.csv", "given.txt"}
    assert read["data.csv"].producers == (writer.id,) and not read["data.csv"].external
    assert read["given.txt"].external

    (data,) = files.file_history(tmp_path / "data.csv", store)
    assert [w.run_id for w in data.written_by] == [writer.id]
    assert [r.run_id for r in data.read_by] == [reader.id]
    (given,) = files.file_history(tmp_path / "given.txt", store)
    assert given.external and [r.run_id for r in given.read_by] == [reader.id]
    assert given.read_by[0].cell_id is not None


def test_rewriting_the_file_between_runs_breaks_the_link(sqlite_url: str, tmp_path: Path) -> None:
    store = context.open_store(sqlite_url)
    writer = _run_notebook([WRITE], tmp_path, sqlite_url)
    (tmp_path / "data.csv").write_text("a,b\n9,9\n")  # changed outside any recorded run
    reader = _run_notebook([READ], tmp_path, sqlite_url)

    assert files.run_upstream(reader, store) == []
    (read,) = files.run_files(reader, store)
    assert read.external and read.version == 1
    assert [v.external for v in files.file_history(tmp_path / "data.csv", store)] == [False, True]
    assert files.changed_inputs(writer, reader, store) == [
        (str(tmp_path / "data.csv"), None, read.sha256),
    ]
