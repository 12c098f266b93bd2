"""%lineage export / replay [--here] / diff in a real IPython shell."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from replay_helpers import record, write_notebook

from lineage_magic import context
from lineage_magic.replay import ReplayReport, RunDiff
from lineage_magic.recorder import find_recorder

pytestmark = pytest.mark.kernel


@pytest.fixture
def shell(sqlite_url: str) -> Iterator[InteractiveShell]:
    """The global shell with the extension recording into an empty SQLite store."""
    ip = InteractiveShell.instance()
    ip.reset(new_session=True)
    ip.config.LineageMagic.db_url = sqlite_url
    ip.config.LineageMagic.quiet = True
    ip.run_cell("%load_ext lineage_magic", store_history=True)
    yield ip
    ip.run_cell("%unload_ext lineage_magic")
    del ip.config.LineageMagic


def _magic(ip: InteractiveShell, line: str) -> object:
    return ip.run_line_magic("lineage", line)


def test_export_replay_and_diff_magics(shell: InteractiveShell, sqlite_url: str, tmp_path: Path) -> None:
    store = context.open_store(sqlite_url)
    run_id = record(write_notebook(tmp_path / "m.ipynb", ["x = 20", "print(x)", "x + 22"]), store)
    out = tmp_path / "out.ipynb"
    message = _magic(shell, f"export {run_id} -o {out} --upto 2")
    assert str(out) in repr(message)
    assert len(nbformat.read(str(out), as_version=4).cells) == 2
    report = _magic(shell, f"replay {run_id[:8]}")
    assert isinstance(report, ReplayReport) and report.reproduced
    result = _magic(shell, f"diff {run_id} {report.replay_run_id}")
    assert isinstance(result, RunDiff) and result.identical


def test_replay_here_runs_the_cells_in_this_shell(shell: InteractiveShell, sqlite_url: str, tmp_path: Path) -> None:
    store = context.open_store(sqlite_url)
    run_id = record(write_notebook(tmp_path / "h.ipynb", ["here = 20", "print(here)", "here + 22"]), store)
    result = shell.run_cell(f"report = %lineage replay {run_id} --here", store_history=True)
    assert result.success, result.error_in_exec
    report = shell.user_ns["report"]
    assert isinstance(report, ReplayReport)
    assert report.reproduced, str(report)
    assert report.replay_run_id == find_recorder(shell).run_id
    assert shell.user_ns["here"] == 20


def test_bad_arguments_are_usage_errors(shell: InteractiveShell) -> None:
    with pytest.raises(UsageError, match="export"):
        _magic(shell, "export")
    with pytest.raises(UsageError, match="no run"):
        _magic(shell, "replay zzzzzzzzzz")
    with pytest.raises(UsageError, match="diff"):
        _magic(shell, "diff onlyone")
    with pytest.raises(UsageError, match="positive whole number"):
        _magic(shell, "replay abc --timeout 0")
