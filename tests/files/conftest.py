"""A real IPython shell with lineage_magic loaded, working in a temporary directory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from lineage_magic import files


class FilesShell:
    """Runs cells in the global InteractiveShell and reads the file lineage recorded."""

    def __init__(self, shell: InteractiveShell, url: str, workdir: Path) -> None:
        self.shell = shell
        self.url = url
        self.workdir = workdir

    def run(self, source: str, *, ok: bool = True) -> Any:
        """Run a cell as a front end would (stored in history)."""
        result = self.shell.run_cell(source, store_history=True)
        if ok and not result.success:
            raise AssertionError(f"cell failed: {source!r}: {result.error_before_exec or result.error_in_exec!r}")
        return result

    @property
    def recorder(self) -> Any:
        from lineage_magic.recorder import find_recorder

        return find_recorder(self.shell)

    @property
    def run_id(self) -> str:
        return self.recorder.run_id

    def last_cell_id(self) -> str:
        """The id of the cell recorded last."""
        import lineage_magic as lm

        self.recorder.flush()
        return lm.select(lm.Cell, run_id=self.run_id).order_by(lm.Cell.seq.desc()).first().id

    def files(self) -> dict[tuple[str, str], files.RunFile]:
        """This run's files by (name relative to the work dir, direction)."""
        self.recorder.flush()
        found = {}
        for f in files.run_files(self.run_id):
            rel = os.path.relpath(f.path, self.workdir)
            found[(rel, f.direction)] = f
        return found

    def history(self, name: str) -> list[files.FileVersion]:
        """Every recorded version of a file in the work dir."""
        self.recorder.flush()
        return files.file_history(self.workdir / name)


@pytest.fixture
def fshell(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
           capsys: pytest.CaptureFixture[str]) -> Iterator[FilesShell]:
    """The global shell with lineage_magic loaded, its cwd an empty work dir."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    shell = InteractiveShell.instance()
    shell.reset(new_session=True)
    shell.execution_count = 1
    shell.config.LineageMagic.db_url = sqlite_url
    shell.config.LineageMagic.quiet = True
    shell.run_cell("%load_ext lineage_magic", store_history=True)
    capsys.readouterr()
    yield FilesShell(shell, sqlite_url, workdir)
    shell.run_cell("%unload_ext lineage_magic")
    del shell.config.LineageMagic
