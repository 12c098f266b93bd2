"""The lineage-magic command line: each subcommand's happy path, bad input and --json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from lineage_magic.cli import main


def _notebook(path: Path, sources: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, str(path))
    return path


def _json(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 0) -> object:
    capsys.readouterr()
    assert main(argv) == code
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    """A store with one recorded run (made by ``lineage-magic run``): (url, run id, notebook dir)."""
    home = tmp_path_factory.mktemp("cli")
    url = f"sqlite:///{home / 'lineage.db'}"
    nb = _notebook(home / "analysis.ipynb", ["x = 20", "print(x)", "x + 22"])
    out = subprocess.run([sys.executable, "-m", "lineage_magic.cli", "run", str(nb), "--db", url, "--json"],
                         capture_output=True, text=True, check=False, timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["cells"] == 3 and data["errors"] == 0
    return url, data["run_id"], str(home)


pytestmark = pytest.mark.kernel


def test_help_for_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--help"], ["run", "--help"], ["runs", "--help"], ["show", "--help"], ["export", "--help"],
                 ["replay", "--help"], ["diff", "--help"], ["artifacts", "--help"], ["db", "upgrade", "--help"]):
        assert main(argv) == 0
        assert "usage: lineage-magic" in capsys.readouterr().out


def test_run_prints_the_run_id_and_cell_count(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    nb = _notebook(tmp_path / "n.ipynb", ["a = 1", "a + 1"])
    out = tmp_path / "executed.ipynb"
    assert main(["run", str(nb), "-o", str(out), "--db", url]) == 0
    text = capsys.readouterr().out
    assert "2 cells executed, 0 raised" in text and text.startswith("run ")
    assert nbformat.read(str(out), as_version=4).cells[1].outputs[0]["data"]["text/plain"] == "2"


def test_run_exits_1_when_a_cell_raises(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nb = _notebook(tmp_path / "bad.ipynb", ["1 / 0", "'never'"])
    data = _json(capsys, ["run", str(nb), "--db", f"sqlite:///{tmp_path / 'l.db'}", "--json"], code=1)
    assert data["errors"] == 1 and data["run_id"]


def test_runs_show_export_artifacts(recorded: tuple[str, str, str], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    url, run_id, _ = recorded
    assert main(["runs", "--db", url]) == 0
    assert run_id in capsys.readouterr().out
    runs = _json(capsys, ["runs", "-n", "5", "--db", url, "--json"])
    assert runs[0]["id"] == run_id and runs[0]["cells"] == 3
    assert main(["show", run_id[:6], "--db", url]) == 0
    text = capsys.readouterr().out
    assert "transform:" in text and "print(x)" in text
    shown = _json(capsys, ["show", run_id, "--db", url, "--json"])
    cell_id = shown["cells"][1]["id"]
    assert main(["show", cell_id, "--db", url]) == 0
    assert "source:\nprint(x)" in capsys.readouterr().out
    assert _json(capsys, ["show", cell_id, "--db", url, "--json"])["outputs"][0]["text"] == "20\n"
    exported = _json(capsys, ["export", run_id, "-o", str(tmp_path / "e.ipynb"), "--db", url, "--json"])
    assert exported["cells"] == 3
    assert main(["export", run_id, "-o", str(tmp_path / "u.ipynb"), "--upto", "2", "--db", url]) == 0
    assert "wrote 2 cells" in capsys.readouterr().out
    assert _json(capsys, ["artifacts", "--db", url, "--json"]) is not None
    assert main(["artifacts", "--db", url]) == 0
    assert "artifacts" in capsys.readouterr().out


def test_replay_exit_0_when_reproduced_and_diff(recorded: tuple[str, str, str], capsys: pytest.CaptureFixture[str]) -> None:
    url, run_id, _ = recorded
    report = _json(capsys, ["replay", run_id, "--db", url, "--json"])
    assert report["reproduced"] is True and report["matched_count"] == 3
    assert main(["diff", run_id, report["replay_run_id"], "--db", url]) == 0
    assert "identical" in capsys.readouterr().out
    assert _json(capsys, ["diff", run_id, report["replay_run_id"], "--db", url, "--json"])["identical"] is True


def test_replay_exit_1_when_not_reproduced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    nb = _notebook(tmp_path / "noisy.ipynb", ["import random", "random.random()"])
    run_id = _json(capsys, ["run", str(nb), "--db", url, "--json"])["run_id"]
    assert main(["replay", run_id, "--db", url]) == 1
    out = capsys.readouterr().out
    assert "NOT reproduced" in out and "first divergence: seq 1" in out


def test_db_upgrade_prints_revisions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert main(["db", "upgrade", "--db", url]) == 0
    assert "schema at" in capsys.readouterr().out
    data = _json(capsys, ["db", "upgrade", "--db", url, "--json"])
    assert data["before"] == data["after"] and data["after"]


@pytest.mark.parametrize("argv", [
    ["show", "zzzzzzzzzzzz"],
    ["export", "zzzzzzzzzzzz", "-o", "x.ipynb"],
    ["replay", "zzzzzzzzzzzz"],
    ["diff", "zzzzzzzzzzzz", "yyyyyyyyyyyy"],
])
def test_unknown_id_is_exit_2_with_one_line(argv: list[str], recorded: tuple[str, str, str],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    url = recorded[0]
    assert main([*argv, "--db", url]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "zzzzzzzzzzzz" in lines[0] and "Traceback" not in captured.err


@pytest.mark.parametrize("url", ["postgresql://alice:hunter2secret@db.example:notaport/x",
                                 "postgresql://alice:hunter2secret@127.0.0.1:1/x",
                                 "nosuchdb://alice:hunter2secret@host/x"])
def test_bad_url_is_exit_2_and_the_password_is_never_printed(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "--db", url]) == 2
    captured = capsys.readouterr()
    assert "hunter2secret" not in captured.out + captured.err
    assert len(captured.err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv", [[], ["nope"], ["runs", "-n", "0"], ["run"], ["run", "missing.ipynb"],
                                  ["export", "abc"], ["db"]])
def test_bad_arguments_are_exit_2(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*argv, "--db", f"sqlite:///{tmp_path / 'l.db'}"] if argv[:1] == ["run"] and len(argv) > 1 else argv) == 2
    captured = capsys.readouterr()
    assert len(captured.err.strip().splitlines()) == 1 and "Traceback" not in captured.err


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("lineage-magic")
    out = subprocess.run([str(script), "runs", "--help"], capture_output=True, text=True, check=False, timeout=60)
    assert out.returncode == 0 and "--db URL" in out.stdout
