"""Read-only sessions: what the views and lineage walks read through."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import InvalidRequestError

from lineage_magic.store.engine import Store
from lineage_magic.store.models import Run, Transform
from test_writes import RUN, store  # noqa: F401 - the fixture


def test_a_read_session_reads_and_refuses_to_write(store: Store) -> None:  # noqa: F811
    with store.session(read=True) as session:
        assert session.get(Run, RUN).status == "running"
        session.add(Transform(name="not stored"))
        with pytest.raises(InvalidRequestError, match="read-only"):
            session.flush()
        session.rollback()
    with store.session() as session:
        assert session.scalars(select(Transform.name)).all() == ["nb.ipynb"]


def test_on_postgresql_a_read_session_holds_no_transaction_between_statements(store: Store) -> None:  # noqa: F811
    if store.dialect != "postgresql":
        assert store.read_engine is store.engine
        return
    with store.session(read=True) as session:
        session.get(Run, RUN)
        raw = session.connection().connection.dbapi_connection
        assert raw.autocommit and raw.info.transaction_status == raw.info.transaction_status.IDLE
    with store.session() as session:
        session.get(Run, RUN)
        raw = session.connection().connection.dbapi_connection
        assert not raw.autocommit and raw.info.transaction_status == raw.info.transaction_status.INTRANS
