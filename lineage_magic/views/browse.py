"""The runs browser: a searchable, filterable, paged table of runs."""

from __future__ import annotations

from typing import Any

from ..store.engine import Store
from .data import RunsPage, list_runs
from .html import runs_html
from .record import RecordView, in_kernel, mimebundle

__all__ = ["RunsBrowser"]

ANY_STATUS = "any status"
COLUMNS = ("transform", "run", "started", "duration (s)", "status", "cells", "user")


class RunsBrowser:
    """Runs newest first; search by transform name, run name or id; click to open."""

    def __init__(self, store: Store, *, page_size: int = 20, search: str = "",
                 status: str | None = None) -> None:
        self._store = store
        self.page_size = page_size
        self.page: RunsPage = list_runs(store, search=search, status=status, limit=page_size)
        self.record_view: RecordView | None = None
        self._root: Any = None
        self.search_box: Any = None
        self.status_filter: Any = None
        self.previous_button: Any = None
        self.next_button: Any = None
        self.row_buttons: list[Any] = []
        self._table: Any = None
        self._summary: Any = None
        self._slot: Any = None
        self._syncing = False

    def query(self, *, search: str | None = None, status: str | None = None,
              offset: int = 0) -> RunsPage:
        """Reload the table with a new search or status ("" for any); None keeps the current."""
        search = self.page.search if search is None else search
        status = self.page.status if status is None else status
        self.page = list_runs(self._store, search=search, status=status or None,
                              offset=offset, limit=self.page_size)
        self._refresh()
        return self.page

    def next_page(self) -> RunsPage:
        """Show the next page of matches (stays on the last)."""
        if not self.page.has_next:
            return self.page
        return self.query(offset=self.page.offset + self.page_size)

    def previous_page(self) -> RunsPage:
        """Show the previous page of matches (stays on the first)."""
        if not self.page.has_previous:
            return self.page
        return self.query(offset=max(0, self.page.offset - self.page_size))

    def open(self, run_id: str) -> RecordView:
        """Open a run in the record view below the table."""
        if self.record_view is None:
            self.record_view = RecordView(self._store, "run", run_id)
        else:
            self.record_view.open("run", run_id)
        if self._slot is not None:
            self._slot.children = (self.record_view.widget,)
        return self.record_view

    def html(self) -> str:
        """The current page as a static HTML table."""
        return runs_html(self.page)

    def __repr__(self) -> str:
        lines = [f"Runs {self.page.offset + 1 if self.page.rows else 0}–"
                 f"{self.page.offset + len(self.page.rows)} of {self.page.total}"]
        lines += [f"  {r.id}  {r.transform or '-'}  {r.started or '-'}  {r.status or '-'}  "
                  f"{r.cells} cells" for r in self.page.rows]
        return "\n".join(lines)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return mimebundle(repr(self), self.html(), self.widget if in_kernel() else None)

    @property
    def widget(self) -> Any:
        """The ipywidgets form, built on first use."""
        if self._root is None:
            import ipywidgets as w

            self.search_box = w.Text(value=self.page.search,
                                     placeholder="transform, run name or id",
                                     description="search", continuous_update=False)
            self.search_box.observe(lambda c: self.query(search=c["new"]), names="value")
            self.status_filter = w.Dropdown(description="status")
            self._set_status_options()
            self.status_filter.observe(
                lambda c: self._syncing
                or self.query(status="" if c["new"] == ANY_STATUS else c["new"]),
                names="value",
            )
            self.previous_button = w.Button(description="◀ Previous", layout=w.Layout(width="auto"))
            self.next_button = w.Button(description="Next ▶", layout=w.Layout(width="auto"))
            self.previous_button.on_click(lambda _b: self.previous_page())
            self.next_button.on_click(lambda _b: self.next_page())
            self._table = w.GridBox(layout=w.Layout(
                grid_template_columns="repeat(7, auto)", grid_gap="2px 12px"))
            self._summary = w.Label()
            self._slot = w.VBox()
            self._root = w.VBox([
                w.HBox([self.search_box, self.status_filter]),
                self._table,
                w.HBox([self.previous_button, self._summary, self.next_button]),
                self._slot,
            ])
            self._refresh()
        return self._root

    def _set_status_options(self) -> None:
        options = [ANY_STATUS, *self.page.statuses]
        if self.page.status and self.page.status not in options:
            options.append(self.page.status)
        current = self.page.status or ANY_STATUS
        if list(self.status_filter.options) == options and self.status_filter.value == current:
            return
        # Setting options resets the value; that is not the user choosing a filter.
        self._syncing = True
        try:
            self.status_filter.options = options
            self.status_filter.value = current
        finally:
            self._syncing = False

    def _refresh(self) -> None:
        if self._root is None:
            return
        import ipywidgets as w

        self._set_status_options()
        cells: list[Any] = [w.HTML(f"<b>{name}</b>") for name in COLUMNS]
        self.row_buttons = []
        for row in self.page.rows:
            button = w.Button(description=row.transform or "(no transform)",
                              tooltip=f"open run {row.id}", layout=w.Layout(width="auto"))
            button.on_click(lambda _b, rid=row.id: self.open(rid))
            self.row_buttons.append(button)
            values = (row.name or row.id, row.started, row.duration_s, row.status, row.cells,
                      row.user)
            cells.append(button)
            # Labels render text, never markup, so recorded names need no escaping here.
            cells.extend(w.Label("—" if v is None else str(v)) for v in values)
        self._table.children = tuple(cells)
        first = self.page.offset + 1 if self.page.rows else 0
        last = self.page.offset + len(self.page.rows)
        self._summary.value = f"{first}–{last} of {self.page.total}"
        self.previous_button.disabled = not self.page.has_previous
        self.next_button.disabled = not self.page.has_next
