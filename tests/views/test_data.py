"""The views' data layer: plain records, related groups, paging and counts."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import timedelta

import pytest
from lineage_builder import Lineage
from sqlalchemy import event, insert

from lineage_magic.exceptions import InvalidQueryError, RecordNotFoundError
from lineage_magic.store.engine import Store
from lineage_magic.store.models import Artifact, Cell, Run, SourceCode, Transform, utcnow
from lineage_magic.views import data


def _refs(page: data.Page) -> list[tuple[str, str]]:
    return [(ref.kind, ref.id) for ref in page.items]


def _plain(value: object) -> None:
    """Fail on anything that is not plain data (str, int, float, None, tuples, dataclasses)."""
    if dataclasses.is_dataclass(value):
        for f in dataclasses.fields(value):
            _plain(getattr(value, f.name))
    elif isinstance(value, tuple):
        for item in value:
            _plain(item)
    else:
        assert value is None or isinstance(value, (str, int, float)), repr(value)


def test_run_groups_on_every_backend(any_lineage: Lineage) -> None:
    lin = any_lineage
    record = data.load_record(lin.store, "run", lin["analysis"])
    _plain(record)
    assert record.field("name") == "main"
    assert record.field("transform") == "analysis"
    assert record.field("cells") == 5
    assert record.field("duration_s") == 60.0
    cells = record.group("cells")
    assert _refs(cells) == [("cell", lin[f"c{i}"]) for i in range(1, 6)]
    assert cells.total == 5
    assert cells.items[1].label == "[2] ok · df = pd.read_csv('data.csv')"
    assert _refs(record.group("transform")) == [("transform", lin["t_analysis"])]
    assert _refs(record.group("inputs")) == [("artifact", lin["data_csv"])]
    assert _refs(record.group("outputs")) == [("artifact", lin["saved"])]
    assert [r.label for r in record.group("libraries").items] == ["numpy 1.26", "pandas 2.0"]
    assert _refs(record.group("replays")) == [("run", lin["report"])]
    assert record.group("replay of").total == 0
    assert _refs(record.group("created by")) == [("user", lin["user"])]


def test_cell_fields_source_and_links(lineage: Lineage) -> None:
    record = data.load_record(lineage.store, "cell", lineage["c5"])
    assert record.source == "print(model.score)"
    assert record.field("status") == "error"
    assert record.field("error_type") == "AttributeError"
    assert record.field("error_message") == "no score"
    assert record.field("duration_ms") == 7.5
    assert _refs(record.group("parents")) == [("cell", lineage["c4"])]
    assert record.group("children").total == 0
    assert _refs(record.group("run")) == [("run", lineage["analysis"])]
    assert _refs(record.group("nodes")) == [("node", lineage["model_use"])]
    c4 = data.load_record(lineage.store, "cell", lineage["c4"])
    assert _refs(c4.group("children")) == [("cell", lineage["c5"])]
    assert _refs(c4.group("artifacts")) == [("artifact", lineage["saved"])]


def test_artifact_producers_consumers_and_versions(lineage: Lineage) -> None:
    store = lineage.store
    with store.session(write=True) as s:
        s.add(Artifact(kind="value", name="model", version=1))
        s.commit()
    record = data.load_record(store, "artifact", lineage["saved"])
    assert record.field("value_repr") == "Model()"
    assert record.field("value_type") == "Model"
    assert _refs(record.group("produced by cell")) == [("cell", lineage["c4"])]
    assert _refs(record.group("produced by run")) == [("run", lineage["analysis"])]
    assert _refs(record.group("consumers")) == [("run", lineage["report"])]
    assert _refs(record.group("node")) == [("node", lineage["model"])]
    versions = record.group("other versions")
    assert [r.label for r in versions.items] == ["model v1"]
    csv = data.load_record(store, "artifact", lineage["data_csv"])
    assert _refs(csv.group("produced by run")) == [("run", lineage["prepare"])]
    assert _refs(csv.group("consumers")) == [("run", lineage["analysis"])]
    assert csv.title == "Artifact /tmp/data.csv v0"


def test_transform_node_user_and_library(lineage: Lineage) -> None:
    store = lineage.store
    transform = data.load_record(store, "transform", lineage["t_analysis"])
    assert _refs(transform.group("runs")) == [("run", lineage["analysis"])]
    df = data.load_record(store, "node", lineage["df"])
    assert df.field("kind") == "definition"
    assert _refs(df.group("downstream")) == [("node", lineage["df_use"])]
    assert _refs(df.group("cell")) == [("cell", lineage["c2"])]
    use = data.load_record(store, "node", lineage["df_use"])
    assert _refs(use.group("upstream")) == [("node", lineage["df"])]
    user = data.load_record(store, "user", lineage["user"])
    assert user.group("runs").total == 3
    assert user.group("transforms").total == 1
    library_id = data.load_record(store, "run", lineage["analysis"]).group("libraries").items[0].id
    library = data.load_record(store, "library", library_id)
    assert _refs(library.group("run")) == [("run", lineage["analysis"])]


def test_resolve_ids_prefixes_and_artifact_names(lineage: Lineage) -> None:
    store = lineage.store
    assert data.resolve(store, lineage["c3"]) == ("cell", lineage["c3"])
    assert data.resolve(store, lineage["analysis"]) == ("run", lineage["analysis"])
    assert data.resolve(store, f"node:{lineage['df']}") == ("node", lineage["df"])
    assert data.resolve(store, "model") == ("artifact", lineage["saved"])
    assert data.resolve(store, "model@0") == ("artifact", lineage["saved"])
    with pytest.raises(RecordNotFoundError):
        data.resolve(store, "nothing-like-this")
    with pytest.raises(RecordNotFoundError):
        data.resolve(store, "model@7")
    with pytest.raises(InvalidQueryError):
        data.load_record(store, "planet", "x")
    with pytest.raises(InvalidQueryError):
        data.load_page(store, "run", lineage["analysis"], "friends")


def _bulk_run(store: Store, n: int) -> str:
    code = "x = x + 1"
    digest = hashlib.sha256(code.encode()).hexdigest()
    start = utcnow()
    with store.session(write=True) as s:
        run = Run(name="big", transform=Transform(name="big notebook"), started_at=start,
                  status="ok")
        s.add(run)
        s.add(SourceCode(id=digest, code=code))
        s.flush()
        s.execute(insert(Cell), [
            {"id": f"c{i:015d}", "run_id": run.id, "seq": i, "source_code_id": digest,
             "started_at": start + timedelta(milliseconds=i), "status": "ok"}
            for i in range(n)
        ])
        s.commit()
        return run.id


def test_five_thousand_cells_page_with_limit_and_offset(store: Store) -> None:
    run_id = _bulk_run(store, 5000)
    statements: list[str] = []

    def remember(conn, cursor, statement, *args) -> None:  # noqa: ANN001, ANN002
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", remember)
    try:
        record = data.load_record(store, "run", run_id)
        cells = record.group("cells")
        assert len(cells.items) == 50
        assert cells.total == 5000
        assert record.field("cells") == 5000
        assert cells.has_next and not cells.has_previous
        assert [r.label for r in cells.items[:2]] == ["[0] ok · x = x + 1", "[1] ok · x = x + 1"]
        last = data.load_page(store, "run", run_id, "cells", offset=4990, limit=50)
        assert len(last.items) == 10
        assert last.items[-1].id == f"c{4999:015d}"
        assert not last.has_next and last.has_previous
    finally:
        event.remove(store.engine, "before_cursor_execute", remember)
    cell_queries = [s for s in statements if "FROM cells" in s and "LIMIT" in s]
    assert cell_queries, statements


def test_list_runs_search_status_and_paging(lineage: Lineage) -> None:
    store = lineage.store
    page = data.list_runs(store)
    _plain(page)
    assert page.total == 3
    assert [r.transform for r in page.rows] == ["report", "analysis", "prepare"]
    analysis = page.rows[1]
    assert (analysis.cells, analysis.user, analysis.duration_s) == (5, "ada", 60.0)
    assert page.statuses == ("error", "ok")
    assert [r.id for r in data.list_runs(store, search="ANALY").rows] == [lineage["analysis"]]
    assert [r.id for r in data.list_runs(store, search="repo").rows] == [lineage["report"]]
    assert [r.id for r in data.list_runs(store, search=lineage["prepare"][:10]).rows] == [
        lineage["prepare"]
    ]
    assert data.list_runs(store, status="error").total == 1
    first = data.list_runs(store, limit=2)
    second = data.list_runs(store, limit=2, offset=2)
    assert (len(first.rows), len(second.rows)) == (2, 1)
    assert (first.has_next, second.has_next) == (True, False)


def test_search_wildcards_are_literal(any_store: Store) -> None:
    store = any_store
    with store.session(write=True) as s:
        s.add_all([Run(name="100% done"), Run(name="1000 done"), Run(name="a_b"), Run(name="axb")])
        s.commit()
    assert [r.name for r in data.list_runs(store, search="100%").rows] == ["100% done"]
    assert [r.name for r in data.list_runs(store, search="a_b").rows] == ["a_b"]
    assert data.list_runs(store, search="' OR 1=1 --").total == 0
    assert data.like_pattern("a%b_c\\") == "%a\\%b\\_c\\\\%"


def test_search_matches_transform_name_and_id_in_any_case(any_store: Store) -> None:
    store = any_store
    with store.session(write=True) as s:
        runs = [Run(id="AbCdEfGh" + "x" * 12, transform=Transform(name="Churn_Model.ipynb")),
                Run(id="zzzzzzzz" + "y" * 12, name="Étude back\\slash", transform=Transform(name="etl.ipynb")),
                Run(id="qqqqqqqq" + "w" * 12)]  # no transform
        s.add_all(runs)
        s.commit()

    def found(text: str) -> list[str]:
        return sorted(r.id for r in data.list_runs(store, search=text).rows)

    assert found("churn_m") == found("CHURN") == [runs[0].id]
    assert found("abcdef") == found("CDEFGHx") == [runs[0].id]  # ids match in any case too
    assert found("back\\slash") == found("BACK\\SLASH") == [runs[1].id]
    assert found("ipynb") == sorted([runs[0].id, runs[1].id])
    assert found("wwww") == [runs[2].id]
    assert data.list_runs(store, search="churn").total == 1
