"""lineage_magic: lineage for every Jupyter/IPython cell.

``%load_ext lineage_magic`` records every cell execution into a SQLAlchemy
database; this module is the Python API over that store.
"""

from __future__ import annotations

from ._version import __version__
from .context import connect
from .exceptions import (
    InvalidQueryError,
    InvalidURLError,
    LineageError,
    MigrationError,
    NoActiveRunError,
    PickleRefusedError,
    RecordNotFoundError,
    StoreUnavailableError,
    UnserializableValueError,
    ValueStoreError,
    ValueTooLargeError,
)
from .lineage import current_run, downstream, upstream
from .lineagedb import LineageDB
from .session import Query, Session, add, delete, select
from .store.models import (
    Artifact,
    Blob,
    CallNode,
    Cell,
    DefinitionNode,
    Edge,
    GlobalNode,
    ImportNode,
    Library,
    LookupNode,
    MutationNode,
    Node,
    NodeValue,
    Run,
    SourceCode,
    Transform,
    User,
)

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


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext lineage_magic``: record every cell of this shell."""
    from .recorder import load

    load(ipython)


def unload_ipython_extension(ipython: object) -> None:
    """``%unload_ext lineage_magic``: finish the run and remove every hook and magic."""
    from .recorder import unload

    unload(ipython)
