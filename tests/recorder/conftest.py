"""A real IPython shell with the extension loaded on a fresh store, per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

import lineage_magic as lm


class ShellHarness:
    """Runs cells in the global InteractiveShell and reads what was recorded."""

    def __init__(self, shell: InteractiveShell, url: str) -> None:
        self.shell = shell
        self.url = url

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

    def cells(self) -> list[lm.Cell]:
        """The cells recorded in the current run, in order."""
        self.recorder.flush()
        return lm.select(lm.Cell, run_id=self.recorder.run_id).order_by(lm.Cell.seq).all()

    def cell_for(self, source: str) -> lm.Cell:
        """The last recorded execution of a cell with this source."""
        with lm.Session() as ss:
            matches = [c for c in ss.select(lm.Cell, run_id=self.recorder.run_id).order_by(lm.Cell.seq).all()
                       if c.source_code.code == source]
        assert matches, f"no recorded cell with source {source!r}"
        return matches[-1]

    def parents_of(self, source: str) -> list[str]:
        """Sources of the recorded parents of the last execution of ``source``."""
        self.recorder.flush()
        cell = self.cell_for(source)
        with lm.Session() as ss:
            me = ss.get(lm.Cell, cell.id)
            return [p.source_code.code for p in me.parents]


@pytest.fixture
def ipshell(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> Iterator[ShellHarness]:
    """The global shell with lineage_magic loaded on an empty SQLite store."""
    shell = InteractiveShell.instance()
    shell.reset(new_session=True)
    shell.execution_count = 1
    shell.config.LineageMagic.db_url = sqlite_url
    shell.config.LineageMagic.quiet = True
    shell.run_cell("%load_ext lineage_magic", store_history=True)
    capsys.readouterr()
    harness = ShellHarness(shell, sqlite_url)
    yield harness
    shell.run_cell("%unload_ext lineage_magic")
    del shell.config.LineageMagic
