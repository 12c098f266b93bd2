"""Database URL resolution and password masking."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ..exceptions import InvalidURLError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

ENV_VAR = "LINEAGE_MAGIC_DB_URL"
HOME_ENV_VAR = "LINEAGE_MAGIC_HOME"

# Short driver names users type, mapped to the drivers our extras install.
_DRIVER_DEFAULTS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}
_PASSWORD_IN_TEXT = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


def default_home() -> Path:
    """The directory holding the default SQLite store and large values."""
    override = os.environ.get(HOME_ENV_VAR)
    return Path(override).expanduser() if override else Path.home() / ".lineage_magic"


def default_url() -> str:
    """The embedded default: one SQLite file shared by every notebook of the user."""
    return f"sqlite:///{default_home() / 'lineage.db'}"


def resolve_url(explicit: str | None = None, configured: str | None = None) -> str:
    """Pick the URL by precedence: explicit > %config > environment > default."""
    if explicit is not None:
        return explicit
    for candidate in (configured, os.environ.get(ENV_VAR)):
        if candidate:
            return candidate
    return default_url()


_URL_SHAPE = re.compile(r"^(sqlite|postgresql|postgres|mysql|mariadb)(\+\w+)?://", re.IGNORECASE)


def check_url_shape(url: str) -> None:
    """Reject what cannot be a supported database URL, without importing SQLAlchemy."""
    if not isinstance(url, str) or not _URL_SHAPE.match(url.strip()):
        raise InvalidURLError(
            f"not a supported database URL: {mask_text(str(url))!r}; expected e.g. "
            "'sqlite:///path/to/lineage.db', 'postgresql://user@host/db' or 'mysql://user@host/db'"
        )


def mask_text(text: str) -> str:
    """Hide anything that looks like a password inside a URL in free text."""
    return _PASSWORD_IN_TEXT.sub(r"\1***@", text)


def parse_url(url: str | URL) -> URL:
    """Parse a URL, apply our default drivers, and reject what cannot work."""
    from sqlalchemy.engine import URL, make_url
    from sqlalchemy.exc import ArgumentError

    if isinstance(url, URL):
        parsed = url
    else:
        if not isinstance(url, str) or not url.strip():
            raise InvalidURLError(f"database URL must be a non-empty string, got {url!r}")
        if "\x00" in url or not _is_valid_text(url):
            raise InvalidURLError("database URL contains a NUL byte or a lone surrogate: not valid text")
        try:
            parsed = make_url(url.strip())
        except (ArgumentError, ValueError):
            raise InvalidURLError(
                f"cannot parse database URL {mask_text(url)!r}: expected e.g. "
                "'sqlite:///path/to/lineage.db' or 'postgresql://user@host/db'"
            ) from None
    driver = _DRIVER_DEFAULTS.get(parsed.drivername)
    if driver:
        parsed = parsed.set(drivername=driver)
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql", "mysql", "mariadb"):
        raise InvalidURLError(
            f"unsupported database {backend!r} in {mask(parsed)!r}: "
            "use sqlite, postgresql, mysql or mariadb"
        )
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        return parsed.set(database=":memory:")
    if backend != "sqlite" and not parsed.database:
        raise InvalidURLError(f"database URL {mask(parsed)!r} names no database: add /DBNAME")
    return parsed


def _is_valid_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def mask(url: str | URL) -> str:
    """Render a URL for people: the password is always replaced by ***."""
    if not isinstance(url, str):
        return url.render_as_string(hide_password=True)
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return mask_text(str(url))
