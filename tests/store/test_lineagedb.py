"""lineapy's store API on our schema, with its documented edge cases."""

from __future__ import annotations

import hashlib

import pytest

import lineage_magic as lm
from lineage_magic.store.models import Blob, utcnow


@pytest.fixture
def populated(connected: str) -> dict[str, str]:
    with lm.Session() as ss:
        run = lm.Run(name="r", transform=lm.Transform(name="t"), started_at=utcnow(), status="ok")
        ss.add(run)
        source = lm.SourceCode(id="0" * 64, code="import math\nx = 1")
        cell = lm.Cell(run=run, seq=0, source_code=source, started_at=utcnow(), status="ok")
        ss.add(cell)
        ss.flush()
        imp = lm.ImportNode(run_id=run.id, cell=cell, name="math", module="math", position=0)
        define = lm.DefinitionNode(run_id=run.id, cell=cell, name="x", position=1)
        ss.add([imp, define])
        for version in range(3):
            ss.add(lm.Artifact(name="model", version=version, run=run, node=define))
        ss.add(lm.Artifact(name="other", version=0, run=run))
        for name, version in [("numpy", "1.0"), ("pandas", "2.0"), ("numpy", "2.0")]:
            ss.add(lm.Library(run=run, name=name, version=version))
        blob = Blob(id="a" * 64, size=3, data=b"abc")
        ss.add(lm.NodeValue(node=define, run_id=run.id, format="json", size=3, blob=blob))
        ss.flush()
        ids = {"run": run.id, "import": imp.id, "define": define.id}
    return ids


def test_artifact_versions(populated: dict[str, str]) -> None:
    db = lm.LineageDB()
    try:
        assert db.get_latest_artifact_version("model") == 2
        assert db.get_latest_artifact_version("unknown") == -1
        assert db.get_artifact_by_name("model").version == 2
        assert db.get_artifact_by_name("model", version=1).version == 1
        assert db.artifact_in_db(populated["define"], populated["run"], "model", 0)
        assert not db.artifact_in_db(populated["define"], populated["run"], "model", 7)
        with pytest.raises(lm.RecordNotFoundError, match="'unknown'"):
            db.get_artifact_by_name("unknown")
        with pytest.raises(lm.RecordNotFoundError, match="version 9"):
            db.get_artifact_by_name("model", version=9)
        with pytest.raises(lm.InvalidQueryError):
            db.get_artifact_by_name("model", version="1")  # type: ignore[arg-type]
        assert [a.name for a in db.get_all_artifacts()].count("model") == 3
        assert len(db.get_artifacts_for_run(populated["run"])) == 4
    finally:
        db.close()


def test_libraries_distinct_by_name_and_version(populated: dict[str, str]) -> None:
    with lm.LineageDB() as db:
        libs = [(lib.name, lib.version) for lib in db.get_libraries_for_run(populated["run"])]
    assert sorted(libs) == [("numpy", "1.0"), ("numpy", "2.0"), ("pandas", "2.0")]


def test_nodes_come_back_as_their_subclass(populated: dict[str, str]) -> None:
    with lm.LineageDB() as db:
        assert type(db.get_node_by_id(populated["import"])) is lm.ImportNode
        assert type(db.get_node_by_id(populated["define"])) is lm.DefinitionNode
        kinds = [type(n).__name__ for n in db.get_nodes_for_run(populated["run"])]
        assert sorted(kinds) == ["DefinitionNode", "ImportNode"]
        with pytest.raises(lm.RecordNotFoundError):
            db.get_node_by_id("nope")


def test_node_values_and_source_code(populated: dict[str, str]) -> None:
    with lm.LineageDB() as db:
        assert db.node_value_in_db(populated["define"], populated["run"])
        assert not db.node_value_in_db(populated["import"], populated["run"])
        assert db.get_node_value_path(populated["define"], populated["run"]) == "db:" + "a" * 64
        assert db.get_node_value_path(populated["import"], populated["run"]) is None
        record = db.write_source_code("y = 2")
        again = db.write_source_code(lm.SourceCode(code="y = 2"))
        db.commit()
        assert record is again
        assert record.id == hashlib.sha256(b"y = 2").hexdigest()
    assert lm.select(lm.SourceCode, id=record.id).one().code == "y = 2"
