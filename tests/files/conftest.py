"""The shared recording shell (``ipshell``), working in a temporary directory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lineage_magic import files


class FilesShell:
    """The recording shell, plus reading the file lineage it recorded."""

    def __init__(self, harness: Any, workdir: Path) -> None:
        self._harness = harness
        self.workdir = workdir

    def __getattr__(self, name: str) -> Any:
        return getattr(self._harness, name)

    @property
    def run_id(self) -> str:
        return self.recorder.run_id

    def last_cell_id(self) -> str:
        """The id of the cell recorded last."""
        return self.cells()[-1].id

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
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory, made current before the shell starts recording."""
    path = tmp_path / "work"
    path.mkdir()
    monkeypatch.chdir(path)
    return path


@pytest.fixture
def fshell(workdir: Path, ipshell: Any) -> Iterator[FilesShell]:
    """The global shell with lineage_magic loaded, its cwd an empty work dir."""
    yield FilesShell(ipshell, workdir)
