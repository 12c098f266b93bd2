"""Read-only sessions: what the views and lineage walks read through."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import InvalidRequestError

from lineage_magic.store.engine import Store
from lineage_magic.store.models import Run, Transform
from started import RUN


def test_a_read_session_reads_and_refuses_to_write(store: Store) -> None:
    with store.session(read=True) as session:
        assert session.get(Run, RUN).status == "running"
        session.add(Transform(name="not stored"))
        with pytest.raises(InvalidRequestError, match="read-only"):
            session.flush()
        session.rollback()
    with store.session() as session:
        assert session.scalars(select(Transform.name)).all() == ["nb.ipynb"]


def test_on_postgresql_a_read_session_holds_no_transaction_between_statements(store: Store) -> None:
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


@contextmanager
def writer_statements(store: Store) -> Iterator[list[str]]:
    """The statements sent through the store's (read-write) engine meanwhile."""
    sent: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        sent.append(statement)

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(store.engine, "before_cursor_execute", record)


def test_a_reads_apart_session_reads_beside_its_transaction_until_it_writes(store: Store) -> None:
    apart = store.dialect == "postgresql"  # elsewhere the read engine is the store's engine
    with writer_statements(store) as sent, store.session(reads_apart=True) as session:
        run = session.get(Run, RUN)
        assert session.scalars(select(Transform.name)).all() == ["nb.ipynb"]
        assert (sent == []) is apart
        # A record read beside the transaction is changed and committed as any other.
        run.name = "renamed"
        session.add(Transform(name="second.ipynb"))
        # The autoflush goes to the writer, and so does every read after it: they see the writes.
        assert sorted(session.scalars(select(Transform.name))) == ["nb.ipynb", "second.ipynb"]
        assert session.scalars(select(Run.name)).all() == ["renamed"]
        with store.session() as other:  # nothing is committed yet
            assert other.scalars(select(Transform.name)).all() == ["nb.ipynb"]
        session.commit()
        # Once the transaction ended, reads go beside it again.
        before = len(sent)
        assert sorted(session.scalars(select(Transform.name))) == ["nb.ipynb", "second.ipynb"]
        assert (len(sent) == before) is apart
        session.add(Transform(name="dropped.ipynb"))
        session.flush()
        session.rollback()
    with store.session() as session:
        assert session.get(Run, RUN).name == "renamed"
        assert sorted(session.scalars(select(Transform.name))) == ["nb.ipynb", "second.ipynb"]


def test_a_reads_apart_session_locks_rows_in_its_transaction(store: Store) -> None:
    with store.session(reads_apart=True) as session:
        session.scalars(select(Run.id).where(Run.id == RUN).with_for_update()).one()
        raw = session.connection().connection.dbapi_connection
        if store.dialect == "postgresql":
            assert not raw.autocommit and raw.info.transaction_status == raw.info.transaction_status.INTRANS
        # Reads stay on the locking transaction until it ends.
        assert session.get_bind(clause=select(Run)) is store.engine
        session.commit()
        expected = store.read_engine
        assert session.get_bind(clause=select(Run)) is expected
