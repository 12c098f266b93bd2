"""Outputs a cell shows in a real kernel are summarized on its record."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

import lineage_magic as lm


@pytest.mark.kernel
def test_streams_displays_and_results_are_recorded_in_a_kernel(tmp_path) -> None:  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 'lineage.db'}"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "from IPython.display import HTML, display\n"
        "print('before')\n"
        "display(HTML('<b>shown</b>'))\n"
        "21 * 2"
    )]
    NotebookClient(nb, kernel_name="python3", extra_arguments=[
        "--ext=lineage_magic", f"--LineageMagic.db_url={url}", "--LineageMagic.run_name=outputs",
        "--LineageMagic.quiet=True",
    ]).execute()
    with lm.Session(url) as ss:
        (cell,) = ss.select(lm.Run, name="outputs").one().cells
        outputs = cell.outputs
    kinds = [o["output_type"] for o in outputs]
    assert kinds == ["stream", "display_data", "execute_result"]
    assert outputs[0]["text"] == "before\n"
    assert outputs[1]["mime"] == ["text/html", "text/plain"]
    assert outputs[2]["text"] == "42"
