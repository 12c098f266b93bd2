"""lineage_magic: lineage for every Jupyter/IPython cell.

``%load_ext lineage_magic`` records every cell execution into a SQLAlchemy
database; this module is the Python API over that store.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from ._version import __version__

# A library's log records go where the application sends them; without this,
# Python's last-resort handler would print our warnings into the user's cells.
logging.getLogger(__name__).addHandler(logging.NullHandler())

# Public name -> module that defines it. Imported on first use (PEP 562), so
# ``%load_ext lineage_magic`` and the command line start without SQLAlchemy.
_EXPORTS: dict[str, str] = {
    "connect": "context",
    "add": "session", "delete": "session", "select": "session", "Session": "session", "Query": "session",
    "LineageDB": "lineagedb",
    "current_run": "lineage", "upstream": "lineage", "downstream": "lineage",
    "save": "artifacts", "load": "artifacts", "artifacts": "artifacts",
    "slice": "slices", "stale": "slices",
    "show": "views", "browse": "views", "graph": "views",
    "export_notebook": "replay", "replay": "replay", "diff": "replay", "run_notebook": "replay",
    "ReplayReport": "replay", "RunDiff": "replay",
    "file_history": "files", "run_files": "files", "changed_inputs": "files",
    **{name: "store.models" for name in (
        "User", "Transform", "Run", "Cell", "SourceCode", "Node", "ImportNode", "DefinitionNode",
        "LookupNode", "MutationNode", "CallNode", "GlobalNode", "Edge", "NodeValue", "Blob",
        "Artifact", "Library",
    )},
    **{name: "exceptions" for name in (
        "LineageError", "InvalidURLError", "StoreUnavailableError", "MigrationError",
        "InvalidQueryError", "RecordNotFoundError", "NoActiveRunError", "ValueStoreError",
        "ValueTooLargeError", "UnserializableValueError", "PickleRefusedError",
    )},
}

__all__ = [
    "__version__",
    # store and session API
    "connect",
    "add",
    "delete",
    "select",
    "Session",
    "Query",
    "LineageDB",
    # recording
    "load_ipython_extension",
    "unload_ipython_extension",
    "current_run",
    "upstream",
    "downstream",
    # artifacts and slices
    "save",
    "load",
    "artifacts",
    "slice",
    "stale",
    # views
    "show",
    "browse",
    "graph",
    # replay
    "export_notebook",
    "replay",
    "diff",
    "run_notebook",
    "ReplayReport",
    "RunDiff",
    # file lineage
    "file_history",
    "run_files",
    "changed_inputs",
    # records
    "User",
    "Transform",
    "Run",
    "Cell",
    "SourceCode",
    "Node",
    "ImportNode",
    "DefinitionNode",
    "LookupNode",
    "MutationNode",
    "CallNode",
    "GlobalNode",
    "Edge",
    "NodeValue",
    "Blob",
    "Artifact",
    "Library",
    # errors
    "LineageError",
    "InvalidURLError",
    "StoreUnavailableError",
    "MigrationError",
    "InvalidQueryError",
    "RecordNotFoundError",
    "NoActiveRunError",
    "ValueStoreError",
    "ValueTooLargeError",
    "UnserializableValueError",
    "PickleRefusedError",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lineage_magic' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from .context import connect
    from .exceptions import (
        InvalidQueryError, InvalidURLError, LineageError, MigrationError, NoActiveRunError,
        PickleRefusedError, RecordNotFoundError, StoreUnavailableError, UnserializableValueError,
        ValueStoreError, ValueTooLargeError,
    )
    from .artifacts import artifacts, load, save
    from .files import changed_inputs, file_history, run_files
    from .lineage import current_run, downstream, upstream
    from .replay import ReplayReport, RunDiff, diff, export_notebook, replay, run_notebook
    from .slices import slice, stale
    from .views import browse, graph, show
    from .lineagedb import LineageDB
    from .session import Query, Session, add, delete, select
    from .store.models import (
        Artifact, Blob, CallNode, Cell, DefinitionNode, Edge, GlobalNode, ImportNode, Library,
        LookupNode, MutationNode, Node, NodeValue, Run, SourceCode, Transform, User,
    )


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext lineage_magic``: record every cell of this shell."""
    from .recorder import load

    load(ipython)


def unload_ipython_extension(ipython: object) -> None:
    """``%unload_ext lineage_magic``: finish the run and remove every hook and magic."""
    from .recorder import unload

    unload(ipython)
