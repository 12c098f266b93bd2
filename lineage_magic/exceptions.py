"""Exceptions raised by lineage_magic's Python API.

The tree::

    LineageError
     ├── InvalidURLError          a database URL that cannot be parsed or used
     ├── StoreUnavailableError    the database cannot be reached, opened or written
     ├── MigrationError           the schema could not be brought up to date
     ├── InvalidQueryError        an unknown model, filter field or record id
     │    └── RecordNotFoundError  a lookup that found nothing
     ├── NoActiveRunError         an operation that needs a recorded run, without one
     └── ValueStoreError          an artifact value could not be stored or loaded
          ├── ValueTooLargeError
          ├── UnserializableValueError
          └── PickleRefusedError

Magics turn these into IPython's ``UsageError``; the command line turns them
into exit status 2.
"""

from __future__ import annotations

__all__ = [
    "LineageError",
    "InvalidURLError",
    "StoreUnavailableError",
    "MigrationError",
    "InvalidQueryError",
    "RecordNotFoundError",
    "NoActiveRunError",
    "ValueStoreError",
    "ValueTooLargeError",
    "UnserializableValueError",
    "PickleRefusedError",
]


class LineageError(Exception):
    """Base class of every error lineage_magic raises on purpose."""


class InvalidURLError(LineageError, ValueError):
    """A database URL that cannot be parsed or has no usable driver."""


class StoreUnavailableError(LineageError):
    """The lineage database cannot be reached, opened or written."""


class MigrationError(LineageError):
    """The database schema could not be upgraded to this version."""


class InvalidQueryError(LineageError, ValueError):
    """A query names an unknown model or field, or a malformed record id."""


class RecordNotFoundError(InvalidQueryError, LookupError):
    """No record matches the given id, name or version."""


class NoActiveRunError(LineageError):
    """The operation needs a run recorded by the extension in this shell."""


class ValueStoreError(LineageError):
    """An artifact value could not be stored or loaded."""


class ValueTooLargeError(ValueStoreError):
    """The serialized value exceeds the configured size cap."""


class UnserializableValueError(ValueStoreError):
    """No format, not even pickle, can serialize the value."""


class PickleRefusedError(ValueStoreError):
    """Loading a pickled value needs an explicit opt-in."""
