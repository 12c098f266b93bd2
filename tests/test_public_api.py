"""The public surface: a change to it must be deliberate."""

from __future__ import annotations

import lineage_magic

EXPECTED = {
    "__version__", "connect", "add", "delete", "select", "Session", "Query", "LineageDB",
    "User", "Transform", "Run", "Cell", "SourceCode", "Node", "ImportNode", "DefinitionNode",
    "LookupNode", "MutationNode", "CallNode", "GlobalNode", "Edge", "NodeValue", "Blob",
    "Artifact", "Library", "LineageError", "InvalidURLError", "StoreUnavailableError",
    "MigrationError", "InvalidQueryError", "RecordNotFoundError", "NoActiveRunError",
    "ValueStoreError", "ValueTooLargeError", "UnserializableValueError", "PickleRefusedError",
    "load_ipython_extension", "unload_ipython_extension", "current_run", "upstream", "downstream",
    "save", "load", "artifacts", "slice", "stale", "show", "browse", "graph",
    "export_notebook", "replay", "diff", "run_notebook", "ReplayReport", "RunDiff",
    "file_history", "run_files", "changed_inputs",
}


def test_public_names_do_not_drift() -> None:
    assert set(lineage_magic.__all__) == EXPECTED
    for name in lineage_magic.__all__:
        assert getattr(lineage_magic, name) is not None
