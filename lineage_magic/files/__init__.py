"""File lineage: which files each cell read and wrote, by content, and runs linked through them.

The watcher (an audit hook) notes the files a recorded cell opens; a worker
thread hashes them after the cell; the recorder's writer stores each distinct
content of a path as a versioned ``Artifact(kind='file')`` linked to the run's
inputs or outputs. The queries answer who wrote and read each version of a
path, which runs a run depends on through files, and what changed between a
run and its replay.

Names are imported on first use (PEP 562): the recorder imports the watcher
at ``%load_ext`` without the ORM that the queries need.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    **{name: "lineage" for name in (
        "Access", "FileVersion", "RunFile", "changed_inputs", "external_inputs", "file_history",
        "run_downstream", "run_files", "run_upstream",
    )},
    **{name: "watcher" for name in ("MAX_HASH_BYTES", "FileWatcher", "hook_errors")},
    **{name: "writes" for name in ("FILE_KIND", "FileAccess", "artifact_name", "write_file_accesses")},
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
