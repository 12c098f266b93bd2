"""Shared fixtures: a fresh lineage store on SQLite, PostgreSQL and MariaDB.

Server tests skip with a reason when the server is unreachable, except under
``CI=true``, where a missing server fails the test instead.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

import lineage_magic as lm

SERVERS = {
    "postgresql": os.environ.get(
        "LINEAGE_MAGIC_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    ),
    "mariadb": os.environ.get(
        "LINEAGE_MAGIC_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/test"
    ),
}
BACKENDS = ["sqlite", "postgresql", "mariadb"]
# Real public notebooks, in shared/ beside the checkout (see shared/corpus/README.md).
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "learn-python3"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unavailable(backend: str) -> str | None:
    engine = create_engine(SERVERS[backend], connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            return None
    except (OperationalError, ImportError) as err:
        return f"{backend} server not reachable: {str(err).splitlines()[0][:120]}"
    finally:
        engine.dispose()


_availability: dict[str, str | None] = {}


def require_server(backend: str) -> None:
    """Skip (or fail under CI) when the server for ``backend`` is down."""
    if backend not in _availability:
        _availability[backend] = _unavailable(backend)
    reason = _availability[backend]
    if reason:
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)


def _fresh_server_database(backend: str) -> Iterator[str]:
    require_server(backend)
    name = f"lm_test_{secrets.token_hex(4)}"
    admin = create_engine(SERVERS[backend], isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        from lineage_magic import context

        for key, store in list(context._context.stores.items()):
            if name in key:
                context.forget_store(store)
        with admin.connect() as conn:
            if backend == "postgresql":
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            else:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


@pytest.fixture
def postgres_admin_url() -> str:
    """The PostgreSQL server's admin URL (skips, or fails under CI, when it is down)."""
    require_server("postgresql")
    return SERVERS["postgresql"]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # noqa: ANN001
    """A URL of an empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'lineage.db'}"
        _forget_stores(str(tmp_path))
    else:
        yield from _fresh_server_database(request.param)


@pytest.fixture
def sqlite_url(tmp_path) -> Iterator[str]:  # noqa: ANN001
    """A URL of an empty SQLite database in a temporary directory."""
    yield f"sqlite:///{tmp_path / 'lineage.db'}"
    _forget_stores(str(tmp_path))


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch) -> None:  # noqa: ANN001
    """Never touch the real ~/.lineage_magic, nor a URL from the environment."""
    monkeypatch.setenv("LINEAGE_MAGIC_HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.delenv("LINEAGE_MAGIC_DB_URL", raising=False)


@pytest.fixture
def connected(db_url: str) -> Iterator[str]:
    """Connect the Python API to a fresh store on each backend."""
    import lineage_magic as lm
    from lineage_magic import context

    lm.connect(db_url)
    yield db_url
    context._context.store = None


def _forget_stores(fragment: str) -> None:
    from lineage_magic import context

    for key, store in list(context._context.stores.items()):
        if fragment in key:
            context.forget_store(store)
    context._context.store = None


def _corpus_params() -> list[object]:
    import nbformat

    if not CORPUS.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"corpus not found at {CORPUS}"), id="no-corpus")]
    params = []
    for path in sorted(CORPUS.glob("*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        marks = []
        if any(c.cell_type == "code" and "pip install" in c.source for c in cells):
            # It changes the environment it runs in: its output depends on what
            # an earlier run installed, with or without the extension.
            marks.append(pytest.mark.skip(reason="runs pip install: its output depends on what earlier runs installed"))
        params.append(pytest.param(path, marks=marks, id=path.stem))
    return params


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests taking ``corpus_notebook`` run once per notebook of the corpus."""
    if "corpus_notebook" in metafunc.fixturenames:
        metafunc.parametrize("corpus_notebook", _corpus_params())


# A real IPython shell with the extension loaded on a fresh store, per test.

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

    def cells(self) -> list[Any]:
        """The cells recorded in the current run, in order."""
        self.recorder.flush()
        return lm.select(lm.Cell, run_id=self.recorder.run_id).order_by(lm.Cell.seq).all()

    def cell_for(self, source: str) -> Any:
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
