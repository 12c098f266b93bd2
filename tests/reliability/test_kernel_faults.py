"""Faults under a real kernel: SIGKILL, a SQLite file deleted, read-only or locked, PostgreSQL restarted.

In each case the user's cells run on, lineage_magic prints at most one short
line, and every cell queued while the store was unusable is written once it
is usable again.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from reliability_helpers import (
    Outputs, child_pids, kernel, postgres_database, recorded_sources, sqlite_files, wait_for_postgres,
)

import lineage_magic as lm

pytestmark = pytest.mark.kernel


def _assert_clean(out: Outputs, *, max_warnings: int = 1) -> list[str]:
    """No traceback reached a cell; at most ``max_warnings`` short lines from us."""
    text = out.text()
    assert "Traceback" not in text and not any("traceback" in m for m in out.messages), text[-2000:]
    warnings = out.warnings()
    assert len(warnings) <= max_warnings, warnings
    assert all(len(w) < 300 for w in warnings), warnings
    return warnings


@pytest.mark.slow
def test_sigkill_mid_session_keeps_every_cell_finished_a_second_earlier(tmp_path: Path) -> None:
    """1,000-cell session killed mid-cell with its writer: cells finished ≥1 s before are stored; next kernel marks it aborted."""
    url = f"sqlite:///{tmp_path / 'lineage.db'}"
    finished: list[float] = []
    with kernel(url, "--LineageMagic.run_name=killed") as (km, client):
        out = Outputs()
        kill_after: float | None = None
        for i in range(1000):
            out.run(client, f"v{i} = {i} * 2")
            finished.append(time.monotonic())
            if i == 499:
                kill_after = finished[-1] + 1.5
            if kill_after is not None and finished[-1] >= kill_after:
                break
        client.execute("import time; time.sleep(5)")  # the kernel dies inside this cell
        time.sleep(0.05)
        killed_at = time.monotonic()
        # Kernel and writer process together, as a power cut or the OOM killer would.
        writers = child_pids(km.provisioner.process.pid)
        assert writers, "the kernel has no writer process"
        for pid in [km.provisioner.process.pid, *writers]:
            os.kill(pid, signal.SIGKILL)
        km.provisioner.process.wait(timeout=10)
    must_have = [f"v{i} = {i} * 2" for i, t in enumerate(finished) if t <= killed_at - 1.0]
    assert len(must_have) >= 500
    sources = recorded_sources(url, "killed")
    assert sources[: len(must_have)] == must_have
    assert lm.select(lm.Run, url=url, name="killed").one().status == "running"
    with kernel(url, "--LineageMagic.run_name=next") as (_km, client):
        Outputs().run(client, "%lineage flush")
    assert lm.select(lm.Run, url=url, name="killed").one().status == "aborted"


def test_sqlite_file_deleted_mid_session_is_recreated(tmp_path: Path) -> None:
    """Deleting the database mid-session: recording goes on in a new file with the run and every later cell."""
    db = tmp_path / "store" / "lineage.db"
    url = f"sqlite:///{db}"
    out = Outputs()
    with kernel(url, "--LineageMagic.run_name=deleted") as (_km, client):
        for i in range(10):
            out.run(client, f"a{i} = {i}")
        out.run(client, "shared = 1")
        out.run(client, "%lineage flush")
        shutil.rmtree(db.parent)  # the file, its WAL and shared memory, and the directory
        after = [f"b{i} = a{i} + 1" for i in range(10)] + ["shared = 1", "print(b3)"]
        for code in after:
            out.run(client, code)
        assert "4" in out.text()
        flushed = out.run(client, "%lineage flush")
        out.run(client, "last = b9 * 2")
        out.run(client, "%lineage flush")
        assert flushed["status"] == "ok" and "all records written" in out.text()
    warnings = _assert_clean(out)
    assert len(warnings) == 1 and "deleted" in warnings[0], warnings
    sources = recorded_sources(url, "deleted", first_seq=None)
    # The flush before the deletion is itself recorded after it, into the new file.
    expected = ["%lineage flush", *after, "%lineage flush", "last = b9 * 2"]
    assert sources[: len(expected)] == expected
    assert oct(db.stat().st_mode & 0o777) == oct(0o600)
    assert oct(db.parent.stat().st_mode & 0o777) == oct(0o700)


def _chattr(flag: str, paths: list[Path]) -> None:
    subprocess.run(["chattr", flag, *map(str, paths)], check=True)


@contextmanager
def immutable(db: Path) -> Iterator[None]:
    """The database file and its WAL made read-only even for root (``chattr +i``).

    The -shm file is left alone: SQLite maps it into memory, and a write to an
    immutable mapping kills the process with SIGBUS, which no user does by
    making a file read-only.
    """
    targets = [p for p in sqlite_files(db) if not p.name.endswith("-shm")]
    _chattr("+i", targets)
    try:
        yield
    finally:
        _chattr("-i", targets)


@pytest.mark.skipif(shutil.which("chattr") is None or os.geteuid() != 0, reason="needs root and chattr")
def test_sqlite_file_made_read_only_then_writable_loses_nothing(tmp_path: Path) -> None:
    """A read-only database (chattr +i): cells run on, one warning, everything written once writable again."""
    db = tmp_path / "lineage.db"
    url = f"sqlite:///{db}"
    out = Outputs()
    with kernel(url, "--LineageMagic.run_name=readonly") as (_km, client):
        for i in range(5):
            out.run(client, f"before{i} = {i}")
        out.run(client, "%lineage flush")
        during = [f"during{i} = before{i % 5} + {i}" for i in range(10)]
        with immutable(db):
            for code in during:
                out.run(client, code)
                time.sleep(0.1)
            out.run(client, "print(during9)")
            out.run(client, "%lineage status")
            assert "problem:" in out.text(), out.text()
        out.run(client, "after = during9")
        out.run(client, "%lineage flush")
        assert "all records written" in out.text()
    warnings = _assert_clean(out)
    assert len(warnings) == 1 and "unavailable" in warnings[0], warnings
    sources = recorded_sources(url, "readonly")
    expected = [f"before{i} = {i}" for i in range(5)] + during + ["print(during9)", "after = during9"]
    assert [s for s in sources if s in expected] == expected


LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
"""


