"""Cell sources the analysis must survive, SQL injection, passwords in URLs, pickle opt-in, file modes."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import stat
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from reliability_helpers import postgres_database
from sqlalchemy import create_engine, inspect, make_url, text

import lineage_magic as lm
from lineage_magic import cli
from lineage_magic.exceptions import LineageError, PickleRefusedError
from lineage_magic.recorder import find_recorder
from lineage_magic.store.engine import Store
from lineage_magic.values import load_value, save_value

TABLES = {"users", "transforms", "runs", "cells", "source_code", "nodes", "edges", "artifacts", "libraries"}


@contextlib.contextmanager
def recording(url: str, *, quiet: bool = True, run_name: str = "") -> Iterator[Any]:
    """The global shell recording into ``url``."""
    shell = InteractiveShell.instance()
    # IPython's own history cannot write a lone surrogate left by a bare run.
    shell.history_manager.db_input_cache.clear()
    shell.history_manager.db_output_cache.clear()
    shell.reset(new_session=True)
    shell.config.LineageMagic.db_url = url
    shell.config.LineageMagic.quiet = quiet
    shell.config.LineageMagic.run_name = run_name
    shell.run_cell("%load_ext lineage_magic", store_history=True)
    try:
        yield shell
    finally:
        shell.run_cell("%unload_ext lineage_magic")
        del shell.config.LineageMagic


HOSTILE_SOURCES = {
    "long line": "s = '" + "x" * 200_000 + "'\nlen(s)",
    "deep nesting": "v = " + "[" * 90 + "1" + "]" * 90 + "\nlen(v)",
    "deep expression": "w = " + "(1 + " * 180 + "1" + ")" * 180,
    "ten megabytes": "big = 1\n" + "# " + "y" * (10 * 2**20) + "\nbig",
    "invalid syntax": "def broken(:\n    pass",
    "lone surrogate": "bad = '\\ud800'\nlen(bad)",
    "literal surrogate": "raw = '\ud800x'",
    "null byte": "nul = 'a\\x00b'\nlen(nul)",
    "literal null": "z = 1 # \x00",
    "deep blocks": "".join("    " * i + "if True:\n" for i in range(60)) + "    " * 60 + "deep = 1",
}


def _outcome(shell: Any, source: str) -> tuple[bool, str | None, str]:
    result = shell.run_cell(source, store_history=True)
    error = result.error_before_exec or result.error_in_exec
    return result.success, type(error).__name__ if error else None, repr(result.result)[:200]


@pytest.mark.parametrize("name", sorted(HOSTILE_SOURCES))
def test_hostile_cell_sources_are_recorded_and_behave_as_without_us(name: str, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Each cell runs exactly as it does without the extension, and is recorded."""
    source = HOSTILE_SOURCES[name]
    shell = InteractiveShell.instance()
    shell.reset(new_session=True)
    try:
        bare = _outcome(shell, source)
        with recording(f"sqlite:///{tmp_path / 'lineage.db'}") as shell:
            capsys.readouterr()
            recorded = _outcome(shell, source)
            follow = shell.run_cell("after = 1", store_history=True)
            recorder = find_recorder(shell)
            assert recorder.flush(60)
            cells = lm.select(lm.Cell, run_id=recorder.run_id).order_by(lm.Cell.seq).all()
            assert recorder.hook_failures == 0 and recorder.writer.stats.rejected == 0
    finally:
        # IPython's own history cannot write a lone surrogate: keep it out of the next reset.
        shell.history_manager.db_input_cache.clear()
        shell.history_manager.db_output_cache.clear()
    assert recorded == bare and follow.success
    assert "lineage_magic" not in capsys.readouterr().err
    cells = [c for c in cells if c.seq > 0]  # seq 0 is the %load_ext cell
    assert len(cells) == 2
    assert cells[0].status == ("ok" if bare[0] else "error") and cells[0].error_type == bare[1]
    with lm.Session(f"sqlite:///{tmp_path / 'lineage.db'}") as ss:
        code = ss.get(lm.Cell, cells[0].id).source_code.code
    assert len(code) >= len(source) - 10 and code.count("\n") == source.count("\n")


INJECTIONS = ["x'; DROP TABLE runs; --", "' OR '1'='1", "\" OR 1=1 --", "%' OR 'a' LIKE '%", "_%", "runs; DELETE FROM cells",
              "Robert'); DROP TABLE cells;--", "\\'; --"]


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_sql_injection_in_names_and_filters_is_stored_literally(db_url: str, tmp_path: Path) -> None:
    """Artifact names, run names, ids, search strings and select filters are bound parameters, on every backend."""
    store = lm.connect(db_url)
    with store.session(write=True) as session:
        for i, name in enumerate(INJECTIONS):
            save_value(session, {"i": i}, name, run_id=None, max_bytes=2**20, inline_max=2**16, blob_dir=tmp_path)
        session.commit()
    linedb = lm.LineageDB(store=store)
    try:
        for i, name in enumerate(INJECTIONS):
            assert linedb.get_artifact_by_name(name).name == name
            assert linedb.get_latest_artifact_version(name) == 0
            assert [a.name for a in lm.select(lm.Artifact, name=name).all()] == [name]
            with store.session() as session:
                assert load_value(session, name)[0] == {"i": i}
            assert lm.select(lm.Run, id=name).all() == []
            assert lm.select(lm.Cell, run_id=name, status=name).all() == []
            with pytest.raises(LineageError):
                linedb.get_node_by_id(name)
    finally:
        linedb.close()
    from lineage_magic.views.data import list_runs

    for needle in INJECTIONS:
        list_runs(store, search=needle)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            assert cli.main(["show", needle, "--db", db_url]) == 2
            assert cli.main(["artifacts", "--name", needle, "--db", db_url]) == 0
    assert TABLES <= _tables(db_url)
    assert len(lm.select(lm.Artifact).all()) == len(INJECTIONS)


