"""Widget state: navigation, Back, paging, search and the graph's depth control."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from lineage_builder import Lineage, build_lineage
from sqlalchemy import insert

import lineage_magic.views as views
from lineage_magic.exceptions import RecordNotFoundError
from lineage_magic.store.engine import Store
from lineage_magic.store.models import Cell, Run, SourceCode, Transform, utcnow

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def test_record_view_navigates_and_goes_back(lineage: Lineage) -> None:
    view = views.show(lineage["analysis"], store=lineage.store)
    view.widget  # noqa: B018  (build the widgets)
    assert "Run main" in view.title.value
    assert view.back_button.disabled
    labels = [b.description for b in view.buttons["cells"]]
    assert labels[2] == "[3] ok · clean = df.dropna()"

    view.buttons["cells"][2].click()
    assert view.current == ("cell", lineage["c3"])
    assert "Cell [3]" in view.title.value
    assert view.record.source == "clean = df.dropna()"
    assert [b.tooltip for b in view.buttons["parents"]] == [f"cell {lineage['c2']}"]
    assert not view.back_button.disabled

    view.buttons["parents"][0].click()
    assert view.current == ("cell", lineage["c2"])
    view.back_button.click()
    assert view.current == ("cell", lineage["c3"])
    view.back_button.click()
    assert view.current == ("run", lineage["analysis"])
    assert "Run main" in view.title.value
    assert view.back_button.disabled
    assert not view.back()


def test_record_view_pages_long_collections(store: Store) -> None:
    code = "y = 2"
    digest = hashlib.sha256(code.encode()).hexdigest()
    start = utcnow()
    with store.session(write=True) as s:
        run = Run(name="long", transform=Transform(name="t"), started_at=start)
        s.add_all([run, SourceCode(id=digest, code=code)])
        s.flush()
        s.execute(insert(Cell), [
            {"id": f"k{i:015d}", "run_id": run.id, "seq": i, "source_code_id": digest,
             "started_at": start + timedelta(seconds=i), "status": "ok"}
            for i in range(120)
        ])
        s.commit()
        run_id = run.id
    view = views.show(run_id, store=store)
    view.widget  # noqa: B018
    previous, following = view.pagers["cells"]
    assert previous.disabled and not following.disabled
    assert view.buttons["cells"][0].description.startswith("[0]")
    following.click()
    assert view.buttons["cells"][0].description.startswith("[50]")
    assert len(view.buttons["cells"]) == 50
    view.pagers["cells"][1].click()
    assert [b.description[:5] for b in view.buttons["cells"][:1]] == ["[100]"]
    assert len(view.buttons["cells"]) == 20
    assert view.pagers["cells"][1].disabled
    view.pagers["cells"][0].click()
    assert view.buttons["cells"][0].description.startswith("[50]")
    assert "51–100 of 120" in view.html()


def test_record_view_static_form(lineage: Lineage) -> None:
    view = views.show(lineage["c5"], store=lineage.store)
    bundle = view._repr_mimebundle_()
    # Outside a kernel there is no front end: text and HTML only, no widget.
    assert set(bundle) == {"text/plain", "text/html"}
    assert "AttributeError" in bundle["text/html"]
    assert "Cell [5]" in bundle["text/plain"]
    assert view._root is None


def test_show_accepts_records_and_rejects_unknown_ids(lineage: Lineage) -> None:
    with lineage.store.session() as s:
        run = s.get(Run, lineage["report"])
    assert views.show(run, store=lineage.store).current == ("run", lineage["report"])
    assert views.show("model", store=lineage.store).current == ("artifact", lineage["saved"])
    with pytest.raises(RecordNotFoundError):
        views.show("no-such-record", store=lineage.store)


def test_runs_browser_search_status_paging_and_open(store: Store) -> None:
    build_lineage(store)
    with store.session(write=True) as s:
        s.add_all([Run(name=f"extra {i}", status="ok", started_at=utcnow() - timedelta(days=i))
                   for i in range(5)])
        s.commit()
    browser = views.browse(store=store, page_size=3)
    browser.widget  # noqa: B018
    assert browser.page.total == 8
    assert len(browser.row_buttons) == 3
    assert browser.previous_button.disabled and not browser.next_button.disabled
    browser.next_button.click()
    browser.next_button.click()
    assert len(browser.row_buttons) == 2
    assert browser.next_button.disabled
    browser.previous_button.click()
    assert browser.page.offset == 3

    browser.search_box.value = "analy"
    assert [b.description for b in browser.row_buttons] == ["analysis"]
    assert browser.page.offset == 0
    browser.search_box.value = ""
    browser.status_filter.value = "error"
    assert [b.description for b in browser.row_buttons] == ["report"]
    browser.status_filter.value = "any status"
    assert browser.page.total == 8

    browser.search_box.value = "analysis"
    browser.row_buttons[0].click()
    assert browser.record_view is not None
    assert browser.record_view.record.field("transform") == "analysis"
    assert browser._slot.children == (browser.record_view.widget,)


def test_graph_of_a_variable(lineage: Lineage) -> None:
    view = views.graph("clean", store=lineage.store, depth=2)
    graph = view.graph
    assert graph.ids("root") == {lineage["clean"]}
    assert graph.ids("upstream", "cell") == {lineage["c3"]}
    assert graph.ids("upstream", "name") == {lineage["df"]}
    assert graph.ids("downstream", "cell") == {lineage["c4"]}
    assert graph.ids("downstream", "name") == {lineage["model"]}

    deep = views.graph("clean", store=lineage.store, depth=4).graph
    assert deep.ids("upstream") == {lineage[k] for k in ("c3", "df", "c2", "pd")}
    assert deep.ids("downstream") == {lineage[k] for k in ("c4", "model", "c5", "saved")} | {
        lineage["report"]  # depth 4: model -> saved artifact -> report run (reads it)
    }
    assert (f"name:{lineage['df']}", f"cell:{lineage['c3']}") in deep.edges
    assert (f"cell:{lineage['c4']}", f"name:{lineage['model']}") in deep.edges


def test_graph_depth_control_changes_the_node_set(lineage: Lineage) -> None:
    view = views.graph("clean", store=lineage.store, depth=1)
    view.widget  # noqa: B018
    assert view.graph.keys() == {
        f"name:{lineage['clean']}", f"cell:{lineage['c3']}", f"cell:{lineage['c4']}"
    }
    view.depth_slider.value = 3
    assert view.depth == 3
    assert len(view.graph.nodes) == 8  # root, c3, df, c2 | c4, model, c5, saved
    assert f"name:{lineage['pd']}" not in view.graph.keys()
    assert f'data-id="{lineage["df"]}"' in view.picture.value
    view.depth_slider.value = 0
    assert view.graph.keys() == {f"name:{lineage['clean']}"}
    assert [value for _, value in view.picker.options] == [f"name:{lineage['clean']}"]
    view.picker.value = f"name:{lineage['clean']}"
    view.open_button.click()
    assert view.record_view is not None
    assert view.record_view.current == ("node", lineage["clean"])


def test_graph_over_runs_and_files(lineage: Lineage) -> None:
    graph = views.graph(f"run:{lineage['analysis']}", store=lineage.store, depth=2).graph
    # data.csv came from run "prepare", written by its cell p1.
    assert graph.ids("upstream") == {lineage["data_csv"], lineage["prepare"], lineage["p1"]}
    assert graph.ids("upstream", "file") == {lineage["data_csv"]}
    assert graph.ids("downstream") == {lineage["saved"], lineage["report"]}
    artifact = views.graph(lineage["data_csv"], store=lineage.store, depth=1).graph
    assert artifact.ids("upstream") == {lineage["p1"], lineage["prepare"]}
    assert artifact.ids("downstream") == {lineage["analysis"]}
    cell = views.graph(lineage["c2"], store=lineage.store, depth=1).graph
    assert cell.ids("upstream") == {lineage["pd"]}
    assert cell.ids("downstream") == {lineage["df"]}
    by_artifact_name = views.graph("artifact:model", store=lineage.store, depth=1).graph
    assert by_artifact_name.ids("root") == {lineage["saved"]}


def test_graph_static_svg_marks_kinds_and_ids(lineage: Lineage) -> None:
    view = views.graph("clean", store=lineage.store, depth=4)
    bundle = view._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    svg = view.svg()
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    for node in view.graph.nodes:
        assert f'data-kind="{node.kind}" data-id="{node.id}"' in svg
    assert "<ellipse" in svg and "<polygon" in svg and "<rect" in svg
    assert "<script" not in bundle["text/html"] and "http" not in svg.replace(
        "http://www.w3.org/2000/svg", "")


def test_bare_cell_links_join_cells_without_names(store: Store) -> None:
    lineage = build_lineage(store)
    from lineage_magic.store.models import Cell as CellModel

    with store.session(write=True) as s:
        c1 = s.get(CellModel, lineage["c1"])
        c5 = s.get(CellModel, lineage["c5"])
        c5.parents.append(c1)
        s.commit()
    graph = views.graph(lineage["c5"], store=store, depth=1).graph
    # c1 -> c5 only through cell_links; c4's "model" carries the other dependency.
    assert graph.ids("upstream") == {lineage["c1"], lineage["model"]}


def test_mimebundle_carries_the_widget_view_and_html() -> None:
    import ipywidgets as w

    from lineage_magic.views.record import in_kernel, mimebundle

    assert not in_kernel()
    widget = w.VBox()
    bundle = mimebundle("text", "<b>html</b>", widget)
    assert bundle["text/plain"] == "text"
    assert bundle["text/html"] == "<b>html</b>"
    assert bundle[WIDGET_MIME]["model_id"] == widget.model_id
    assert set(mimebundle("t", "h", None)) == {"text/plain", "text/html"}
