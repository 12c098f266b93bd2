"""The record view: a record's fields and related records, each one click away.

The view holds plain data (:mod:`.data`) and builds its ipywidgets only when
displayed in a kernel; its static HTML needs no widgets at all.
"""

from __future__ import annotations

from typing import Any

from ..store.engine import Store
from .data import Page, RecordData, load_page, load_record
from .html import esc, fields_table, highlight_source, record_data_html, wrap

__all__ = ["RecordView", "in_kernel", "mimebundle"]

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def in_kernel() -> bool:
    """True inside a Jupyter kernel, where a front end can render widgets."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def mimebundle(text: str, html: str, widget: Any | None) -> dict[str, Any]:
    """text/plain and text/html, plus the widget's view when one is given."""
    bundle: dict[str, Any] = {"text/plain": text, "text/html": html}
    if widget is not None:
        view = widget._repr_mimebundle_()
        if view and WIDGET_MIME in view:
            bundle[WIDGET_MIME] = view[WIDGET_MIME]
    return bundle


class RecordView:
    """Navigable view of one record, with a history for Back and paged groups."""

    def __init__(self, store: Store, kind: str, id: str, *, page_size: int = 50) -> None:  # noqa: A002
        self._store = store
        self.page_size = page_size
        self._history: list[tuple[str, str]] = []
        self.record: RecordData = load_record(store, kind, id, page_size=page_size)
        self.pages: dict[str, Page] = {p.group: p for p in self.record.groups}
        self._root: Any = None
        # Rebuilt on every navigation; kept so tests and callers can reach them.
        self.back_button: Any = None
        self.title: Any = None
        self.buttons: dict[str, list[Any]] = {}
        self.pagers: dict[str, tuple[Any, Any]] = {}

    # -- navigation ---------------------------------------------------------

    @property
    def current(self) -> tuple[str, str]:
        """(kind, id) of the record shown."""
        return self.record.kind, self.record.id

    @property
    def history(self) -> tuple[tuple[str, str], ...]:
        """The records Back returns to, most recent last."""
        return tuple(self._history)

    def open(self, kind: str, id: str) -> None:  # noqa: A002
        """Show another record, remembering this one for Back."""
        record = load_record(self._store, kind, id, page_size=self.page_size)
        self._history.append(self.current)
        self._set(record)

    def back(self) -> bool:
        """Return to the previous record; False when there is none."""
        if not self._history:
            return False
        kind, id = self._history.pop()  # noqa: A001
        self._set(load_record(self._store, kind, id, page_size=self.page_size))
        return True

    def page(self, group: str, offset: int) -> Page:
        """Show the page of ``group`` starting at ``offset``."""
        kind, id = self.current  # noqa: A001
        page = load_page(self._store, kind, id, group, offset=offset, limit=self.page_size)
        self.pages[group] = page
        self._refresh()
        return page

    def next_page(self, group: str) -> Page:
        """Show the next page of ``group`` (stays on the last page)."""
        page = self.pages[group]
        return self.page(group, page.offset + page.limit) if page.has_next else page

    def previous_page(self, group: str) -> Page:
        """Show the previous page of ``group`` (stays on the first page)."""
        page = self.pages[group]
        return self.page(group, max(0, page.offset - page.limit)) if page.has_previous else page

    def _set(self, record: RecordData) -> None:
        self.record = record
        self.pages = {p.group: p for p in record.groups}
        self._refresh()

    # -- static form ----------------------------------------------------------

    def html(self) -> str:
        """The current record as static HTML (the pages currently shown)."""
        return record_data_html(self.record, list(self.pages.values()))

    def __repr__(self) -> str:
        lines = [f"{self.record.title} ({self.record.kind} {self.record.id})"]
        lines += [f"  {k}: {v}" for k, v in self.record.fields if v is not None]
        for page in self.pages.values():
            if page.total:
                lines.append(f"  {page.group}: {page.total}")
        return "\n".join(lines)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return mimebundle(repr(self), self.html(), self.widget if in_kernel() else None)

    # -- interactive form -------------------------------------------------------

    @property
    def widget(self) -> Any:
        """The ipywidgets form, built on first use."""
        if self._root is None:
            import ipywidgets as w

            self._root = w.VBox(layout=w.Layout(width="100%"))
            self._refresh()
        return self._root

    def _refresh(self) -> None:
        if self._root is None:
            return
        import ipywidgets as w

        record = self.record
        self.back_button = w.Button(
            description="◀ Back", disabled=not self._history,
            tooltip="Return to the previous record", layout=w.Layout(width="auto"),
        )
        self.back_button.on_click(lambda _b: self.back())
        self.title = w.HTML(
            f'<b><span style="color:#6b7280">{esc(record.kind)}</span> {esc(record.title)}</b>'
        )
        children: list[Any] = [w.HBox([self.back_button, self.title])]
        children.append(w.HTML(wrap(fields_table(record.fields))))
        if record.source is not None:
            children.append(w.HTML(wrap(highlight_source(record.source))))
        self.buttons = {}
        self.pagers = {}
        for page in self.pages.values():
            if page.total:
                children.append(self._group(w, page))
        self._root.children = tuple(children)

    def _group(self, w: Any, page: Page) -> Any:
        buttons = []
        for ref in page.items:
            button = w.Button(
                description=ref.label, tooltip=f"{ref.kind} {ref.id}",
                layout=w.Layout(width="auto", max_width="100%"),
            )
            button.on_click(lambda _b, kind=ref.kind, id=ref.id: self.open(kind, id))
            buttons.append(button)
        self.buttons[page.group] = buttons
        parts: list[Any] = [w.HTML(f"<b>{esc(page.group)}</b> ({page.total})")]
        parts.append(w.VBox(buttons))
        if page.total > page.limit or page.offset:
            previous = w.Button(description="◀ Previous", disabled=not page.has_previous,
                                layout=w.Layout(width="auto"))
            following = w.Button(description="Next ▶", disabled=not page.has_next,
                                 layout=w.Layout(width="auto"))
            previous.on_click(lambda _b, g=page.group: self.previous_page(g))
            following.on_click(lambda _b, g=page.group: self.next_page(g))
            self.pagers[page.group] = (previous, following)
            first = page.offset + 1 if page.items else 0
            label = w.Label(f"{first}–{page.offset + len(page.items)} of {page.total}")
            parts.append(w.HBox([previous, label, following]))
        return w.VBox(parts)
