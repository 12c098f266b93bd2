"""Database errors turned into lineage_magic's named errors, at the API's edge."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..exceptions import InvalidQueryError, StoreUnavailableError
from .urls import mask_text


def short_reason(err: BaseException, limit: int = 300) -> str:
    """A one-line, password-free reason taken from a (driver) error, for people."""
    orig = getattr(err, "orig", None) or err
    lines = str(orig).strip().splitlines()
    return mask_text(f"{type(orig).__name__}: {lines[0] if lines else ''}")[:limit]


@contextmanager
def database_errors(what: str) -> Iterator[None]:
    """Raise StoreUnavailableError or InvalidQueryError instead of driver errors."""
    from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError, StatementError

    try:
        yield
    except (OperationalError, InterfaceError, DisconnectionError) as err:
        raise StoreUnavailableError(f"{what}: the lineage store is unavailable ({short_reason(err)})") from err
    except (StatementError, OverflowError, UnicodeError) as err:
        # Values the database cannot take: a list for a text column, an integer
        # beyond 64 bits, text that is not valid Unicode.
        raise InvalidQueryError(f"{what}: the database cannot take these values ({short_reason(err)})") from err
