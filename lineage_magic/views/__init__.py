"""Views of the lineage store: record view, runs browser, lineage graph.

Each view reads plain data from the store in short sessions and renders it
two ways: ipywidgets in a live kernel, static escaped HTML (or SVG)
everywhere else. ipywidgets is imported only when a widget is built.
"""

from __future__ import annotations

from ..context import flush_pending, get_store
from ..exceptions import InvalidQueryError, RecordNotFoundError
from ..store.engine import Store
from ..store.models import Base
from .browse import RunsBrowser
from .data import find_kind, record_id, resolve
from .graph import GraphView
from .html import record_html
from .record import RecordView

__all__ = ["show", "browse", "graph", "record_html", "RecordView", "RunsBrowser", "GraphView"]


def _store(store: Store | None) -> Store:
    # Views read what the recorder queued, so flush it first.
    flush_pending()
    return store or get_store()


def show(record_or_id: Base | str, *, kind: str | None = None, store: Store | None = None,
         page_size: int = 50) -> RecordView:
    """A navigable view of a record (or id, ``kind:id``, artifact ``name[@version]``)."""
    store = _store(store)
    kind, id = resolve(store, record_or_id, kind)  # noqa: A001
    return RecordView(store, kind, id, page_size=page_size)


def browse(*, store: Store | None = None, page_size: int = 20, search: str = "",
           status: str | None = None) -> RunsBrowser:
    """A searchable, paged table of runs."""
    return RunsBrowser(_store(store), page_size=page_size, search=search, status=status)


_GRAPH_KINDS = ("name", "node", "artifact", "cell", "run")


def graph(target: Base | str, *, depth: int = 3, run: Base | str | None = None,
          kind: str | None = None, store: Store | None = None,
          max_per_layer: int = 25) -> GraphView:
    """Upstream and downstream lineage of a variable name, node, artifact, cell or run.

    A string is tried as a record id (or ``kind:id``), then as a variable name
    (in ``run``, else the latest run that recorded it), then as an artifact name.
    """
    store = _store(store)
    run_id = record_id(run) if isinstance(run, Base) else run
    if isinstance(target, Base):
        kind, key = resolve(store, target)
    elif kind is not None or (isinstance(target, str) and target.partition(":")[0] in
                              (*_GRAPH_KINDS, "variable")):
        if kind is None:
            kind, _, target = target.partition(":")
        kind = "name" if kind == "variable" else kind
        key = target if kind == "name" else resolve(store, target, kind)[1]
    elif isinstance(target, str) and target:
        kind, key = _guess(store, target, run_id)
    else:
        raise InvalidQueryError(f"expected a record, id or variable name, got {target!r}")
    if kind not in _GRAPH_KINDS:
        raise InvalidQueryError(f"no lineage graph for a {kind}: use a variable name, node, "
                                "artifact, cell or run")
    return GraphView(store, kind, key, depth=depth, run=run_id, max_per_layer=max_per_layer)


def _guess(store: Store, target: str, run_id: str | None) -> tuple[str, str]:
    from .lineage import has_variable

    try:
        kind = find_kind(store, target)
    except RecordNotFoundError:
        kind = "name" if has_variable(store, target, run_id) else "artifact"
    if kind == "artifact":
        return resolve(store, target, "artifact")
    return kind, target
