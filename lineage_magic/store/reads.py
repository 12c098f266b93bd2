"""A session whose reads go through the store's read engine until it writes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, Select, event
from sqlalchemy.orm import Session, SessionTransaction


class ReadsApartSession(Session):
    """Reads through ``read_bind`` until its transaction first writes.

    On PostgreSQL the store's read engine runs each statement in autocommit:
    a read needs no ``BEGIN`` and ``ROLLBACK`` round trips. At the default
    READ COMMITTED level, a statement sees what it would see inside a
    transaction. Everything that is not a plain ``SELECT`` (a flush, DML,
    ``SELECT ... FOR UPDATE``, text SQL, ``session.connection()``) goes to
    the store's engine in a transaction as usual, and from then until that
    transaction ends, reads go there too, so they see its own writes.
    Records read either way live in this one session: ``add`` and
    ``commit`` work on them as on any session.
    """

    def __init__(self, *args: Any, read_bind: Engine, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_bind = read_bind
        self.writing = False

    def get_bind(self, mapper: Any = None, *, clause: Any = None, **kw: Any) -> Any:
        if (not self.writing and not self._flushing and isinstance(clause, Select)
                and clause._for_update_arg is None):
            return self.read_bind
        self.writing = True
        return super().get_bind(mapper, clause=clause, **kw)


@event.listens_for(ReadsApartSession, "after_transaction_end")
def _transaction_ended(session: ReadsApartSession, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.writing = False
