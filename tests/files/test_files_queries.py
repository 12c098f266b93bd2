"""File artifacts and run lineage through them, on every backend, without a shell."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert

from lineage_magic import context, files
from lineage_magic.exceptions import InvalidQueryError
from lineage_magic.files.writes import FileAccess, artifact_name, write_file_accesses
from lineage_magic.store import tables

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
MTIME = datetime(2023, 12, 31, tzinfo=timezone.utc)


@pytest.fixture
def store(db_url: str):  # noqa: ANN201
    """A fresh store on each backend."""
    return context.open_store(db_url)


def _run(store, run_id: str, minute: int, *, finished: bool = True) -> str:  # noqa: ANN001
    with store.engine.begin() as conn:
        conn.execute(insert(tables.runs), [{
            "id": run_id, "started_at": T0 + timedelta(minutes=minute),
            "finished_at": T0 + timedelta(minutes=minute, seconds=30) if finished else None,
            "status": "finished", "created_at": T0,
        }])
    return run_id


def _touch(store, run_id: str, *accesses: tuple[str, str, str | None]) -> dict[str, str]:  # noqa: ANN001
    """(path, 'r'|'w'|'rw', content) per access; content None: above the hash cap."""
    rows = [
        FileAccess(path, "r" in how, "w" in how, content and f"{content:0>64}"[:64], len(content or "big"), MTIME)
        for path, how, content in accesses
    ]
    with store.engine.begin() as conn:
        return write_file_accesses(conn, run_id, None, rows)


def _ids(runs) -> list[str]:  # noqa: ANN001
    return [r.id for r in runs]


def test_chain_of_runs_upstream_and_downstream_with_depth(store) -> None:  # noqa: ANN001
    a, b, c = (_run(store, x, i) for i, x in enumerate(("A" * 20, "B" * 20, "C" * 20)))
    _touch(store, a, ("/d/raw.csv", "w", "1"))
    _touch(store, b, ("/d/raw.csv", "r", "1"), ("/d/clean.csv", "w", "2"))
    _touch(store, c, ("/d/clean.csv", "r", "2"))
    assert _ids(files.run_upstream(c, store)) == [a, b]
    assert _ids(files.run_upstream(c, store, depth=1)) == [b]
    assert _ids(files.run_downstream(a, store)) == [b, c]
    assert _ids(files.run_downstream(a, store, depth=1)) == [b]
    assert files.run_upstream(a, store) == [] and files.run_downstream(c, store) == []
    # Only file artifacts, or only values: both routes filter by kind.
    assert files.run_upstream(c, store, kinds=["value"]) == []


def test_same_content_reuses_the_version_other_content_gets_the_next(store) -> None:  # noqa: ANN001
    a, b = _run(store, "A" * 20, 0), _run(store, "B" * 20, 1)
    first = _touch(store, a, ("/d/x", "w", "1"))
    assert _touch(store, b, ("/d/x", "w", "2"))["/d/x"] != first["/d/x"]
    assert _touch(store, b, ("/d/x", "w", "1")) == first
    history = files.file_history("/d/x", store)
    assert [v.version for v in history] == [0, 1]
    assert [[w.run_id for w in v.written_by] for v in history] == [[a, b], [b]]


def test_a_producer_that_started_after_the_consumer_finished_is_not_upstream(store) -> None:  # noqa: ANN001
    early, late = _run(store, "E" * 20, 0), _run(store, "L" * 20, 10)
    _touch(store, early, ("/d/x", "r", "1"))
    _touch(store, late, ("/d/x", "w", "1"))
    assert files.run_upstream(early, store) == []
    (read,) = files.run_files(early, store)
    assert read.producers == (late,)  # the same content, written later: shown, not a dependency


def test_cycles_terminate_and_exclude_the_start(store) -> None:  # noqa: ANN001
    a, b = _run(store, "A" * 20, 0, finished=False), _run(store, "B" * 20, 1, finished=False)
    _touch(store, a, ("/d/x", "w", "1"), ("/d/y", "r", "2"))
    _touch(store, b, ("/d/y", "w", "2"), ("/d/x", "r", "1"))
    assert _ids(files.run_upstream(a, store)) == [b]
    assert _ids(files.run_downstream(a, store)) == [b]


def test_read_and_written_in_one_cell_depends_on_the_latest_version(store) -> None:  # noqa: ANN001
    a, b = _run(store, "A" * 20, 0), _run(store, "B" * 20, 1)
    _touch(store, a, ("/d/x", "w", "1"))
    _touch(store, b, ("/d/x", "rw", "2"))
    assert _ids(files.run_upstream(b, store)) == [a]
    directions = {(f.direction, f.version) for f in files.run_files(b, store)}
    assert directions == {("read", 0), ("write", 1)}


def test_files_above_the_hash_cap_match_by_size_and_mtime(store) -> None:  # noqa: ANN001
    a, b = _run(store, "A" * 20, 0), _run(store, "B" * 20, 1)
    written = _touch(store, a, ("/d/big", "w", None))
    assert _touch(store, b, ("/d/big", "r", None)) == written
    assert _ids(files.run_upstream(b, store)) == [a]
    (version,) = files.file_history("/d/big", store)
    assert version.sha256 is None and version.size == 3


def test_changed_inputs_of_a_replay(store) -> None:  # noqa: ANN001
    orig, replay = _run(store, "O" * 20, 0), _run(store, "R" * 20, 1)
    _touch(store, orig, ("/d/same", "r", "1"), ("/d/changed", "r", "2"), ("/d/gone", "r", "3"))
    _touch(store, replay, ("/d/same", "r", "1"), ("/d/changed", "r", "4"), ("/d/new", "r", "5"))
    sha = lambda c: f"{c:0>64}"  # noqa: E731
    assert files.changed_inputs(orig, replay, store) == [
        ("/d/changed", sha("2"), sha("4")),
        ("/d/gone", sha("3"), None),
        ("/d/new", None, sha("5")),
    ]
    assert files.changed_inputs(orig, orig, store) == []


def test_long_paths_get_distinct_names_within_the_column(store) -> None:  # noqa: ANN001
    a = _run(store, "A" * 20, 0)
    long1, long2 = "/d/" + "x" * 300 + "1", "/d/" + "x" * 300 + "2"
    assert len(artifact_name(long1)) <= 255 and artifact_name(long1) != artifact_name(long2)
    _touch(store, a, (long1, "w", "1"), (long2, "w", "1"))
    assert [v.path for v in files.file_history(long1, store)] == [long1]
    assert [v.path for v in files.file_history(long2, store)] == [long2]


def test_bad_arguments_raise_invalid_query(store) -> None:  # noqa: ANN001
    with pytest.raises(InvalidQueryError):
        files.run_upstream(42, store)  # type: ignore[arg-type]
    with pytest.raises(InvalidQueryError):
        files.run_upstream("A" * 20, store, depth=0)
    with pytest.raises(InvalidQueryError):
        files.file_history("bad\x00path", store)
    assert files.file_history("/never/recorded", store) == []
