"""File lineage: which files each cell read and wrote, by content, and runs linked through them.

The watcher (an audit hook) notes the files a recorded cell opens; a worker
thread hashes them after the cell; the recorder's writer stores each distinct
content of a path as a versioned ``Artifact(kind='file')`` linked to the run's
inputs or outputs. The queries answer who wrote and read each version of a
path, which runs a run depends on through files, and what changed between a
run and its replay.
"""

from .lineage import (
    Access,
    FileVersion,
    RunFile,
    changed_inputs,
    external_inputs,
    file_history,
    run_downstream,
    run_files,
    run_upstream,
)
from .watcher import MAX_HASH_BYTES, FileWatcher, hook_errors
from .writes import FILE_KIND, FileAccess, artifact_name, write_file_accesses

__all__ = [
    "FILE_KIND",
    "MAX_HASH_BYTES",
    "Access",
    "FileAccess",
    "FileVersion",
    "FileWatcher",
    "RunFile",
    "artifact_name",
    "changed_inputs",
    "external_inputs",
    "file_history",
    "hook_errors",
    "run_downstream",
    "run_files",
    "run_upstream",
    "write_file_accesses",
]
