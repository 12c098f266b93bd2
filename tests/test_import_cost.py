"""Loading stays light: the kernel records without SQLAlchemy; a writer thread needs Core, never the ORM."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import select

import lineage_magic as lm


def _modules_after(code: str, tmp_path) -> set[str]:  # noqa: ANN001
    script = code + "\nimport sys\nprint('\\n'.join(sorted(sys.modules)))\n"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True,
        env={"LINEAGE_MAGIC_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    ).stdout
    return set(out.split())


def test_import_lineage_magic_does_not_import_sqlalchemy(tmp_path) -> None:  # noqa: ANN001
    modules = _modules_after("import lineage_magic", tmp_path)
    assert "lineage_magic" in modules
    assert "sqlalchemy" not in modules


def test_recording_cells_imports_no_sqlalchemy_in_the_kernel(tmp_path) -> None:  # noqa: ANN001
    """The default writer is a child process: the shell records and flushes without SQLAlchemy."""
    modules = _modules_after(
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "from lineage_magic.recorder import find_recorder\n"
        "shell = InteractiveShell.instance()\n"
        "result = shell.run_cell('%load_ext lineage_magic')\n"
        "assert result.success\n"
        "shell.run_cell('import json\\nx = 1', store_history=True)\n"
        "shell.run_cell('y = x + 1', store_history=True)\n"
        "assert find_recorder(shell).flush(30.0)\n",
        tmp_path,
    )
    assert "lineage_magic.recorder.recorder" in modules
    assert not {m for m in modules if m.split(".")[0] == "sqlalchemy"}
    store = lm.connect(f"sqlite:///{tmp_path / 'lineage.db'}")
    try:
        with store.session() as session:
            sources = [c.source for c in session.scalars(select(lm.Cell).order_by(lm.Cell.seq))]
    finally:
        store.dispose()
    assert sources == ["%load_ext lineage_magic", "import json\nx = 1", "y = x + 1"]


def test_load_ext_with_a_writer_thread_does_not_import_the_orm(tmp_path) -> None:  # noqa: ANN001
    modules = _modules_after(
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "shell.run_line_magic('config', 'LineageMagic.writer_process = False')\n"
        "result = shell.run_cell('%load_ext lineage_magic')\n"
        "assert result.success\n"
        "shell.run_cell('x = 1')\n",
        tmp_path,
    )
    assert "lineage_magic.recorder.recorder" in modules
    assert "sqlalchemy.orm" not in modules
    assert "lineage_magic.store.models" not in modules