def test_sql_injection_through_recorded_cells_and_run_names(tmp_path: Path) -> None:
    """A run named like an injection, and cells full of SQL, are recorded as text and break nothing."""
    url = f"sqlite:///{tmp_path / 'lineage.db'}"
    with recording(url, run_name=INJECTIONS[0]) as shell:
        for injection in INJECTIONS:
            assert shell.run_cell(f"q = {injection!r}", store_history=True).success
        for line in (f"cells {INJECTIONS[1]!r}", f"deps {INJECTIONS[0]!r}"):
            with pytest.raises(UsageError):
                shell.run_line_magic("lineage", line)
        assert find_recorder(shell).flush(30)
    run = lm.select(lm.Run, url=url, name=INJECTIONS[0]).one()
    with lm.Session(url) as ss:
        codes = [c.source_code.code for c in ss.select(lm.Cell, run_id=run.id).order_by(lm.Cell.seq).all()]
    assert codes[1:] == [f"q = {i!r}" for i in INJECTIONS]  # after %load_ext
    assert TABLES <= _tables(url)


# -- passwords -----------------------------------------------------------------

SECRET = "s3cretPW-9"


@pytest.fixture
def password_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh database reached as a role with a password (trust auth may ignore it; masking must not)."""
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    role = f"lm_pw_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD '{SECRET}'"))
    try:
        with postgres_database(postgres_admin_url, "lm_pw") as url:
            with admin.connect() as conn:
                conn.execute(text(f"ALTER DATABASE {make_url(url).database} OWNER TO {role}"))
            yield make_url(url).set(username=role, password=SECRET).render_as_string(hide_password=False)
            from lineage_magic import context

            for key, store in list(context._context.stores.items()):
                if role in key:
                    context.forget_store(store)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
        admin.dispose()


def _everything_said(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    out = capsys.readouterr()
    return "\n".join([out.out, out.err, caplog.text, *(r.getMessage() for r in caplog.records), *extra])


@pytest.mark.server
def test_passwords_never_appear_in_reprs_logs_errors_status_or_cli(password_url: str, tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A reachable URL with a password and an unreachable one: masked in every place text is shown."""
    caplog.set_level(logging.DEBUG)
    unreachable = f"postgresql://bob:{SECRET}@127.0.0.1:1/x"
    said: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store = lm.connect(password_url)
        said += [repr(store), str(store.url.__repr__()), repr(lm.Session()), store.masked_url]
        for bad in (unreachable, unreachable.replace("postgresql", "mysql"), unreachable + "?x=1"):
            with pytest.raises(LineageError) as err:
                Store(bad)
            said += [str(err.value), repr(err.value)]
        with recording(password_url, quiet=False) as shell:
            shell.run_cell("a = 1", store_history=True)
            said.append(repr(shell.run_line_magic("lineage", "status")))
            said.append(repr(shell.run_line_magic("lineage", "runs")))
            with pytest.raises(Exception) as err:
                shell.run_line_magic("lineage", f"connect {unreachable}")
            said.append(str(err.value))
        with recording(unreachable, quiet=False) as shell:
            shell.run_cell("b = 2", store_history=True)
            shell.run_cell("c = 3", store_history=True)
            said.append(repr(shell.run_line_magic("lineage", "status")))
            said.append(str(find_recorder(shell).writer.stats.errors))
    for argv in (["runs", "--db", password_url], ["runs", "--db", unreachable], ["show", "nope", "--db", password_url],
                 ["db", "upgrade", "--db", unreachable], ["artifacts", "--json", "--db", password_url]):
        cli.main(argv)
    said += [str(w.message) for w in caught]
    everything = _everything_said(caplog, capsys, *said)
    assert "lineage_magic: recording run" in everything and "***" in everything
    assert "status" in everything or "run:" in everything
    assert SECRET not in everything


# -- values and files --------------------------------------------------------------


def test_pickled_artifact_is_not_loaded_without_opt_in(sqlite_url: str, tmp_path: Path) -> None:
    """A value stored as pickle is refused unless allow_pickle=True, and the refusal records nothing."""

    class Point:  # only pickle can store it
        def __init__(self, x: int) -> None:
            self.x = x

    globals()["Point"] = Point
    Point.__qualname__ = "Point"
    store = lm.connect(sqlite_url)
    with store.session(write=True) as session:
        saved = save_value(session, Point(3), "pt", run_id=None, max_bytes=2**20, inline_max=2**16, blob_dir=tmp_path)
        session.commit()
    assert saved.node_value.format == "pickle"
    with store.session() as session:
        with pytest.raises(PickleRefusedError, match="allow_pickle"):
            load_value(session, "pt")
    with pytest.raises(PickleRefusedError):
        lm.load("pt")
    with store.session() as session:
        assert load_value(session, "pt", allow_pickle=True)[0].x == 3


def test_default_store_directory_and_files_are_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """~/.lineage_magic is 0700; lineage.db and its -wal and -shm are 0600 even with a permissive umask."""
    home = tmp_path / "user" / ".lineage_magic"
    monkeypatch.setenv("LINEAGE_MAGIC_HOME", str(home))
    old = os.umask(0o022)
    try:
        with recording("") as shell:
            assert find_recorder(shell).store_url.endswith(str(home / "lineage.db"))
            shell.run_cell("x = 1", store_history=True)
            assert find_recorder(shell).flush(30)
            db = home / "lineage.db"
            files = [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
            assert all(p.exists() for p in files), os.listdir(home)
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in files}
    finally:
        os.umask(old)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert modes == {p.name: 0o600 for p in files}
