"""Nothing recorded is lost: SIGKILL of the kernel, and a database that goes away.

Real kernels through jupyter_client, real databases.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest
from sqlalchemy import create_engine, make_url, text

import lineage_magic as lm
from reliability_helpers import kernel, postgres_database, run_status


def run(client: Any, code: str) -> list[dict[str, Any]]:
    """Execute a cell; return its output messages' contents; fail on error."""
    outputs: list[dict[str, Any]] = []

    def hook(msg: dict[str, Any]) -> None:
        if msg["msg_type"] in ("stream", "execute_result", "error", "display_data"):
            outputs.append(msg["content"])

    reply = client.execute_interactive(code, timeout=60, output_hook=hook)
    assert reply["content"]["status"] == "ok", outputs
    return outputs


def _cells(url: str, run_name: str) -> list[lm.Cell]:
    with lm.Session(url) as ss:
        run_record = ss.select(lm.Run, name=run_name).one()
        return ss.select(lm.Cell, run_id=run_record.id).order_by(lm.Cell.seq).all()


@pytest.mark.kernel
def test_cells_finished_before_sigkill_are_in_the_database(tmp_path) -> None:  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 'lineage.db'}"
    with kernel(url, "--LineageMagic.run_name=killed") as (km, client):
        for i in range(30):
            run(client, f"x{i} = {i}")
        time.sleep(1.0)
        os.kill(km.provisioner.process.pid, signal.SIGKILL)
        km.provisioner.process.wait(timeout=10)
    # The writer process outlives its kernel: it writes what it received and
    # marks the run aborted.
    assert run_status(url, "killed", becomes="aborted") == "aborted"
    sources = [c.source_code_id for c in _cells(url, "killed")]
    assert len(sources) == 30
    with lm.Session(url) as ss:
        assert ss.select(lm.Run, name="killed").one().finished_at is not None


def _set_reachable(handle: tuple[Any, str], reachable: bool) -> None:
    admin, name = handle
    with admin.connect() as conn:
        conn.execute(text(f"ALTER DATABASE {name} ALLOW_CONNECTIONS {'true' if reachable else 'false'}"))
        if not reachable:
            conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})


@pytest.mark.kernel
def test_database_down_then_back_loses_nothing_and_warns_once(postgres_admin_url: str) -> None:
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with postgres_database(postgres_admin_url, "lm_outage") as url, \
            kernel(url, "--LineageMagic.run_name=outage") as (_km, client):
        handle = (admin, make_url(url).database)
        for i in range(5):
            run(client, f"before{i} = {i}")
        run(client, "%lineage flush")
        _set_reachable(handle, False)
        texts = []
        for i in range(10):
            outputs = run(client, f"during{i} = {i}")
            texts += [o.get("text", "") for o in outputs]
            time.sleep(0.2)
        status = "".join(o.get("text", "") or str(o.get("data", {})) for o in run(client, "%lineage status"))
        assert "problem:" in status
        _set_reachable(handle, True)
        run(client, "after = 1")
        flushed = "".join(str(o.get("data", o.get("text", ""))) for o in run(client, "%lineage flush"))
        assert "all records written" in flushed
        warnings = [t for t in texts if "lineage store unavailable" in t]
        assert len(warnings) == 1
        assert all("Traceback" not in t for t in texts)
        sources = [c.source_code.code for c in _with_sources(url, "outage")]
    admin.dispose()
    expected = [f"before{i} = {i}" for i in range(5)] + [f"during{i} = {i}" for i in range(10)] + ["after = 1"]
    assert [s for s in sources if s in expected] == expected


def _with_sources(url: str, run_name: str) -> list[Any]:
    with lm.Session(url) as ss:
        run_record = ss.select(lm.Run, name=run_name).one()
        cells = ss.select(lm.Cell, run_id=run_record.id).order_by(lm.Cell.seq).all()
        for cell in cells:
            _ = cell.source_code.code
        return cells
