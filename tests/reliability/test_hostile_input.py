"""Hostile input, property-based: magics, the command line, ids, artifact names, versions and URLs.

Every rejection is a clear error (IPython's ``UsageError``, a
``lineage_magic.exceptions`` error, or exit status 2), never another
exception, and a rejected command leaves the database byte for byte as it was.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from reliability_helpers import sqlite_digest

import lineage_magic as lm
from lineage_magic import cli
from lineage_magic.exceptions import LineageError
from lineage_magic.magics.commands import COMMANDS
from lineage_magic.recorder import find_recorder
from lineage_magic.store.engine import Store

EXAMPLES = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)

# Fragments that tend to break parsers, quoting, SQL and paths.
HOSTILE = [
    "'", '"', "\\", "--", ";", "' OR '1'='1", "'; DROP TABLE runs; --", "\" OR 1=1 --", "%", "_", "*",
    "-n", "-1", "0", "1", "9223372036854775807", "1e9", "--depth", "--down", "--as", "--upto", "-o",
    "--allow-pickle", "--here", "--rollback", "--help", "-h", "@", "x@", "model@", "model@-1", "model@1",
    "model@99999999999", "model@١", "x", "model", "\x00", "a\x00b", "é", "\u202e", "\n",
    "$(touch pwned)", "../../etc/passwd", "/", ".", "sqlite:///", "postgresql://bob:s3cret@127.0.0.1:1/x",
    "kind:", "run:", "cell:zzzz", "a" * 300,
]
# Lone surrogates and integers beyond 64 bits are checked by the edge-case tests below.
token = st.one_of(st.sampled_from(HOSTILE), st.text(st.characters(blacklist_categories=("Cs",)), max_size=12))
tokens = st.lists(token, max_size=5)


def _quote(word: str) -> str:
    return "'" + word.replace("'", "'\"'\"'") + "'"


@contextlib.contextmanager
def recording_shell(tmp_path: Path) -> Iterator[tuple[Any, Path]]:
    """The global shell recording into a fresh SQLite file with a run, cells and an artifact."""
    db = tmp_path / "lineage.db"
    (tmp_path / "notadir").write_text("a file where a URL wants a directory")
    shell = InteractiveShell.instance()
    shell.reset(new_session=True)
    shell.config.LineageMagic.db_url = f"sqlite:///{db}"
    shell.config.LineageMagic.quiet = True
    shell.run_cell("%load_ext lineage_magic", store_history=True)
    try:
        for code in ("x = [1, 2]", "y = len(x)", "model = {'a': x}", "%lineage save model", "x.append(y)"):
            assert shell.run_cell(code, store_history=True).success, code
        find_recorder(shell).flush()
        yield shell, db
    finally:
        shell.run_cell("%unload_ext lineage_magic")
        del shell.config.LineageMagic


def _digest_after_flush(shell: Any, db: Path) -> tuple[str, str]:
    recorder = find_recorder(shell)
    assert recorder is not None and recorder.flush(30)
    return sqlite_digest(db)


def test_every_magic_subcommand_rejects_hostile_arguments_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """%lineage SUBCOMMAND <hostile words>: a result or a UsageError, and a rejection changes nothing."""
    monkeypatch.chdir(tmp_path)
    names = sorted(set(COMMANDS) - {"connect", "replay"})  # covered below: they start kernels or switch stores
    with recording_shell(tmp_path) as (shell, db):

        @EXAMPLES
        @given(st.sampled_from(names), tokens, st.booleans())
        def check(name: str, words: list[str], quoted: bool) -> None:
            line = " ".join([name, *(_quote(w) if quoted else w for w in words)])
            before = _digest_after_flush(shell, db)
            try:
                shell.run_line_magic("lineage", line)
            except UsageError as err:
                assert str(err).strip() and "Traceback" not in str(err)
                assert _digest_after_flush(shell, db) == before, line
            finally:
                find_recorder(shell).paused = False

        check()


def test_replay_and_connect_reject_hostile_arguments_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """%lineage replay/connect with words that name no run and no usable database: UsageError, nothing changed."""
    monkeypatch.chdir(tmp_path)
    bad_urls = st.sampled_from([
        "", "nope", "sqlite", "http://x", "postgresql://bob:s3cret@127.0.0.1:1/x", "mysql://root@127.0.0.1:1/x",
        "oracle://a/b", "sqlite:///notadir/sub/x.db", "postgresql://[::1/x",
        "postgresql://a:b@127.0.0.1:99999/x", "postgresql+nodriver://a/b",
    ])
    with recording_shell(tmp_path) as (shell, db):
        run_id = find_recorder(shell).run_id

        @EXAMPLES
        @given(st.one_of(
            st.tuples(st.just("connect"), st.lists(bad_urls, min_size=1, max_size=2)),
            st.tuples(st.just("replay"), st.lists(token.filter(lambda w: len(w.strip()) < 4), min_size=1, max_size=1)),
            st.tuples(st.just("replay"), st.lists(st.sampled_from(HOSTILE), min_size=2, max_size=4)),
        ))
        def check(case: tuple[str, list[str]]) -> None:
            name, words = case
            line = " ".join([name, *map(_quote, words)])
            before = _digest_after_flush(shell, db)
            with pytest.raises(UsageError):
                shell.run_line_magic("lineage", line)
            assert find_recorder(shell).run_id == run_id
            assert _digest_after_flush(shell, db) == before, line

        check()


def test_every_cli_command_rejects_hostile_arguments_with_status_two(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """lineage-magic COMMAND <hostile words> --db URL: an exit status, never an exception; rejections change nothing."""
    monkeypatch.chdir(tmp_path)
    with recording_shell(tmp_path) as (shell, db):
        url = f"sqlite:///{db}"
        commands = [["run"], ["runs"], ["show"], ["export"], ["replay"], ["diff"], ["artifacts"], ["db", "upgrade"]]

        @EXAMPLES
        @given(st.sampled_from(commands), st.lists(token.filter(lambda w: len(w.strip()) < 4 or " " in w), max_size=4))
        def check(command: list[str], words: list[str]) -> None:
            if command == ["replay"]:
                words = [w for w in words if w not in ("-h", "--help")] or ["nosuchrun"]
            argv = [*command, *words, "--db", url]
            before = _digest_after_flush(shell, db)
            stdout, stderr = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                status = cli.main(argv)
            assert status in (0, 1, 2), (argv, status)
            if status != 0:
                assert status == 2 and stderr.getvalue().startswith("error: "), (argv, stderr.getvalue())
                assert stderr.getvalue().count("\n") == 1 and "Traceback" not in stderr.getvalue()
                assert _digest_after_flush(shell, db) == before, argv

        check()


def test_record_ids_names_and_versions_in_the_python_api(tmp_path: Path) -> None:
    """Hostile ids, artifact names and versions: results or lineage_magic errors, nothing written."""
    with recording_shell(tmp_path) as (shell, db):
        store = lm.connect(f"sqlite:///{db}")
        linedb = lm.LineageDB(store=store)
        calls = [
            lambda v: lm.select(lm.Run, id=v).all(),
            lambda v: lm.select(lm.Cell, run_id=v).first(),
            lambda v: lm.select("Artifact", name=v).all(),
            lambda v: linedb.get_node_by_id(v),
            lambda v: linedb.get_artifact_by_name(v),
            lambda v: linedb.get_latest_artifact_version(v),
            lambda v: linedb.get_artifacts_for_run(v),
            lambda v: linedb.get_libraries_for_run(v),
            lambda v: lm.load(v),
            lambda v: lm.upstream(v),
            lambda v: lm.load("model", version=v),
            lambda v: linedb.get_artifact_by_name("model", version=v),
        ]
        values = st.one_of(token, st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=True),
                           st.booleans(), st.just(b"\xff\x00"))

        @EXAMPLES
        @given(st.integers(0, len(calls) - 1), values)
        def check(index: int, value: Any) -> None:
            before = _digest_after_flush(shell, db)
            try:
                calls[index](value)
            except LineageError as err:
                assert str(err).strip()
                assert _digest_after_flush(shell, db) == before, (index, value)

        try:
            check()
        finally:
            linedb.close()


URL_PARTS = st.tuples(
    st.sampled_from(["postgresql", "postgres", "mysql", "mariadb", "sqlite", "postgresql+psycopg", "mysql+pymysql",
                     "oracle", "http", "", "SQLITE", "sqlite+pysqlite", "postgresql+nodriver"]),
    st.sampled_from(["", "bob@", "bob:s3cret@", ":@", "b%40b:p%3Aw@", "bob:p@ss@", "'; --:x@", "bob:\x00@"]),
    st.sampled_from(["127.0.0.1", "127.0.0.1:1", "[::1]:1", "127.0.0.1:99999", "127.0.0.1:abc", "", "[::1", "a b"]),
    st.sampled_from(["/x", "/", "", "/x?connect_timeout=-1", "/'; DROP TABLE runs; --", "/notadir/y.db"]),
)


def test_database_urls_give_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """lm.connect, Store and --db with hostile URLs: connected, or InvalidURLError / StoreUnavailableError / status 2."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notadir").write_text("a file where a URL wants a directory")

    @EXAMPLES
    @given(URL_PARTS, st.sampled_from(["connect", "store", "cli"]))
    def check(parts: tuple[str, str, str, str], how: str) -> None:
        scheme, userinfo, host, path = parts
        url = f"{scheme}://{userinfo}{host}{path}"
        if scheme.startswith(("mysql", "mariadb")) and path in ("", "/"):
            return  # no database name: see test_edge_cases_raise_named_errors
        if how == "cli":
            stderr = io.StringIO()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(stderr):
                status = cli.main(["runs", "--db", url])
            assert status in (0, 2), (url, stderr.getvalue())
            assert "s3cret" not in stderr.getvalue() and "Traceback" not in stderr.getvalue()
            return
        try:
            store = lm.connect(url) if how == "connect" else Store(url)
        except LineageError as err:
            assert "s3cret" not in str(err) and str(err).strip()
            return
        assert "s3cret" not in repr(store)
        if how == "store":
            store.dispose()

    check()


