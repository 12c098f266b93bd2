"""The seed's Session semantics (lamindb "Loading relationships: Session")."""

from __future__ import annotations

import pytest
from sqlalchemy.orm.exc import DetachedInstanceError

import lineage_magic as lm


@pytest.fixture
def added_run(connected: str) -> lm.Run:
    transform = lm.Transform(name="Transform A")
    run = lm.Run(name="Solve Problem X", transform=transform)
    assert run.transform is transform
    return lm.add(run)


def test_add_cascades_to_the_new_transform(added_run: lm.Run) -> None:
    assert added_run.id and len(added_run.id) == 20
    transforms = lm.select(lm.Transform, name="Transform A").all()
    assert [t.id for t in transforms] == [added_run.transform_id]
    assert repr(added_run).startswith("Run(id=")
    assert "name='Solve Problem X'" in repr(added_run)
    assert f"transform_id='{added_run.transform_id}'" in repr(added_run)


def test_select_returns_detached_records_with_eager_transform(added_run: lm.Run) -> None:
    run_queried = lm.select(lm.Run, name="Solve Problem X").first()
    assert run_queried.id == added_run.id
    assert run_queried.transform.name == "Transform A"
    assert not repr(run_queried).startswith("[session open]")
    with pytest.raises(DetachedInstanceError):
        run_queried.inputs


def test_session_loads_lazily_until_closed(added_run: lm.Run) -> None:
    ss = lm.Session()
    run_session = ss.select(lm.Run, name="Solve Problem X").first()
    assert repr(run_session).startswith("[session open] Run(id=")
    assert run_session.inputs == []
    ss.close()
    assert not repr(run_session).startswith("[session open]")
    assert run_session.inputs == []
    with pytest.raises(DetachedInstanceError):
        run_session.outputs


def test_session_context_manager_keeps_what_was_loaded(added_run: lm.Run) -> None:
    with lm.Session() as ss:
        run_session2 = ss.select(lm.Run, name="Solve Problem X").first()
        assert run_session2.outputs == []
    assert ss.closed
    assert run_session2.outputs == []
    with pytest.raises(DetachedInstanceError):
        run_session2.inputs


def test_context_manager_commits_on_success_and_rolls_back_on_error(connected: str) -> None:
    with lm.Session() as ss:
        ss.add(lm.Transform(name="kept"))
    with pytest.raises(RuntimeError), lm.Session() as ss:
        ss.add(lm.Transform(name="discarded"))
        ss.flush()
        raise RuntimeError("boom")
    names = [t.name for t in lm.select(lm.Transform).all()]
    assert names == ["kept"]


def test_explicit_commit_rollback_and_savepoint(connected: str) -> None:
    ss = lm.Session()
    ss.add(lm.Transform(name="outer"))
    with ss.begin_nested():
        ss.add(lm.Transform(name="inner"))
    nested = ss.begin_nested()
    ss.add(lm.Transform(name="undone"))
    nested.rollback()
    ss.commit()
    ss.add(lm.Transform(name="never"))
    ss.rollback()
    ss.close()
    assert sorted(t.name for t in lm.select(lm.Transform).all()) == ["inner", "outer"]
    with pytest.raises(lm.LineageError, match="closed"):
        ss.select(lm.Run)


def test_delete_removes_record(added_run: lm.Run) -> None:
    lm.delete(added_run)
    assert lm.select(lm.Run).all() == []
    assert len(lm.select(lm.Transform).all()) == 1


def test_one_first_all_and_filters_by_relationship(added_run: lm.Run) -> None:
    transform = lm.select(lm.Transform).one()
    assert lm.select(lm.Run, transform=transform).one().id == added_run.id
    assert lm.select("Run", name="nothing").first() is None
    with pytest.raises(lm.InvalidQueryError, match="exactly one"):
        lm.select(lm.Run, name="nothing").one()


def test_unknown_model_and_field_name_the_valid_ones(connected: str) -> None:
    with pytest.raises(lm.InvalidQueryError, match="Run, SourceCode"):
        lm.select("Runn")
    with pytest.raises(lm.InvalidQueryError, match="valid fields: .*name"):
        lm.select(lm.Run, nmae="x")
    with pytest.raises(lm.InvalidQueryError, match="Transform record"):
        lm.select(lm.Run, transform="abc")
    with pytest.raises(lm.InvalidQueryError, match="expected a lineage record"):
        lm.add("not a record")  # type: ignore[arg-type]
    assert lm.select(lm.Run).all() == []


def test_record_of_open_session_is_refused_by_module_add(added_run: lm.Run) -> None:
    with lm.Session() as ss:
        run = ss.select(lm.Run).one()
        with pytest.raises(lm.LineageError, match="open Session"):
            lm.add(run)
