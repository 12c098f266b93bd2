"""Column types: what SQLite stores for a timestamp is what SQLAlchemy itself would store."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, Table, create_engine, insert, select
from sqlalchemy.dialects import sqlite

from lineage_magic.store.types import UTCDateTime

PARIS = timezone(timedelta(hours=1))
VALUES = [
    datetime(2025, 1, 6, 9, 0, tzinfo=timezone.utc),
    datetime(2025, 1, 6, 9, 0, 1, 123456, tzinfo=timezone.utc),
    datetime(2025, 1, 6, 10, 0, 1, 5, tzinfo=PARIS),  # stored as 09:00:01.000005 UTC
    datetime(2024, 2, 29, 23, 59, 59, 999999),  # naive: taken as UTC
    datetime(987, 3, 4, 5, 6, 7, tzinfo=timezone.utc),  # a year of three digits
]


@pytest.mark.parametrize("value", VALUES)
def test_sqlite_timestamp_text_is_sqlalchemys_own(value: datetime) -> None:
    dialect = sqlite.dialect()
    ours = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    plain = DateTime().dialect_impl(dialect).bind_processor(dialect)
    as_utc = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    assert ours(value) == plain(as_utc.replace(tzinfo=None))
    assert ours(None) is None


def test_timestamps_round_trip_through_sqlite_aware_and_in_utc() -> None:
    table = Table("t", MetaData(), Column("k", Integer, primary_key=True), Column("at", UTCDateTime()))
    engine = create_engine("sqlite://")
    try:
        with engine.begin() as conn:
            table.create(conn)
            conn.execute(insert(table), [{"k": k, "at": v} for k, v in enumerate(VALUES)])
            back = conn.execute(select(table.c.at).order_by(table.c.k)).scalars().all()
            earlier = conn.execute(select(table.c.k).where(table.c.at < VALUES[1]).order_by(table.c.k)).scalars().all()
    finally:
        engine.dispose()
    assert back == [v if v.tzinfo else v.replace(tzinfo=timezone.utc) for v in VALUES]
    assert all(v.tzinfo == timezone.utc for v in back)
    assert earlier == [0, 2, 3, 4]  # compared as times, in UTC
