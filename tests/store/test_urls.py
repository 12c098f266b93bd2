"""URL resolution, password masking and bad store locations."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import lineage_magic as lm
from lineage_magic.store.engine import Store
from lineage_magic.store.urls import ENV_VAR, default_url, mask, parse_url, resolve_url


def test_precedence_explicit_over_config_over_env_over_default(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv(ENV_VAR, "sqlite:///env.db")
    assert resolve_url("sqlite:///a.db", "sqlite:///b.db") == "sqlite:///a.db"
    assert resolve_url(None, "sqlite:///b.db") == "sqlite:///b.db"
    assert resolve_url(None, None) == "sqlite:///env.db"
    monkeypatch.delenv(ENV_VAR)
    assert resolve_url(None, None) == default_url()
    assert default_url().endswith("lineage.db")


def test_short_driver_names_map_to_our_extras() -> None:
    assert parse_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert parse_url("mysql://u@h/db").drivername == "mysql+pymysql"
    assert parse_url("sqlite:///x.db").drivername == "sqlite"


def test_mask_hides_password() -> None:
    assert "s3cret" not in mask("postgresql://bob:s3cret@db.example/lineage")
    assert "***" in mask("postgresql://bob:s3cret@db.example/lineage")


@pytest.mark.parametrize(
    "url", ["", "   ", "not a url", "postgresql://bob:s3cret@host:notaport/db", "oracle://bob:s3cret@h/x"]
)
def test_malformed_url_is_a_clear_error_without_password(url: str) -> None:
    with pytest.raises(lm.InvalidURLError) as info:
        lm.connect(url)
    assert "s3cret" not in str(info.value)
    assert "s3cret" not in repr(info.value.__cause__)


def test_unreachable_server_names_url_with_password_masked() -> None:
    url = "postgresql://bob:s3cret@127.0.0.1:1/lineage"
    with pytest.raises(lm.StoreUnavailableError) as info:
        lm.connect(url)
    message = str(info.value)
    assert "127.0.0.1:1" in message and "***" in message
    assert "s3cret" not in message
    assert info.value.__cause__ is None or "s3cret" not in str(info.value.__cause__)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere; checked through a file below")
def test_unwritable_directory_is_a_clear_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(lm.StoreUnavailableError):
        Store(f"sqlite:///{locked / 'sub' / 'lineage.db'}")
    assert list(locked.iterdir()) == []


def test_directory_that_is_a_file_is_a_clear_error_and_creates_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    with pytest.raises(lm.StoreUnavailableError) as info:
        Store(f"sqlite:///{blocker / 'lineage.db'}")
    assert "lineage.db" in str(info.value)
    assert blocker.read_text() == "not a directory"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]


def test_default_store_directory_is_private(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    home = tmp_path / "private-home"
    monkeypatch.setenv("LINEAGE_MAGIC_HOME", str(home))
    store = Store(default_url())
    try:
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        assert stat.S_IMODE((home / "lineage.db").stat().st_mode) == 0o600
    finally:
        store.dispose()


def test_sqlite_pragmas_bound_to_our_engine_only(sqlite_url: str) -> None:
    from sqlalchemy import create_engine

    store = Store(sqlite_url)
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
        other = create_engine("sqlite://")
        with other.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 0
        other.dispose()
    finally:
        store.dispose()
