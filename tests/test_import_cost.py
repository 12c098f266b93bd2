"""Loading stays light: the recorder writes with Core and never needs the ORM."""

from __future__ import annotations

import subprocess
import sys


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


def test_load_ext_does_not_import_the_orm(tmp_path) -> None:  # noqa: ANN001
    modules = _modules_after(
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "result = shell.run_cell('%load_ext lineage_magic')\n"
        "assert result.success\n"
        "shell.run_cell('x = 1')\n",
        tmp_path,
    )
    assert "lineage_magic.recorder.recorder" in modules
    assert "sqlalchemy.orm" not in modules
    assert "lineage_magic.store.models" not in modules
