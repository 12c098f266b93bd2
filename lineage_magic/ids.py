"""Record ids and timestamps, without importing SQLAlchemy (the hooks use them)."""

from __future__ import annotations

import os
import random
import string
import time
from datetime import datetime, timezone

_ALPHABET = string.ascii_letters + string.digits
# Ids need uniqueness, not secrecy: a per-process generator seeded from the OS
# (and reseeded after fork) is ten times faster than ``secrets``.
_rng = random.Random()
os.register_at_fork(after_in_child=_rng.seed)


def new_id(length: int) -> str:
    """A random base62 id of the given length (8 for users, 20 for runs, ...)."""
    return "".join(_rng.choices(_ALPHABET, k=length))


def _base62(value: int, width: int) -> str:
    digits = []
    for _ in range(width):
        value, digit = divmod(value, 62)
        digits.append(_BASE62[digit])
    return "".join(reversed(digits))


_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase  # sorts like its values


# Every pair of id characters: five draws make a cell id's ten random ones.
_PAIRS = tuple(a + b for a in _ALPHABET for b in _ALPHABET)
_PAIR_COUNT = float(len(_PAIRS))
_time_part: tuple[int, str] = (-1, "")  # the last second an id was made in, as base62


def new_cell_id() -> str:
    """A 16-character cell id that sorts by creation time (to the second).

    Six characters of time, then ten random ones: new ids land at the end of
    the indexes they go into, which makes bulk writes several times faster
    than fully random ids on a large store. Made once per cell, before the
    cell runs: this is three times faster than ``new_id``'s way.
    """
    global _time_part
    second, text = _time_part
    now = int(time.time())
    if now != second:
        text = _base62(now, 6)
        _time_part = (now, text)
    draw, pairs, count = _rng.random, _PAIRS, _PAIR_COUNT
    return (text + pairs[int(draw() * count)] + pairs[int(draw() * count)] + pairs[int(draw() * count)]
            + pairs[int(draw() * count)] + pairs[int(draw() * count)])


_NODE_SUFFIXES = [_base62(i, 4) for i in range(512)]  # most cells have fewer nodes
# Every node id of a cell lies between these two: the cell's nodes are one
# range of the nodes' primary key.
FIRST_NODE_SUFFIX, LAST_NODE_SUFFIX = _base62(0, 4), _base62(62 ** 4 - 1, 4)


def node_id(cell_id: str, index: int) -> str:
    """The id of node ``index`` of a cell: derived, so edges need no lookup table."""
    if 0 <= index < 512:
        return cell_id + _NODE_SUFFIXES[index]
    return cell_id + _base62(index, 4)


def utcnow() -> datetime:
    """The current time in UTC, as every timestamp in the store is."""
    return datetime.now(timezone.utc)
