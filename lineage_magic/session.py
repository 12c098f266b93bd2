"""The Session API of the seeds: add, delete, select, and scoped sessions.

Module-level ``add``/``delete``/``select`` each open a short session, commit
and close it, so their records come back detached: plain columns and eagerly
loaded relationships (``Run.transform``) are readable, a lazy relationship
raises ``DetachedInstanceError``. ``Session`` keeps one SQLAlchemy session
open so lazy relationships load, until it is closed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any, Generic, TypeVar

from sqlalchemy import inspect, select as sa_select
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import object_session

from . import context
from .exceptions import InvalidQueryError, LineageError
from .store.engine import Store
from .store.errors import database_errors
from .store.models import MODELS, Base

M = TypeVar("M", bound=Base)

__all__ = ["Session", "Query", "add", "delete", "select", "resolve_model"]


def resolve_model(model: type[M] | str) -> type[M]:
    """The model class for a class or its name; a clear error for anything else."""
    if isinstance(model, str):
        found = MODELS.get(model) or MODELS.get(model[:1].upper() + model[1:])
        if found is not None:
            return found  # type: ignore[return-value]
    elif isinstance(model, type) and issubclass(model, Base) and model in MODELS.values():
        return model
    raise InvalidQueryError(
        f"unknown model {model!r}: expected one of {', '.join(sorted(MODELS))}"
    )


def _criteria(model: type[Base], filters: dict[str, Any]) -> list[Any]:
    mapper = inspect(model)
    columns = {attr.key for attr in mapper.column_attrs}
    relations = {rel.key for rel in mapper.relationships}
    criteria = []
    for field, value in filters.items():
        if field in columns:
            criteria.append(getattr(model, field) == value)
        elif field in relations and not mapper.relationships[field].uselist:
            if value is not None and not isinstance(value, mapper.relationships[field].mapper.class_):
                raise InvalidQueryError(
                    f"{model.__name__}.{field} takes a "
                    f"{mapper.relationships[field].mapper.class_.__name__} record, got {value!r}"
                )
            criteria.append(getattr(model, field) == value)
        else:
            valid = sorted(columns | {k for k in relations if not mapper.relationships[k].uselist})
            raise InvalidQueryError(
                f"{model.__name__} has no field {field!r}; valid fields: {', '.join(valid)}"
            )
    return criteria


def _default_order(model: type[Base]) -> list[Any]:
    mapper = inspect(model)
    order = []
    if "created_at" in mapper.columns:
        order.append(mapper.columns["created_at"])
    order.extend(mapper.primary_key)
    return order


class Query(Generic[M]):
    """A select of one model with equality filters; run by first/one/all/df."""

    def __init__(self, model: type[M], filters: dict[str, Any], session: Session | None = None,
                 store: Store | None = None) -> None:
        self.model = model
        self._criteria = _criteria(model, filters)
        self._session = session
        self._store = store
        self._order: list[Any] = _default_order(model)
        self._limit: int | None = None

    def filter(self, *criteria: Any) -> Query[M]:
        """Add SQLAlchemy criteria, e.g. ``lm.Run.started_at > t``."""
        self._criteria.extend(criteria)
        return self

    def order_by(self, *columns: Any) -> Query[M]:
        """Order the results by the given columns instead of creation time."""
        self._order = list(columns)
        return self

    def limit(self, count: int) -> Query[M]:
        """Return at most ``count`` records."""
        self._limit = count
        return self

    def _statement(self) -> Any:
        stmt = sa_select(self.model).where(*self._criteria).order_by(*self._order)
        return stmt.limit(self._limit) if self._limit is not None else stmt

    def _run(self, stmt: Any) -> Any:
        with database_errors(f"select {self.model.__name__}"):
            if self._session is not None:
                return self._session._run_query(stmt)
            context.flush_pending()
            store = self._store or context.get_store()
            with store.session() as session:
                # Closing (not rolling back) ends the transaction without expiring.
                return session.scalars(stmt).unique().all()

    def all(self) -> list[M]:
        """Every matching record."""
        return list(self._run(self._statement()))

    def first(self) -> M | None:
        """The first matching record (oldest first), or None."""
        found = self._run(self._statement().limit(1))
        return found[0] if found else None

    def one(self) -> M:
        """Exactly one matching record; an error for none or several."""
        found = self._run(self._statement().limit(2))
        if len(found) != 1:
            raise InvalidQueryError(
                f"expected exactly one {self.model.__name__}, found "
                f"{'none' if not found else 'more than one'}"
            )
        return found[0]

    def df(self) -> Any:
        """The matching records as a pandas DataFrame of their columns."""
        try:
            import pandas as pd
        except ImportError as err:
            raise LineageError("Query.df() needs pandas: pip install pandas") from err
        columns = [attr.key for attr in inspect(self.model).column_attrs]
        rows = [{c: getattr(r, c) for c in columns} for r in self.all()]
        frame = pd.DataFrame(rows, columns=columns)
        key = "id" if "id" in columns else columns[0]
        return frame.set_index(key)

    def __iter__(self):  # noqa: ANN204
        return iter(self.all())


class Session:
    """A lineage session: records it returns load lazy relationships until it closes."""

    def __init__(self, url: str | None = None, *, store: Store | None = None) -> None:
        self.store = store or (context.open_store(url) if url else context.get_store())
        context.flush_pending()
        self._orm: OrmSession = self.store.session()
        self._closed = False

    @property
    def orm(self) -> OrmSession:
        """The underlying SQLAlchemy session, for anything this API does not cover."""
        return self._orm

    def _check_open(self) -> None:
        if self._closed:
            raise LineageError("this Session is closed; open a new one with lm.Session()")

    def _run_query(self, stmt: Any) -> Any:
        self._check_open()
        return self._orm.scalars(stmt).unique().all()

    def add(self, record: M | Iterable[M]) -> M | list[M]:
        """Add new or changed records; they are written at commit (or on flush)."""
        self._check_open()
        records = _as_records(record)
        try:
            self._orm.add_all(records)
        except InvalidRequestError as err:
            raise LineageError(f"cannot add {records!r}: {err}") from err
        return records[0] if not isinstance(record, (list, tuple)) else records

    def delete(self, record: Base) -> None:
        """Mark a record for deletion at commit."""
        self._check_open()
        _check_record(record)
        self._orm.delete(record)

    def select(self, model: type[M] | str, **filters: Any) -> Query[M]:
        """Select records of ``model`` whose fields equal ``filters``."""
        self._check_open()
        return Query(resolve_model(model), filters, session=self)

    def get(self, model: type[M] | str, id: Any) -> M | None:  # noqa: A002
        """The record of ``model`` with primary key ``id``, or None."""
        self._check_open()
        return self._orm.get(resolve_model(model), id)

    def flush(self) -> None:
        """Send pending changes to the database without committing."""
        self._check_open()
        self._orm.flush()

    def begin_nested(self) -> Any:
        """A SAVEPOINT; use as a context manager or call commit/rollback on it."""
        self._check_open()
        return self._orm.begin_nested()

    def commit(self) -> None:
        """Write every pending change."""
        self._check_open()
        self._orm.commit()

    def rollback(self) -> None:
        """Discard every pending change."""
        self._check_open()
        self._orm.rollback()

    def close(self) -> None:
        """Close the session; loaded attributes stay readable on its records."""
        if not self._closed:
            self._orm.close()
            self._closed = True

    @property
    def closed(self) -> bool:
        """True once ``close`` ran."""
        return self._closed

    def __enter__(self) -> Session:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if self._closed:
                return
            if exc_type is None:
                self._orm.commit()
            else:
                self._orm.rollback()
        finally:
            self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<lineage Session {state} on {self.store.masked_url}>"


def _check_record(record: object) -> None:
    if not isinstance(record, Base):
        raise InvalidQueryError(
            f"expected a lineage record ({', '.join(sorted(MODELS))}), got {type(record).__name__}"
        )


def _as_records(record: Any) -> list[Base]:
    records = list(record) if isinstance(record, (list, tuple)) else [record]
    for item in records:
        _check_record(item)
    return records


def add(record: M | Sequence[M], *, url: str | None = None) -> M | list[M]:
    """Insert or update records in one short session; they come back detached."""
    records = _as_records(record)
    for item in records:
        if object_session(item) is not None:
            raise LineageError(
                f"{type(item).__name__} belongs to an open Session: add it with that session"
            )
    store = context.open_store(url) if url else context.get_store()
    context.flush_pending()
    with store.session(write=True) as session:
        session.add_all(records)
        session.commit()
    return records[0] if not isinstance(record, (list, tuple)) else records


def delete(record: Base, *, url: str | None = None) -> None:
    """Delete a record in one short session."""
    _check_record(record)
    if object_session(record) is not None:
        raise LineageError(
            f"{type(record).__name__} belongs to an open Session: delete it with that session"
        )
    store = context.open_store(url) if url else context.get_store()
    context.flush_pending()
    with store.session(write=True) as session:
        session.delete(session.merge(record, load=True))
        session.commit()


def select(model: type[M] | str, *, url: str | None = None, **filters: Any) -> Query[M]:
    """Select records of ``model`` whose fields equal ``filters`` (detached results)."""
    store = context.open_store(url) if url else None
    return Query(resolve_model(model), filters, store=store)
