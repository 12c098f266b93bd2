"""Real kernels and database snapshots shared by the reliability tests."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from jupyter_client.manager import KernelManager
from sqlalchemy import create_engine, text

import lineage_magic as lm

WARNING_PREFIX = "lineage_magic:"


@contextmanager
def kernel(url: str, *extra: str, quiet: bool = True) -> Iterator[tuple[KernelManager, Any]]:
    """A kernel with the extension loaded on ``url``, and a blocking client."""
    km = KernelManager(kernel_name="python3")
    km.start_kernel(extra_arguments=[
        "--ext=lineage_magic", f"--LineageMagic.db_url={url}", f"--LineageMagic.quiet={quiet}", *extra,
    ])
    client = km.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=90)
        yield km, client
    finally:
        client.stop_channels()
        if km.is_alive():
            km.shutdown_kernel(now=True)
        else:
            km.cleanup_resources()
        km.context.destroy(linger=0)


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (a kernel's writer process), from /proc."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def run_status(url: str, name: str, *, becomes: str | None = None, timeout: float = 60.0) -> str:
    """The status of the run called ``name``; with ``becomes``, waits (up to ``timeout``) for it."""
    deadline = time.monotonic() + timeout
    while True:
        status = lm.select(lm.Run, url=url, name=name).one().status
        if becomes is None or status == becomes or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


class Outputs:
    """What the cells of a kernel printed, gathered across calls."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def run(self, client: Any, code: str, *, timeout: float = 120, ok: bool = True) -> dict[str, Any]:
        """Execute a cell, keep its output messages, return the reply content."""
        mine: list[dict[str, Any]] = []

        def hook(msg: dict[str, Any]) -> None:
            if msg["msg_type"] in ("stream", "execute_result", "error", "display_data"):
                mine.append(msg["content"])

        reply = client.execute_interactive(code, timeout=timeout, output_hook=hook)["content"]
        self.messages += mine
        if ok:
            assert reply["status"] == "ok", (code[:200], mine)
        return reply

    def text(self, start: int = 0) -> str:
        """All printed and displayed text, as one string."""
        parts = []
        for content in self.messages[start:]:
            if "text" in content:
                parts.append(content["text"])
            elif "data" in content:
                parts.append(str(content["data"].get("text/plain", "")))
            elif "traceback" in content:
                parts.append("\n".join(content["traceback"]))
        return "\n".join(parts)

    def warnings(self) -> list[str]:
        """Lines lineage_magic printed to the user."""
        return [line for line in self.text().splitlines() if line.startswith(WARNING_PREFIX)]


def recorded_sources(url: str, run_name: str, *, first_seq: int | None = 0) -> list[str]:
    """Sources of a run's top-level cells, in recorded order; seq must be contiguous from ``first_seq``."""
    with lm.Session(url) as ss:
        run = ss.select(lm.Run, name=run_name).one()
        cells = ss.select(lm.Cell, run_id=run.id).order_by(lm.Cell.seq).all()
        seqs = [c.seq for c in cells]
        sources = [c.source_code.code for c in cells if c.depth == 0]
    start = seqs[0] if first_seq is None and seqs else first_seq or 0
    assert seqs == list(range(start, start + len(seqs))), f"seq not contiguous from {start}: {seqs[:20]}…"
    return sources


def sqlite_files(db: Path) -> list[Path]:
    """The database file with its -wal and -shm companions, those that exist."""
    return [p for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()]


def checkpoint(db: Path) -> None:
    """Fold the WAL into the main file so that a hash sees every committed write."""
    conn = sqlite3.connect(db, timeout=30)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        conn.close()


def sqlite_digest(db: Path) -> tuple[str, str]:
    """SHA-256 of the main file and of its WAL (empty when absent), after a checkpoint."""
    checkpoint(db)
    wal = Path(f"{db}-wal")
    return (hashlib.sha256(db.read_bytes()).hexdigest(),
            hashlib.sha256(wal.read_bytes() if wal.exists() else b"").hexdigest())


@contextmanager
def postgres_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards."""
    name = f"{prefix}_{os.getpid()}_{int(time.time() * 1000) % 100000}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        wait_for_postgres()
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def wait_for_postgres(timeout: float = 60.0) -> None:
    """Block until the local PostgreSQL server accepts connections."""
    deadline = time.monotonic() + timeout
    while subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-q"], check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise TimeoutError("PostgreSQL did not come back")
        time.sleep(0.2)
