"""Record ids and timestamps, without importing SQLAlchemy (the hooks use them)."""

from __future__ import annotations

import os
import random
import string
from datetime import datetime, timezone

_ALPHABET = string.ascii_letters + string.digits
# Ids need uniqueness, not secrecy: a per-process generator seeded from the OS
# (and reseeded after fork) is ten times faster than ``secrets``.
_rng = random.Random()
os.register_at_fork(after_in_child=_rng.seed)


def new_id(length: int) -> str:
    """A random base62 id of the given length (8 for users, 20 for runs, ...)."""
    return "".join(_rng.choices(_ALPHABET, k=length))


def utcnow() -> datetime:
    """The current time in UTC, as every timestamp in the store is."""
    return datetime.now(timezone.utc)
