"""In a kernel, each cell is recorded as it left the namespace, the last one included."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

import lineage_magic as lm

CELLS = [
    "x = [1, 2]",
    "x.append(3)\ny = len(x)",
    "x = 'later'",
    "z = x * 2",
]


@pytest.mark.kernel
def test_each_cell_is_recorded_with_the_values_it_left(tmp_path) -> None:  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 'lineage.db'}"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    NotebookClient(nb, kernel_name="python3", extra_arguments=[
        "--ext=lineage_magic", f"--LineageMagic.db_url={url}", "--LineageMagic.run_name=values",
        "--LineageMagic.quiet=True",
    ]).execute()

    with lm.Session(url) as ss:
        run = ss.select(lm.Run, name="values").one()
        cells = sorted(run.cells, key=lambda c: c.seq)
        # The last cell too: its record reaches the store as the kernel shuts down.
        assert [c.source for c in cells] == CELLS
        assert [c.seq for c in cells] == [0, 1, 2, 3]
        assert all(c.status == "ok" and c.duration_ms > 0 for c in cells)
        defined = {(c.seq, n.name): n for c in cells for n in c.nodes if n.kind == "definition"}
        # Taken before the next cell appended to it and rebound it.
        assert defined[0, "x"].value_repr == "[1, 2]"
        assert defined[0, "x"].value_len == 2
        assert defined[1, "y"].value_repr == "3"
        assert defined[2, "x"].value_repr == "'later'"
        assert defined[3, "z"].value_repr == "'laterlater'"
