"""Content-addressed blobs: stored once, inline or as private files, verified on read."""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from lineage_magic.exceptions import ValueStoreError
from lineage_magic.store.engine import Store
from lineage_magic.store.models import Blob
from lineage_magic.values import encode, get_blob_bytes, put_blob
from lineage_magic.values.blobs import blob_file_path


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    store = Store(sqlite_url)
    yield store
    store.dispose()


def blob_count(store: Store) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(Blob))


def test_same_bytes_twice_are_stored_once(store: Store, tmp_path: Path) -> None:
    with store.session() as session:
        first = put_blob(session, b"same content", inline_max=100, blob_dir=tmp_path)
        session.commit()
    with store.session() as session:
        again = put_blob(session, bytearray(b"same content"), inline_max=100, blob_dir=tmp_path)
        other = put_blob(session, b"other content", inline_max=100, blob_dir=tmp_path)
        session.commit()
        assert again.id == first.id == hashlib.sha256(b"same content").hexdigest()
        assert other.id != first.id
    assert blob_count(store) == 2


def test_encoded_values_are_stored_under_their_sha256(store: Store, tmp_path: Path) -> None:
    encoded = encode({"a": 1}, max_bytes=1000)
    with store.session() as session:
        blob = put_blob(session, encoded, inline_max=1000, blob_dir=tmp_path)
        session.commit()
        assert blob.id == encoded.sha256
        assert get_blob_bytes(session, encoded.sha256) == encoded.data


def test_small_payloads_are_inline_and_large_ones_are_files(store: Store, tmp_path: Path) -> None:
    blob_dir = tmp_path / "blobs"
    small, large = b"s" * 64, b"L" * 65
    with store.session() as session:
        inline = put_blob(session, small, inline_max=64, blob_dir=blob_dir)
        filed = put_blob(session, large, inline_max=64, blob_dir=blob_dir)
        session.commit()
    assert (inline.data, inline.path, inline.size) == (small, None, 64)
    assert filed.data is None and filed.size == 65
    expected = blob_dir / filed.id[:2] / filed.id[2:]
    assert filed.path == str(expected.absolute())
    assert expected.read_bytes() == large
    assert inline.id[2:] not in {p.name for p in blob_dir.rglob("*")}
    with store.session() as session:
        assert get_blob_bytes(session, inline.id) == small
        assert get_blob_bytes(session, filed.id) == large


def test_blob_files_and_directories_are_private(store: Store, tmp_path: Path) -> None:
    blob_dir = tmp_path / "new" / "blobs"
    old_umask = os.umask(0o022)
    try:
        with store.session() as session:
            blob = put_blob(session, b"secret" * 100, inline_max=0, blob_dir=blob_dir)
            session.commit()
    finally:
        os.umask(old_umask)
    path = Path(blob.path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(blob_dir.stat().st_mode) == 0o700
    # No temporary file is left beside the blob.
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_a_corrupted_file_is_detected(store: Store, tmp_path: Path) -> None:
    with store.session() as session:
        blob = put_blob(session, b"original bytes" * 10, inline_max=0, blob_dir=tmp_path)
        session.commit()
    path = Path(blob.path)
    data = bytearray(path.read_bytes())
    data[3] ^= 0xFF
    path.write_bytes(bytes(data))
    with store.session() as session, pytest.raises(ValueStoreError, match="is corrupted"):
        get_blob_bytes(session, blob.id)


def test_corrupted_inline_bytes_are_detected(store: Store, tmp_path: Path) -> None:
    with store.session() as session:
        blob = put_blob(session, b"inline bytes", inline_max=100, blob_dir=tmp_path)
        blob.data = b"inline bytez"
        session.commit()
    with store.session() as session, pytest.raises(ValueStoreError, match="corrupted"):
        get_blob_bytes(session, blob.id)


def test_a_missing_file_or_row_is_a_clear_error(store: Store, tmp_path: Path) -> None:
    with store.session() as session:
        blob = put_blob(session, b"x" * 10, inline_max=0, blob_dir=tmp_path)
        session.commit()
    os.unlink(blob.path)
    with store.session() as session:
        with pytest.raises(ValueStoreError, match="is missing"):
            get_blob_bytes(session, blob.id)
        with pytest.raises(ValueStoreError, match="no stored bytes"):
            get_blob_bytes(session, "0" * 64)


def test_storing_the_content_again_restores_a_deleted_file(store: Store, tmp_path: Path) -> None:
    with store.session() as session:
        blob = put_blob(session, b"y" * 10, inline_max=0, blob_dir=tmp_path)
        session.commit()
    os.unlink(blob.path)
    with store.session() as session:
        put_blob(session, b"y" * 10, inline_max=0, blob_dir=tmp_path)
        session.commit()
        assert get_blob_bytes(session, blob.id) == b"y" * 10


def test_concurrent_insert_of_the_same_content_is_tolerated(db_url: str, tmp_path: Path) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite lets one writer at a time in: the two inserts cannot overlap")
    server = Store(db_url)
    data = b"raced"
    first, second = server.session(), server.session()
    try:
        put_blob(first, data, inline_max=100, blob_dir=tmp_path)
        first.flush()  # the row exists, uncommitted: the second insert waits on it
        with ThreadPoolExecutor(1) as pool:
            racing = pool.submit(put_blob, second, data, inline_max=100, blob_dir=tmp_path)
            time.sleep(0.3)
            assert not racing.done()
            first.commit()
            winner = racing.result(timeout=10)
        second.commit()
        assert winner.id == hashlib.sha256(data).hexdigest()
        assert winner.data == data
        with server.session() as session:
            assert session.scalar(select(func.count()).select_from(Blob)) == 1
    finally:
        first.close()
        second.close()
        server.dispose()


def test_blob_file_path_shards_by_the_first_two_hex_digits(tmp_path: Path) -> None:
    digest = hashlib.sha256(b"z").hexdigest()
    assert blob_file_path(tmp_path, digest) == tmp_path.absolute() / digest[:2] / digest[2:]