EDGE_CASES = [
    pytest.param(lambda: lm.select(lm.Run, id=["x"]).all(), id="select-list-value"),
    pytest.param(lambda: lm.select(lm.Run, id=2**64).all(), id="select-int-beyond-64-bits"),
    pytest.param(lambda: lm.select(lm.Run, id="\ud800").all(), id="select-lone-surrogate"),
    pytest.param(lambda: lm.LineageDB().get_node_by_id(None), id="node-id-none"),
    pytest.param(lambda: Store("mysql://root@127.0.0.1:1/x?sslmode=nonsense"), id="url-unknown-driver-option"),
    pytest.param(lambda: Store("mysql://root@127.0.0.1:3306/"), id="url-mysql-without-database"),
    pytest.param(lambda: Store("sqlite:///a\x00b"), id="url-sqlite-null-byte"),
    pytest.param(lambda: Store("postgresql://postgres@127.0.0.1:1/\ud800"), id="url-lone-surrogate"),
]


@pytest.mark.parametrize("call", EDGE_CASES)
def test_edge_cases_raise_named_errors(call: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inputs the property tests found escaping as driver errors: now named errors."""
    monkeypatch.chdir(tmp_path)
    lm.connect(f"sqlite:///{tmp_path / 'lineage.db'}")
    try:
        call()
    except LineageError:
        return


@pytest.mark.parametrize("line", ["cells '\ud800'", "deps '\ud800'", "show '\ud800'", "runs -n 99999999999999999999"])
def test_edge_case_magic_arguments_raise_usage_error(line: str, tmp_path: Path) -> None:
    """Surrogates and huge integers in magic arguments: a UsageError, not a driver error."""
    with recording_shell(tmp_path) as (shell, _db):
        try:
            shell.run_line_magic("lineage", line)
        except UsageError:
            return
