"""Content-addressed bytes: each distinct payload is stored once, by its sha256.

Small payloads live in the ``blobs`` table itself, so everyone sharing a
database server can read them; large ones are written to a file under the
blob directory (``ab/cdef...``) and the row keeps its absolute path. The
caller owns the session and its transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..exceptions import ValueStoreError
from ..store.models import Blob
from .codec import Encoded

__all__ = ["put_blob", "get_blob_bytes", "blob_file_path"]

DIR_MODE = 0o700
FILE_MODE = 0o600


def blob_file_path(blob_dir: Path, blob_id: str) -> Path:
    """Where a file-backed blob with this sha256 lives under ``blob_dir``."""
    return Path(os.path.abspath(Path(blob_dir).expanduser())) / blob_id[:2] / blob_id[2:]


def put_blob(session: Session, payload: Encoded | bytes | bytearray, *, inline_max: int,
             blob_dir: Path) -> Blob:
    """Store bytes once by content: inline up to ``inline_max`` bytes, else as a file."""
    if isinstance(payload, Encoded):
        data, blob_id = payload.data, payload.sha256
    else:
        data = bytes(payload)
        blob_id = hashlib.sha256(data).hexdigest()
    existing = session.get(Blob, blob_id)
    if existing is not None:
        _restore_missing_file(existing, data, blob_dir)
        return existing
    blob = Blob(id=blob_id, size=len(data))
    if len(data) <= inline_max:
        blob.data = data
    else:
        target = blob_file_path(blob_dir, blob_id)
        # The file goes first: a row must never point at a file that is not there.
        # A file left behind by a rolled-back transaction is harmless, content-addressed.
        _write_atomically(target, data)
        blob.path = str(target)
    try:
        with session.begin_nested():
            session.add(blob)
    except IntegrityError as err:
        # Another writer stored the same content first: use its row. A locking
        # read sees rows committed after this transaction's snapshot (MariaDB).
        winner = session.get(Blob, blob_id, populate_existing=True, with_for_update={"read": True})
        if winner is None:
            raise ValueStoreError(f"cannot store blob {blob_id}: {err.orig}") from err
        return winner
    return blob


def get_blob_bytes(session: Session, blob_id: str) -> bytes:
    """The stored bytes of a blob, verified against its sha256."""
    blob = session.get(Blob, blob_id)
    if blob is None:
        raise ValueStoreError(f"no stored bytes with sha256 {blob_id} in this lineage store")
    if blob.data is not None:
        data, where = bytes(blob.data), "the database"
    elif blob.path:
        where = blob.path
        try:
            data = Path(blob.path).read_bytes()
        except FileNotFoundError as err:
            raise ValueStoreError(
                f"the file holding blob {blob_id} is missing: {blob.path} (large values "
                "are kept on the machine that saved them; save the value again there)"
            ) from err
        except OSError as err:
            raise ValueStoreError(
                f"cannot read blob {blob_id} from {blob.path}: {err.strerror or err}"
            ) from err
    else:
        raise ValueStoreError(f"blob {blob_id} has neither data nor a file path")
    actual = hashlib.sha256(data).hexdigest()
    if actual != blob_id:
        raise ValueStoreError(
            f"blob {blob_id} read from {where} is corrupted: its sha256 is now {actual} "
            f"({len(data):,} bytes, {blob.size:,} expected)"
        )
    return data


def _restore_missing_file(blob: Blob, data: bytes, blob_dir: Path) -> None:
    """Rewrite a deduplicated blob's file if it was deleted from our own blob directory."""
    if blob.path is None or os.path.exists(blob.path):
        return
    # Only a path under our blob directory is ours to write; a colleague's path on
    # a shared server names a file on their machine.
    if blob.path == str(blob_file_path(blob_dir, blob.id)):
        _write_atomically(Path(blob.path), data)


def _make_private_dir(directory: Path) -> None:
    if not directory.is_dir():
        directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)


def _write_atomically(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` via a temporary file and a rename, mode 0600."""
    try:
        _make_private_dir(target.parent.parent)
        _make_private_dir(target.parent)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    except OSError as err:
        raise ValueStoreError(
            f"cannot create a blob file in {target.parent}: {err.strerror or err}"
        ) from err
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, FILE_MODE)
        os.replace(tmp_name, target)
    except OSError as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise ValueStoreError(f"cannot write blob file {target}: {err.strerror or err}") from err
    _fsync_directory(target.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable; a no-op where directories cannot be opened (Windows)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
