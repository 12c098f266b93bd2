"""Saving and loading named, versioned values on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from lineage_magic.exceptions import (
    InvalidQueryError,
    PickleRefusedError,
    RecordNotFoundError,
    UnserializableValueError,
    ValueTooLargeError,
)
from lineage_magic.store.engine import Store
from lineage_magic.store.models import (
    Artifact,
    Base,
    Blob,
    Cell,
    DefinitionNode,
    NodeValue,
    Run,
    SourceCode,
    run_inputs,
    run_outputs,
    utcnow,
)
from lineage_magic.values import (
    load_value,
    parse_artifact_ref,
    save_value,
    validate_artifact_name,
)

CAP = 1 << 20


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    store = Store(db_url)
    yield store
    store.dispose()


@pytest.fixture
def limits(tmp_path: Path) -> dict:
    return {"max_bytes": CAP, "inline_max": 256, "blob_dir": tmp_path / "blobs"}


def new_run(store: Store, name: str = "run") -> str:
    with store.session() as session:
        run = Run(name=name, started_at=utcnow(), status="running")
        session.add(run)
        session.commit()
        return run.id


def row_counts(store: Store) -> dict[str, int]:
    with store.session() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
        }


def test_versions_count_up_from_zero_and_load_defaults_to_the_latest(store: Store, limits: dict) -> None:
    run_id = new_run(store)
    with store.session() as session:
        saved = [
            save_value(session, {"step": i}, "metrics", run_id=run_id, **limits) for i in range(3)
        ]
        save_value(session, "unrelated", "other", run_id=run_id, **limits)
        session.commit()
    assert [a.version for a in saved] == [0, 1, 2]
    assert all(a.kind == "value" and a.name == "metrics" for a in saved)
    with store.session() as session:
        value, artifact = load_value(session, "metrics")
        assert (value, artifact.version, artifact.id) == ({"step": 2}, 2, saved[2].id)
        value, artifact = load_value(session, *parse_artifact_ref("metrics@1"))
        assert (value, artifact.version) == ({"step": 1}, 1)
        value, artifact = load_value(session, "metrics", 0)
        assert value == {"step": 0}
        assert load_value(session, "other")[0] == "unrelated"


def test_saved_records_link_run_cell_node_value_and_blob(store: Store, limits: dict) -> None:
    run_id = new_run(store)
    with store.session() as session:
        code = "x = [1, 2, 3]"
        source = SourceCode(id=hashlib.sha256(code.encode()).hexdigest(), code=code)
        cell = Cell(run_id=run_id, seq=0, source_code=source, started_at=utcnow(), status="ok")
        node = DefinitionNode(run_id=run_id, cell=cell, name="x")
        session.add_all([source, cell, node])
        session.commit()
        artifact = save_value(
            session, [1, 2, 3], "x", run_id=run_id, cell_id=cell.id, node_id=node.id, **limits
        )
        session.commit()
        value = session.get(NodeValue, artifact.node_value_id)
        assert (artifact.run_id, artifact.cell_id, artifact.node_id) == (run_id, cell.id, node.id)
        assert (value.node_id, value.run_id) == (node.id, run_id)
        assert (value.format, value.value_type) == ("json", "builtins.list")
        blob = session.get(Blob, value.blob_id)
        assert artifact.sha256 == blob.id == hashlib.sha256(blob.data).hexdigest()
        assert artifact.size == value.size == blob.size == len(b"[1,2,3]")


def test_saves_are_run_outputs_and_loads_are_run_inputs_once(store: Store, limits: dict) -> None:
    producer, consumer = new_run(store, "producer"), new_run(store, "consumer")
    with store.session() as session:
        first = save_value(session, 1, "n", run_id=producer, **limits)
        second = save_value(session, 2, "n", run_id=producer, **limits)
        save_value(session, 3, "free", run_id=None, **limits)
        session.commit()
    with store.session() as session:
        for _ in range(3):
            load_value(session, "n", run_id=consumer)
        load_value(session, "n", 0, run_id=consumer)
        load_value(session, "free")
        session.commit()
    with store.session() as session:
        outputs = session.execute(select(run_outputs.c.run_id, run_outputs.c.artifact_id)).all()
        inputs = session.execute(select(run_inputs.c.run_id, run_inputs.c.artifact_id)).all()
        assert sorted(outputs) == sorted([(producer, first.id), (producer, second.id)])
        assert sorted(inputs) == sorted([(consumer, first.id), (consumer, second.id)])
        assert {a.id for a in session.get(Run, producer).outputs} == {first.id, second.id}
        assert {a.id for a in session.get(Run, consumer).inputs} == {first.id, second.id}


def test_loaded_relationships_see_new_outputs_and_inputs(store: Store, limits: dict) -> None:
    run_id = new_run(store)
    with store.session() as session:
        run = session.get(Run, run_id)
        assert run.outputs == [] and run.inputs == []
        artifact = save_value(session, 1, "n", run_id=run_id, **limits)
        assert [a.id for a in run.outputs] == [artifact.id]
        load_value(session, "n", run_id=run_id)
        assert [a.id for a in run.inputs] == [artifact.id]
        session.commit()


def test_identical_values_share_one_blob(store: Store, limits: dict) -> None:
    with store.session() as session:
        a = save_value(session, {"same": True}, "a", run_id=None, **limits)
        b = save_value(session, {"same": True}, "b", run_id=None, **limits)
        session.commit()
    assert a.sha256 == b.sha256
    assert row_counts(store)["blobs"] == 1
    assert row_counts(store)["node_values"] == 2


def test_refused_pickle_load_records_nothing(store: Store, limits: dict) -> None:
    run_id = new_run(store)
    with store.session() as session:
        save_value(session, (1, "tuple"), "pair", run_id=None, **limits)
        session.commit()
    before = row_counts(store)
    with store.session() as session:
        with pytest.raises(PickleRefusedError, match="allow_pickle=True"):
            load_value(session, "pair", run_id=run_id)
        session.commit()
    assert row_counts(store) == before
    with store.session() as session:
        value, _ = load_value(session, "pair", run_id=run_id, allow_pickle=True)
        session.commit()
    assert value == (1, "tuple") and type(value) is tuple
    assert row_counts(store)["run_inputs"] == before["run_inputs"] + 1


REFUSED_SAVES = {
    "too-large": ({"obj": list(range(10_000)), "name": "big"}, ValueTooLargeError),
    "pickle-off": ({"obj": (1, 2), "name": "t", "allow_pickle": False}, UnserializableValueError),
    "unpicklable": ({"obj": (i for i in range(3)), "name": "gen"}, UnserializableValueError),
    "at-sign": ({"obj": 1, "name": "bad@name"}, InvalidQueryError),
    "empty-name": ({"obj": 1, "name": ""}, InvalidQueryError),
    "unknown-run": ({"obj": 1, "name": "ok", "run_id": "no-such-run"}, RecordNotFoundError),
    "unknown-cell": ({"obj": 1, "name": "ok", "cell_id": "no-such-cell"}, RecordNotFoundError),
}


def test_a_refused_save_writes_nothing(store: Store, tmp_path: Path) -> None:
    # One database for every case: creating one per case would dominate the runtime.
    run_id = new_run(store)
    blob_dir = tmp_path / "blobs"
    with store.session() as session:
        save_value(session, 0, "big", run_id=run_id, max_bytes=1000, inline_max=0, blob_dir=blob_dir)
        session.commit()
    before = row_counts(store)
    files_before = sorted(blob_dir.rglob("*"))
    for case, (kwargs, error) in REFUSED_SAVES.items():
        arguments = {"run_id": run_id, "max_bytes": 1000, "inline_max": 0, "blob_dir": blob_dir}
        arguments.update(kwargs)
        with store.session() as session:
            with pytest.raises(error):
                save_value(session, **arguments)
            session.commit()
        assert row_counts(store) == before, case
        assert sorted(blob_dir.rglob("*")) == files_before, case


def test_missing_versions_list_what_exists(store: Store, limits: dict) -> None:
    with store.session() as session:
        for i in range(3):
            save_value(session, i, "model", run_id=None, **limits)
        session.commit()
        with pytest.raises(RecordNotFoundError, match=r"no version 7 of 'model'.*0, 1, 2"):
            load_value(session, "model", 7)
        with pytest.raises(RecordNotFoundError, match="no saved value named 'nothing'"):
            load_value(session, "nothing")
        with pytest.raises(InvalidQueryError, match="whole number"):
            load_value(session, "model", -1)
        with pytest.raises(RecordNotFoundError, match="no run with id 'nope'"):
            load_value(session, "model", run_id="nope")


def test_names_are_case_sensitive_and_unicode(store: Store, limits: dict) -> None:
    with store.session() as session:
        save_value(session, "lower", "model", run_id=None, **limits)
        save_value(session, "upper", "Model", run_id=None, **limits)
        save_value(session, "unicode", "модель ✓", run_id=None, **limits)
        save_value(session, "longest", "🙂" * 255, run_id=None, **limits)
        session.commit()
        assert load_value(session, "🙂" * 255)[0] == "longest"
        assert load_value(session, "model")[1].version == 0
        assert load_value(session, "Model")[0] == "upper"
        assert load_value(session, "модель ✓")[0] == "unicode"


def test_numpy_array_round_trip_inline_and_as_file(store: Store, limits: dict) -> None:
    np = pytest.importorskip("numpy", reason="numpy is an optional dependency")
    small = np.arange(6, dtype=np.int32).reshape(2, 3)
    large = np.linspace(0.0, 1.0, 10_000)
    run_id = new_run(store)
    with store.session() as session:
        save_value(session, small, "small", run_id=run_id, **limits)
        save_value(session, large, "large", run_id=run_id, **limits)
        session.commit()
    with store.session() as session:
        for name, original, inline in (("small", small, True), ("large", large, False)):
            value, artifact = load_value(session, name, run_id=run_id)
            assert type(value) is np.ndarray and value.dtype == original.dtype
            np.testing.assert_array_equal(value, original)
            blob = session.get(Blob, artifact.sha256)
            assert (blob.data is not None) is inline
            assert session.get(NodeValue, artifact.node_value_id).format == "npy"


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgresql_round_trip_of_a_numpy_array(store: Store, tmp_path: Path) -> None:
    np = pytest.importorskip("numpy", reason="numpy is an optional dependency")
    assert store.dialect == "postgresql"
    array = np.random.default_rng(0).normal(size=(50, 4))
    with store.session() as session:
        save_value(session, array, "features", run_id=None, max_bytes=CAP,
                   inline_max=CAP, blob_dir=tmp_path / "blobs")
        session.commit()
    assert not (tmp_path / "blobs").exists()  # inline: a colleague can read it too
    with store.session() as session:
        value, artifact = load_value(session, "features")
    assert (artifact.version, type(value), value.dtype) == (0, np.ndarray, array.dtype)
    np.testing.assert_array_equal(value, array)


def test_concurrent_savers_of_one_name_get_distinct_versions(store: Store, limits: dict) -> None:
    if store.dialect == "sqlite":
        pytest.skip("SQLite lets one writer at a time in: the two saves cannot overlap")
    first, second = store.session(), store.session()
    try:
        # The second one's snapshot predates the first one's commit (MariaDB keeps it).
        assert second.scalar(select(func.count()).select_from(Artifact)) == 0
        save_value(first, "first", "shared", run_id=None, **limits)
        first.flush()
        with ThreadPoolExecutor(1) as pool:
            racing = pool.submit(save_value, second, "second", "shared", run_id=None, **limits)
            time.sleep(0.3)
            assert not racing.done()  # its version 0 waits on the first one's row
            first.commit()
            artifact = racing.result(timeout=10)
        second.commit()
        assert artifact.version == 1
    finally:
        first.close()
        second.close()
    with store.session() as session:
        assert load_value(session, "shared", 0)[0] == "first"
        assert load_value(session, "shared")[0] == "second"


@pytest.mark.parametrize(
    "ref, expected",
    [("model", ("model", None)), ("model@0", ("model", 0)), ("model@12", ("model", 12)),
     ("my data.csv", ("my data.csv", None)), ("ß@3", ("ß", 3))],
)
def test_parse_artifact_ref(ref: str, expected: tuple[str, int | None]) -> None:
    assert parse_artifact_ref(ref) == expected


@pytest.mark.parametrize(
    "ref, message",
    [("model@", "NAME@VERSION"), ("model@-1", "NAME@VERSION"), ("model@x", "NAME@VERSION"),
     ("a@b@1", "NAME@VERSION"), ("model@1.5", "NAME@VERSION"), ("model@٣", "NAME@VERSION"),
     ("@3", "cannot be empty"), ("model@99999999999", "out of range")],
)
def test_parse_artifact_ref_rejects_malformed_refs(ref: str, message: str) -> None:
    with pytest.raises(InvalidQueryError, match=message):
        parse_artifact_ref(ref)


@pytest.mark.parametrize(
    "name, message",
    [("", "cannot be empty.*e.g. 'model'"),
     ("x" * 256, "256 characters long: use at most 255"),
     ("a@b", "contains '@'.*e.g. 'a_b'"),
     ("line\nbreak", r"control character '\\n' at position 4"),
     ("tab\tname", "control character"),
     ("nul\x00", "control character"),
     (" padded ", "whitespace.*use 'padded'"),
     (42, "must be a string")],
)
def test_invalid_names_say_what_is_wrong_and_what_would_be_right(name: object, message: str) -> None:
    with pytest.raises(InvalidQueryError, match=message):
        validate_artifact_name(name)  # type: ignore[arg-type]


def test_valid_names_are_returned_unchanged() -> None:
    for name in ("model", "x" * 255, "my model v2", "données", "a.b-c_d/e"):
        assert validate_artifact_name(name) == name
