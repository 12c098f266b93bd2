"""The content of a file as lineage sees it: sha256, size and mtime.

Runs on the watcher's hashing thread, never on the user's. A file whose
size, mtimes, inode and device are unchanged since this process last hashed
it is not read again, unless it changed so recently that a second write in
the same timestamp tick could hide (git's "racy clean" rule).
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

from .watcher import MAX_HASH_BYTES, quiet

class FileAccess(NamedTuple):
    """One file a cell used: how, and its content after the cell."""

    path: str
    read: bool
    written: bool
    sha256: str | None
    size: int
    mtime: datetime


CHUNK_BYTES = 1 << 20
RACY_S = 2.0
MAX_CACHED = 200_000


class FileState(NamedTuple):
    """A regular file's content hash (None above the size cap), size and mtime."""

    path: str
    sha256: str | None
    size: int
    mtime: datetime


def sha256_file(path: str) -> str:
    """The sha256 hex digest of a file's bytes (this thread's opens are not recorded)."""
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK_BYTES)
    view = memoryview(buffer)
    with quiet(), open(path, "rb", buffering=0) as handle:
        while True:
            n = handle.readinto(buffer)
            if not n:
                break
            digest.update(view[:n])
    return digest.hexdigest()


def mtime_of(mtime_ns: int) -> datetime:
    """A file's mtime as an aware UTC datetime, exact to the microsecond."""
    seconds, rest = divmod(mtime_ns, 1_000_000_000)
    return _EPOCH + timedelta(seconds=seconds, microseconds=rest // 1000)


def _signature(path: str) -> tuple[int, ...] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class Hasher:
    """Hashes files up to a size cap, remembering stat signatures to skip rehashing."""

    def __init__(self, max_bytes: int = MAX_HASH_BYTES) -> None:
        self.max_bytes = max_bytes
        self.hashed = 0
        self.cache_hits = 0
        self._cache: dict[str, tuple[tuple[int, ...], str]] = {}

    def state(self, path: str) -> FileState | None:
        """The file's state now, or None if it is gone or not a regular file."""
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        mtime = mtime_of(st.st_mtime_ns)
        if st.st_size > self.max_bytes:
            return FileState(path, None, st.st_size, mtime)
        signature = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)
        cached = self._cache.get(path)
        if cached is not None and cached[0] == signature:
            self.cache_hits += 1
            return FileState(path, cached[1], st.st_size, mtime)
        try:
            sha = sha256_file(path)
        except OSError:
            return None
        self.hashed += 1
        if _signature(path) != signature:
            return FileState(path, sha, st.st_size, mtime)  # changed while we read it: do not cache
        if time.time() - max(st.st_mtime_ns, st.st_ctime_ns) / 1e9 > RACY_S:
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
            self._cache[path] = (signature, sha)
        return FileState(path, sha, st.st_size, mtime)


__all__ = ["FileState", "Hasher", "mtime_of", "sha256_file"]
