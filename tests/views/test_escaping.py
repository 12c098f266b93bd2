"""Recorded text is markup-inert in every HTML and SVG the views produce."""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Any

import pytest
from lineage_builder import make_cell, node

import lineage_magic.views as views
from lineage_magic.store.engine import Store
from lineage_magic.store.models import (
    Artifact,
    DefinitionNode,
    Edge,
    Library,
    LookupNode,
    Run,
    Transform,
    User,
    utcnow,
)
from lineage_magic.views.html import record_html

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
PAYLOADS = (SCRIPT, IMG)


def _assert_inert(markup: str, *, escaped: tuple[str, ...] = PAYLOADS) -> None:
    for payload in PAYLOADS:
        assert payload not in markup
    assert "<script" not in markup.lower()
    assert "<img" not in markup.lower()
    assert "onerror=alert(1)>" not in markup
    for payload in escaped:
        assert html.escape(payload, quote=True) in markup


def _html_widgets(widget: Any) -> list[str]:
    """The values of every HTML widget below ``widget``."""
    import ipywidgets as w

    found = [widget.value] if isinstance(widget, (w.HTML, w.HTMLMath)) else []
    for child in getattr(widget, "children", ()):
        found += _html_widgets(child)
    return found


@pytest.fixture
def hostile(store: Store) -> dict[str, Any]:
    """Records whose every recorded string is markup."""
    start = utcnow() - timedelta(minutes=5)
    with store.session(write=True) as s:
        run = Run(name=IMG, transform=Transform(name=SCRIPT, title=IMG, path=SCRIPT),
                  started_at=start, finished_at=start + timedelta(seconds=3), status=SCRIPT[:16],
                  host=IMG, created_by=User(handle=SCRIPT))
        s.add(run)
        s.flush()
        code = f"x = '{SCRIPT}'  # {IMG}\n{SCRIPT}"
        first = make_cell(s, run, 1, code, error_type=IMG, error_message=f"{SCRIPT} {IMG}",
                          outputs=[{"output_type": "stream", "text": SCRIPT}])
        second = make_cell(s, run, 2, f"print({SCRIPT!r})")
        s.flush()
        defined = node(s, DefinitionNode, first, SCRIPT, 0, value_repr=IMG, value_type=SCRIPT)
        used = node(s, LookupNode, second, SCRIPT, 0)
        s.flush()
        s.add(Edge(source_id=defined.id, target_id=used.id, run_id=run.id))
        second.parents.append(first)
        saved = Artifact(kind="value", name=SCRIPT, run=run, cell=first, node=defined)
        written = Artifact(kind="file", name=IMG, path=f"/tmp/{IMG}", run=run, cell=second)
        run.outputs.extend([saved, written])
        s.add(Library(run=run, name=SCRIPT, version=IMG[:60]))
        s.commit()
        ids = {"run": run.id, "first": first.id, "second": second.id, "defined": defined.id,
               "saved": saved.id, "written": written.id}
    return {"store": store, **ids}


def test_record_views_escape_everything(hostile: dict[str, Any]) -> None:
    store = hostile["store"]
    for kind in ("run", "first", "defined", "saved", "written"):
        view = views.show(hostile[kind], store=store)
        _assert_inert(view.html(), escaped=(SCRIPT,) if kind == "saved" else PAYLOADS)
        for markup in _html_widgets(view.widget):
            _assert_inert(markup, escaped=())
        assert view._repr_mimebundle_()["text/html"] == view.html()


def test_cell_source_and_errors_are_escaped(hostile: dict[str, Any]) -> None:
    view = views.show(hostile["first"], store=hostile["store"])
    page = view.html()
    _assert_inert(page)
    # The highlighter splits source into tokens; each token is escaped on its own.
    assert "&lt;" in page and "&#x27;" in page
    assert html.escape(f"{SCRIPT} {IMG}", quote=True) in page


def test_runs_browser_escapes(hostile: dict[str, Any]) -> None:
    browser = views.browse(store=hostile["store"])
    _assert_inert(browser.html())
    for markup in _html_widgets(browser.widget):
        _assert_inert(markup, escaped=())
    browser.search_box.value = SCRIPT
    _assert_inert(browser.html())
    assert browser.page.total == 1


def test_graph_svg_and_html_escape(hostile: dict[str, Any]) -> None:
    store = hostile["store"]
    for target in (SCRIPT, hostile["run"], hostile["first"], f"artifact:{hostile['saved']}"):
        view = views.graph(target, store=store, depth=3)
        _assert_inert(view.svg(), escaped=(SCRIPT,))
        _assert_inert(view.html(), escaped=(SCRIPT,))
        for markup in _html_widgets(view.widget):
            _assert_inert(markup, escaped=())
    assert html.escape(IMG, quote=True) in views.graph(hostile["run"], store=store).svg()


def test_record_html_of_models_escapes(hostile: dict[str, Any]) -> None:
    store = hostile["store"]
    from lineage_magic.store.models import Artifact as A
    from lineage_magic.store.models import Cell, Node

    with store.session() as s:
        run = s.get(Run, hostile["run"])
        cell = s.get(Cell, hostile["first"])
        cell.source_code  # noqa: B018  (loaded, so the source is shown)
        found = [run, run.transform, cell, s.get(Node, hostile["defined"]),
                 s.get(A, hostile["written"])]
    for record in found:
        _assert_inert(record_html(record), escaped=())
    assert html.escape(IMG, quote=True) in record_html(found[0])
    assert html.escape(SCRIPT, quote=True) in record_html(found[1])
    assert "&lt;" in record_html(found[2])
    assert html.escape(f"{SCRIPT} {IMG}", quote=True) in record_html(found[2])
    # A detached record with unloaded attributes renders without touching the database.
    assert "Run" in record_html(Run(name=SCRIPT))
