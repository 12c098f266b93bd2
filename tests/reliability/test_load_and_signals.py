"""Eight kernels recording into one store at once; KeyboardInterrupt and SystemExit in a cell."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from jupyter_core.utils import ensure_event_loop
from reliability_helpers import Outputs, kernel, postgres_database

import lineage_magic as lm

pytestmark = pytest.mark.kernel

KERNELS = 8
CELLS = 500


def _session(url: str, name: str) -> str:
    """One kernel running CELLS cells; returns what it printed."""
    out = Outputs()
    try:
        with kernel(url, f"--LineageMagic.run_name={name}") as (_km, client):
            out.run(client, "total = 0")
            for i in range(1, CELLS):
                out.run(client, f"total += {i}")
            out.run(client, "%lineage flush", timeout=180)
            assert "all records written" in out.text()
    finally:
        # jupyter_client's sync wrappers open one event loop per thread and leave it open.
        ensure_event_loop().close()
    return out.text()


def _check_store(url: str, prefix: str) -> None:
    names = [f"{prefix}{k}" for k in range(KERNELS)]
    with ThreadPoolExecutor(KERNELS) as pool:
        printed = list(pool.map(lambda name: _session(url, name), names))
    for text in printed:
        assert "lineage_magic" not in text and "Traceback" not in text, text[-1000:]
    with lm.Session(url) as ss:
        runs = ss.select(lm.Run).filter(lm.Run.name.in_(names)).all()
        assert sorted(r.name for r in runs) == names
        total = 0
        for run in runs:
            cells = ss.select(lm.Cell, run_id=run.id).order_by(lm.Cell.seq).all()
            user_cells = [c for c in cells if c.source_code.code != "%lineage flush"]
            total += len(user_cells)
            assert [c.seq for c in cells] == list(range(len(cells)))
            assert [c.source_code.code for c in user_cells] == ["total = 0"] + [f"total += {i}" for i in range(1, CELLS)]
            assert [c.execution_count for c in user_cells] == list(range(1, CELLS + 1))
            assert all(c.status == "ok" for c in cells)
    assert total == KERNELS * CELLS


@pytest.mark.slow
def test_eight_kernels_into_one_sqlite_file(tmp_path: Path) -> None:
    """8 kernels × 500 cells into one SQLite file: exactly 4,000 cells, contiguous seq, no error in any cell."""
    _check_store(f"sqlite:///{tmp_path / 'lineage.db'}", "sqlite-load-")


@pytest.mark.slow
@pytest.mark.server
def test_eight_kernels_into_one_postgres_database(postgres_admin_url: str) -> None:
    """8 kernels × 500 cells into one PostgreSQL database: exactly 4,000 cells, contiguous seq, no error."""
    with postgres_database(postgres_admin_url, "lm_load") as url:
        _check_store(url, "pg-load-")


def test_keyboard_interrupt_and_system_exit_are_recorded_truthfully(tmp_path: Path) -> None:
    """An interrupted cell is recorded as interrupted, SystemExit as an error; recording goes on."""
    url = f"sqlite:///{tmp_path / 'lineage.db'}"
    out = Outputs()
    with kernel(url, "--LineageMagic.run_name=signals") as (km, client):
        out.run(client, "before = 1")
        client.execute("import time\nfor _ in range(300):\n    time.sleep(0.1)")
        busy = client.get_iopub_msg(timeout=30)
        while busy["msg_type"] != "status" or busy["content"]["execution_state"] != "busy":
            busy = client.get_iopub_msg(timeout=30)
        time.sleep(0.5)
        km.interrupt_kernel()
        reply = client.get_shell_msg(timeout=30)["content"]
        assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt"
        exited = out.run(client, "raise SystemExit(3)", ok=False)
        assert exited["status"] in ("ok", "error")
        out.run(client, "after = before + 1")
        out.run(client, "print(after)")
        out.run(client, "%lineage status")
        out.run(client, "%lineage flush")
        assert "2" in out.text() and "hook failures" not in out.text()
    assert "lineage_magic:" not in out.text()
    with lm.Session(url) as ss:
        run = ss.select(lm.Run, name="signals").one()
        cells = {c.source_code.code: c for c in ss.select(lm.Cell, run_id=run.id).all()}
    loop = cells["import time\nfor _ in range(300):\n    time.sleep(0.1)"]
    assert (loop.status, loop.error_type) == ("interrupted", "KeyboardInterrupt")
    assert 0.3 < loop.duration_ms / 1000 < 20
    exit_cell = cells["raise SystemExit(3)"]
    assert (exit_cell.status, exit_cell.error_type) == ("error", "SystemExit")
    assert cells["after = before + 1"].status == "ok"
    assert cells["print(after)"].outputs and "2" in str(cells["print(after)"].outputs)