def test_sqlite_locked_by_another_process_for_ten_seconds(tmp_path: Path) -> None:
    """BEGIN EXCLUSIVE held 10 s by another process: cells stay fast, everything is written after."""
    db = tmp_path / "lineage.db"
    url = f"sqlite:///{db}"
    out = Outputs()
    with kernel(url, "--LineageMagic.run_name=locked") as (_km, client):
        out.run(client, "x = 0")
        out.run(client, "%lineage flush")
        with subprocess.Popen([sys.executable, "-c", LOCKER, str(db), "10"], stdout=subprocess.PIPE, text=True) as locker:
            assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
            locked_at = time.monotonic()
            during = []
            slowest = 0.0
            while time.monotonic() - locked_at < 9.0:
                code = f"x = x + 1  # {len(during)}"
                t0 = time.monotonic()
                out.run(client, code)
                slowest = max(slowest, time.monotonic() - t0)
                during.append(code)
                time.sleep(0.2)
            assert locker.wait(timeout=30) == 0
        out.run(client, "print(x)")
        out.run(client, "%lineage flush")
        assert "all records written" in out.text()
    _assert_clean(out)
    assert slowest < 2.0, f"a cell waited {slowest:.1f} s for the lock"
    expected = ["x = 0", *during, "print(x)"]
    sources = recorded_sources(url, "locked")
    assert [s for s in sources if s in expected] == expected


@pytest.mark.slow
@pytest.mark.server
def test_postgres_restarted_mid_session_loses_nothing(postgres_admin_url: str) -> None:
    """PostgreSQL stopped and started again while cells run: one warning, every cell written once it is back."""
    cluster = os.listdir("/etc/postgresql")[0] if os.path.isdir("/etc/postgresql") else None
    if cluster is None or shutil.which("pg_ctlcluster") is None:
        pytest.skip("no pg_ctlcluster on this machine")
    out = Outputs()

    def pg(action: str) -> None:
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", action, "-m", "fast"],
                       check=True)

    with postgres_database(postgres_admin_url, "lm_restart") as url:
        with kernel(url, "--LineageMagic.run_name=restarted") as (_km, client):
            for i in range(5):
                out.run(client, f"before{i} = {i}")
            out.run(client, "%lineage flush")
            # Down long enough that the writer tries (it writes every fraction of a second) and fails;
            # a restart quicker than a batch would go unnoticed, rightly.
            stop = threading.Thread(target=pg, args=("stop",))
            stop.start()
            during = []
            down_since = None
            while down_since is None or time.monotonic() - down_since < 1.5 or len(during) < 10:
                code = f"during{len(during)} = {len(during)}"
                out.run(client, code)
                during.append(code)
                time.sleep(0.1)
                if down_since is None and not stop.is_alive():
                    down_since = time.monotonic()
            stop.join()
            pg("start")
            wait_for_postgres()
            out.run(client, "after = 1")
            out.run(client, "%lineage flush", timeout=60)
            assert "all records written" in out.text()
        warnings = _assert_clean(out)
        assert len(warnings) == 1 and "unavailable" in warnings[0], warnings
        expected = [f"before{i} = {i}" for i in range(5)] + during + ["after = 1"]
        sources = recorded_sources(url, "restarted")
        assert [s for s in sources if s in expected] == expected
